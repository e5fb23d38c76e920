"""What the user sent, for the agent (issue 13): a waiting user's image, document, place and Messenger
attachment reach Live's transcript without their links, and `GET /live/conversations/{id}/media/{line}`
fetches each file from the fake Graph API with the account's token, through the real handlers on moto.

The fake Graph API answers under `/v23.0`, as Meta does, so every request it gets is checked against
Meta's WhatsApp OpenAPI description: `GET /{Version}/{Media-ID}` and the download alike.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_server_process import LocalServerProcess, Phone, next_night

from conftest import ACME_PAGE, BOGOTA, CONFIG, Agent, MetaPlatformUser, WhatsAppUser
from handoff.adapters.graph import GraphClient, GraphError, NotMetaUrl
from handoff.engine.model import YES_PAYLOAD
from handoff.services.media import MEDIA_LIMIT
from handoff_local import payloads
from handoff_local.fake_graph import FakeGraphApi, RecordedRequest
from handoff_local.runtime import HttpResult, LocalRun
from handoff_local.server_process import server_process, wait_until_healthy
from meta_openapi import DOWNLOAD_PATH, MEDIA_PATH, get_request_errors

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary, not UTF-8: it must arrive byte for byte
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
TOKEN = "local-access-token"  # what the local run stores for each channel account
_users = itertools.count(1)


@pytest.fixture
def run() -> Iterator[LocalRun]:
    """The embedded run with its Graph API under `/v23.0`, as GRAPH_API_URL is on AWS."""
    with FakeGraphApi() as graph, LocalRun(CONFIG, graph_api_url=f"{graph.url}/v23.0") as local:
        local.graph = graph
        yield local


def waiting_user(run: LocalRun) -> tuple[WhatsAppUser, Agent, str]:
    """A WhatsApp user asks for an agent in acme's hours and waits in Live's queue; carla is online."""
    run.advance_to(10, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    user = WhatsAppUser(run, f"57300222{next(_users):04d}", name="Ana")
    user.says("Quiero hablar con un asesor")
    [waiting] = [c for c in carla.conversations() if c["state"] == "queued"]
    return user, carla, waiting["id"]


def sends_file(user: WhatsAppUser, kind: str, media_id: str, mime_type: str, **extra: Any) -> None:
    user.run.advance(5)
    user.send(payloads.whatsapp_media(user.wa_id, kind, media_id, mime_type, user.now(), **extra))


def user_lines(carla: Agent, conversation_id: str) -> list[dict[str, Any]]:
    read = carla.read(conversation_id)
    assert read.status == 200, read.body
    return [line for line in read.json()["transcript"] if line["author"] == "user"]


def messenger_line(run: LocalRun, psid: str, kind: str, url: str) -> tuple[Agent, str, dict[str, Any]]:
    """A Messenger user asks for an agent in acme's hours and sends a file by its CDN `url`; carla is
    online. Returns carla, the conversation and the file's transcript line."""
    run.advance_to(10, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    marta = MetaPlatformUser(run, "messenger", psid)
    marta.says("Quiero hablar con un asesor")
    run.advance(5)
    marta.send(attachment(marta, kind, url))
    [chat] = [c["id"] for c in carla.conversations() if c["channel"] == "messenger"]
    [*_, line] = user_lines(carla, chat)
    return carla, chat, line


def fetch(carla: Agent, path: str) -> HttpResult:
    return carla.call("GET", path)


def graph_gets(run: LocalRun) -> list[RecordedRequest]:
    return [r for r in run.graph.requests if r.method == "GET"]


def test_an_image_and_a_document_reach_the_agent_fetched_with_the_accounts_token(
    run: LocalRun, whatsapp_openapi_path: Path
) -> None:
    user, carla, chat = waiting_user(run)
    image_id = run.graph.add_media(PNG, "image/png")
    document_id = run.graph.add_media(PDF, "application/pdf")

    sends_file(user, "image", image_id, "image/png", caption="La caja llegó rota")
    sends_file(
        user, "document", document_id, "application/pdf", caption="Factura", filename="factura 4411.pdf"
    )

    # the transcript shows what the console needs, with a path of Live's own: no media id
    *_, image, document = user_lines(carla, chat)
    assert (image["kind"], image["text"]) == ("image", "La caja llegó rota")
    assert image["media"]["caption"] == "La caja llegó rota"
    assert image["media"]["path"].startswith(f"/live/conversations/{chat}/media/")
    assert document["media"]["file_name"] == "factura 4411.pdf"
    assert document["media"]["mime_type"] == "application/pdf"
    assert image_id not in json.dumps(image) and document_id not in json.dumps(document)

    shown = fetch(carla, image["media"]["path"])
    assert shown.status == 200, shown.body
    assert shown.content == PNG
    assert shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Disposition"] == "inline"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert shown.headers["Cache-Control"] == "private, no-store"

    downloaded = fetch(carla, document["media"]["path"])
    assert downloaded.status == 200, downloaded.body
    assert downloaded.content == PDF
    assert downloaded.headers["Content-Type"] == "application/pdf"
    assert downloaded.headers["Content-Disposition"] == (
        "attachment; filename=\"factura 4411.pdf\"; filename*=UTF-8''factura%204411.pdf"
    )

    # each file: Meta's metadata for the account's number, then its URL, both with the token
    gets = graph_gets(run)
    assert [r.path.split("?")[0] for r in gets] == [
        f"/{image_id}",
        f"/media-download/{image_id}",
        f"/{document_id}",
        f"/media-download/{document_id}",
    ]
    for metadata in gets[::2]:
        assert metadata.query == {"phone_number_id": user.number}
        assert (
            get_request_errors(whatsapp_openapi_path, MEDIA_PATH, metadata.raw_path, metadata.headers) == []
        )
    for download in gets[1::2]:
        errors = get_request_errors(
            whatsapp_openapi_path, DOWNLOAD_PATH, download.raw_path, download.headers, check_path=False
        )
        assert errors == []
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in gets)
    assert TOKEN not in shown.body + downloaded.body + carla.read(chat).body


def test_a_place_shows_its_coordinates_and_has_no_file(run: LocalRun) -> None:
    user, carla, chat = waiting_user(run)
    user.run.advance(5)
    user.send(
        payloads.whatsapp_location(
            user.wa_id, 4.6533, -74.0836, user.now(), name="Tienda Chapinero", address="Calle 60 # 9-20"
        )
    )

    [*_, place] = user_lines(carla, chat)

    assert place["kind"] == "location"
    assert place["media"] == {
        "mime_type": None,
        "file_name": None,
        "caption": None,
        "latitude": 4.6533,
        "longitude": -74.0836,
        "name": "Tienda Chapinero",
        "address": "Calle 60 # 9-20",
        "path": None,
    }
    assert graph_gets(run) == []


def test_a_messenger_attachment_is_fetched_from_metas_cdn_and_its_link_never_shown(run: LocalRun) -> None:
    link = run.graph.add_cdn_file(PNG, "image/png")
    carla, chat, image = messenger_line(run, "4000000000000777", "image", link)

    shown = fetch(carla, image["media"]["path"])

    assert "fake-signature" not in carla.read(chat).body and "/cdn/" not in carla.read(chat).body
    assert (shown.status, shown.content, shown.headers["Content-Type"]) == (200, PNG, "image/png")
    [cdn] = graph_gets(run)
    assert "authorization" not in cdn.headers  # a CDN link needs no token, so it gets none


def test_a_link_off_metas_cdn_is_never_requested(run: LocalRun) -> None:
    metadata_service = "http://169.254.169.254/latest/meta-data/iam"
    carla, _, image = messenger_line(run, "4000000000000778", "image", metadata_service)

    refused = fetch(carla, image["media"]["path"])

    assert refused.status == 403
    assert "not on Meta's CDN" in refused.json()["message"]
    assert graph_gets(run) == []


def test_a_file_over_4_mib_is_refused_declared_or_read(run: LocalRun) -> None:
    user, carla, chat = waiting_user(run)
    declared_big = run.graph.add_media(b"small", "video/mp4", declared_size=MEDIA_LIMIT + 1)
    truly_big = run.graph.add_media(b"\0" * (MEDIA_LIMIT + 1), "video/mp4", declared_size=1000)
    just_fits = run.graph.add_media(b"\1" * MEDIA_LIMIT, "video/mp4")
    for media_id in (declared_big, truly_big, just_fits):
        sends_file(user, "video", media_id, "video/mp4")
    *_, declared, read, fits = user_lines(carla, chat)

    over_declared = fetch(carla, declared["media"]["path"])
    over_read = fetch(carla, read["media"]["path"])
    fitting = fetch(carla, fits["media"]["path"])

    assert over_declared.status == 413
    assert f"{MEDIA_LIMIT + 1} bytes" in over_declared.json()["message"]
    assert "4 MiB" in over_declared.json()["message"]
    assert over_read.status == 413
    assert (fitting.status, len(fitting.content)) == (200, MEDIA_LIMIT)
    # the declared size stops it before the download; the one that lied is cut off while read
    downloads = [r.path for r in graph_gets(run) if r.path.startswith("/media-download/")]
    assert downloads == [f"/media-download/{truly_big}", f"/media-download/{just_fits}"]


def test_a_type_not_on_the_allow_list_is_refused(run: LocalRun) -> None:
    user, carla, chat = waiting_user(run)
    page = run.graph.add_media(b"<script>alert(1)</script>", "text/html")
    sends_file(user, "document", page, "text/html", filename="factura.html")
    marta = MetaPlatformUser(run, "messenger", "4000000000000779")
    marta.says("Quiero hablar con un asesor")
    run.advance(5)
    marta.send(attachment(marta, "image", run.graph.add_cdn_file(b"<svg onload=alert(1)>", "image/svg+xml")))
    [*_, html] = user_lines(carla, chat)
    [messenger_chat] = [c["id"] for c in carla.conversations() if c["channel"] == "messenger"]
    [*_, svg] = user_lines(carla, messenger_chat)

    refused_html = fetch(carla, html["media"]["path"])
    refused_svg = fetch(carla, svg["media"]["path"])

    assert refused_html.status == 415 and "text/html" in refused_html.json()["message"]
    assert refused_svg.status == 415 and "image/svg+xml" in refused_svg.json()["message"]
    assert f"/media-download/{page}" not in [r.path for r in graph_gets(run)]  # refused before downloading


def test_another_tenants_agent_and_a_line_without_a_file_get_404(run: LocalRun) -> None:
    user, carla, chat = waiting_user(run)
    image_id = run.graph.add_media(PNG, "image/png")
    sends_file(user, "image", image_id, "image/png")
    [*_, image] = user_lines(carla, chat)
    path = image["media"]["path"]
    [*_, asked] = [line for line in user_lines(carla, chat) if line["kind"] == "text"]
    globex = Agent(run, "gina", tenant_id="globex")

    assert fetch(globex, path).status == 404
    assert fetch(globex, path).json() == {"message": "conversation not found"}
    assert fetch(carla, f"/live/conversations/{chat}/media/{'0' * 32}").status == 404
    assert fetch(carla, f"/live/conversations/{chat}/media/{asked['event_id']}").status == 404
    assert graph_gets(run) == []  # nothing was asked of Meta for any of them
    assert fetch(carla, path).status == 200


def test_a_file_meta_no_longer_has_is_gone_and_metas_refusals_are_never_a_5xx(run: LocalRun) -> None:
    user, carla, chat = waiting_user(run)
    image_id = run.graph.add_media(PNG, "image/png")
    sends_file(user, "image", image_id, "image/png")
    [*_, image] = user_lines(carla, chat)
    path = image["media"]["path"]

    run.graph.fail_next(
        401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
    )
    token_refused = fetch(carla, path)
    run.graph.fail_next(500, {"error": {"message": "An unexpected error has occurred.", "code": 2}})
    meta_down = fetch(carla, path)
    run.graph.forget_media(image_id)
    gone = fetch(carla, path)

    assert token_refused.status == 424 and "access token" in token_refused.json()["message"]
    assert meta_down.status == 424 and "try again" in meta_down.json()["message"]
    assert gone.status == 410
    assert gone.json() == {
        "message": "the file is no longer available at Meta (deleted, or its link expired)"
    }


def test_an_expired_cdn_link_is_gone(run: LocalRun) -> None:
    lapsed = f"{run.graph.url}/cdn/000000000999?oh=lapsed"
    carla, _, audio = messenger_line(run, "4000000000000780", "audio", lapsed)

    gone = fetch(carla, audio["media"]["path"])

    assert gone.status == 410


def attachment(user: MetaPlatformUser, kind: str, url: str) -> dict[str, Any]:
    """A Messenger message of one attachment at `url`."""
    event = user.text("-")
    event["message"] = {
        "mid": f"m_MEDIA{next(_users):012d}",
        "attachments": [{"type": kind, "payload": {"url": url}}],
    }
    assert event["recipient"]["id"] == ACME_PAGE
    return event


def test_under_make_local_a_users_file_travels_byte_for_byte_over_http(tmp_path: Path) -> None:
    """`python -m handoff_local.server` with its built-in fake: a file kept with `/_local/media`, sent in
    a signed delivery by a user waiting overnight, read by an agent through the server's HTTP API
    (base64 in the Lambda answer, bytes on the wire)."""
    log = tmp_path / "server.log"
    with server_process(log, HANDOFF_CONFIG=str(CONFIG)) as (port, process):
        wait_until_healthy(port, process, log)
        server = LocalServerProcess(port, process, log)
        file = {"mime_type": "image/png", "content_base64": base64.b64encode(PNG).decode()}
        kept = server.post("/_local/media", file)
        server.advance_to(next_night(server.now()))
        user = Phone(server, FakeGraphApi(), "573009990077", "Ana Local")  # its fake stays unused
        user.says("Quiero hablar con un asesor")
        user.taps(YES_PAYLOAD, "Sí, quiero esperar")
        at = server.advance(5)
        user.deliver(payloads.whatsapp_media(user.wa_id, "image", kept["media_id"], "image/png", at))
        server.drain()
        token = server.post("/_local/token", {"tenant_id": "acme", "agent_id": "carla"})["token"]
        agent = {"Authorization": f"Bearer {token}"}
        [chat] = [
            c["id"]
            for c in server.request("GET", "/live/conversations", headers=agent).json()["conversations"]
        ]
        transcript = server.request("GET", f"/live/conversations/{chat}", headers=agent).json()["transcript"]
        [path] = [line["media"]["path"] for line in transcript if line["media"]]

        answer = server.request("GET", path, headers=agent)
        bad = server.request("POST", "/_local/media", {**file, "content_base64": "not base64!"})

    assert set(kept) == {"media_id", "cdn_url"}
    assert (answer.status, answer.body) == (200, PNG)
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert bad.status == 400 and "base64" in bad.json()["message"]


# --- the Graph client's downloads: Meta's CDN or the Graph API only, no redirect, on time ----------


def serve_once(answer: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    """A loopback server that reads one request and lets `answer` write to the connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                answer(connection)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


def test_a_redirect_is_never_followed() -> None:
    with socket.socket() as elsewhere:
        elsewhere.bind(("127.0.0.1", 0))
        elsewhere.listen(1)
        target = f"http://127.0.0.1:{elsewhere.getsockname()[1]}/latest/meta-data/"
        redirect = f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode()
        port, served = serve_once(lambda connection: connection.sendall(redirect))
        client = GraphClient(f"http://127.0.0.1:{port}/v23.0", connect_timeout=1.0, read_timeout=1.0)

        with pytest.raises(GraphError) as caught:
            client.download(
                f"http://127.0.0.1:{port}/media-download/1", limit=MEDIA_LIMIT, access_token=TOKEN
            )
        served.join(timeout=2)
        elsewhere.settimeout(0.2)
        with pytest.raises(TimeoutError):
            elsewhere.accept()  # nobody came

    assert caught.value.http_status == 302


def test_a_file_that_trickles_in_is_given_up_at_its_deadline() -> None:
    def trickle(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(OSError):
            for _ in range(100):
                connection.sendall(b"x" * 10)
                time.sleep(0.05)

    port, _ = serve_once(trickle)
    client = GraphClient(f"http://127.0.0.1:{port}", connect_timeout=0.3, read_timeout=0.3)
    started = time.monotonic()

    with pytest.raises(GraphError) as caught:
        client.download(f"http://127.0.0.1:{port}/cdn/1", limit=MEDIA_LIMIT, deadline=started + 0.5)

    assert time.monotonic() - started < 1.0  # the deadline, and one read at most past it
    assert caught.value.retryable  # the agent may try again: a 424, never a timed-out function


def test_a_url_off_metas_cdn_and_the_graph_apis_origin_is_refused_before_any_connection() -> None:
    with socket.socket() as graph_api:
        graph_api.bind(("127.0.0.1", 0))
        graph_api.listen(1)
        client = GraphClient(f"http://127.0.0.1:{graph_api.getsockname()[1]}/v23.0")
        for url in (
            "https://evil.test/x.jpg",
            "http://127.0.0.1:1/x",
            "https://scontent.xx.fbcdn.net:8443/x",
        ):
            with pytest.raises(NotMetaUrl):
                client.download(url, limit=MEDIA_LIMIT, access_token=TOKEN)
