"""`make local` over real HTTP: the server as a subprocess, the fake Graph API in this process.

One server for the module (it takes seconds to start); each test has its own users, and moves the
shared clock only forward, so the tests don't depend on each other's order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from local_server_process import (
    ACME,
    ACME_NUMBER,
    APP_SECRET,
    TEXTS,
    LocalServerProcess,
    Phone,
    Response,
    http_request,
    next_night,
    running_local_server,
)

from handoff.config.models import BotConfig, HttpBot
from handoff_local import payloads
from handoff_local.fake_graph import FakeGraphApi, meta_platform_sent_to, shown_text
from handoff_local.runtime import HttpResult
from handoff_local.server import (
    MAX_BODY_BYTES,
    Background,
    LocalRoutes,
    LocalServer,
    Settings,
    bot_lines,
    example_bot,
    start_example_bot,
)
from handoff_local.server_process import free_port

VERIFY_TOKEN = "local-verify-token"
YES = "HANDOFF_WAIT_YES"
NO = "HANDOFF_WAIT_NO"


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(graph: FakeGraphApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerProcess]:
    with running_local_server(tmp_path_factory.mktemp("local-server") / "server.log", graph) as running:
        yield running


@dataclass
class LiveAgent:
    server: LocalServerProcess
    token: str

    @classmethod
    def signed_in(cls, server: LocalServerProcess, agent_id: str, tenant_id: str = "acme") -> LiveAgent:
        response = server.request("POST", "/_local/token", {"tenant_id": tenant_id, "agent_id": agent_id})
        assert response.status == 200, response.text
        return cls(server, response.json()["token"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.server.request(method, path, body, headers)

    def conversations(self) -> list[dict[str, Any]]:
        response = self.call("GET", "/live/conversations")
        assert response.status == 200, response.text
        return response.json()["conversations"]


# --- the webhook -----------------------------------------------------------------------------------


def test_a_signed_delivery_is_answered_by_the_bot(server, graph):
    user = Phone(server, graph, "573005550001", "Lucía")
    # non-ASCII, compact separators: the signature only holds if the server passes the exact bytes on
    message = payloads.whatsapp_text(user.wa_id, "¿Cuál es el horario? 🙂", server.now())
    raw = json.dumps(
        payloads.whatsapp_delivery(ACME_NUMBER, message), ensure_ascii=False, separators=(",", ":")
    ).encode()

    assert server.webhook(raw).status == 200
    drained = server.drain()

    assert drained["pending_outbox"] == 0 and drained["dead_letters"] == 0
    assert any("9:00" in text for text in user.texts()), user.texts()


def test_an_unsigned_or_badly_signed_delivery_is_refused_and_nothing_is_sent(server, graph):
    user = Phone(server, graph, "573005550002", "Mallory")
    raw = json.dumps(
        payloads.whatsapp_delivery(ACME_NUMBER, payloads.whatsapp_text(user.wa_id, "hola", server.now()))
    )
    raw_bytes = raw.encode()
    good_signature = payloads.meta_signature(raw_bytes, APP_SECRET)

    assert server.webhook(raw_bytes, secret=None).status == 401
    assert server.webhook(raw_bytes, secret="another-secret").status == 401
    assert server.webhook(raw_bytes + b" ", signature=good_signature).status == 401
    server.drain()

    assert user.received() == []


def test_malformed_json_with_a_good_signature_is_a_400(server):
    response = server.webhook(b'{"object": "whatsapp_business_account", "entry": [')

    assert response.status == 400
    assert "JSON" in response.text


def test_the_subscription_handshake_echoes_the_challenge(server):
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    response = server.request("GET", f"/webhooks/whatsapp?{query}")

    assert (response.status, response.text) == (200, "1158201444")
    wrong = server.request(
        "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
    )
    assert wrong.status == 403


def test_a_body_over_meta_cap_is_a_413(server):
    response = server.webhook(b"x" * (MAX_BODY_BYTES + 1), secret=None)

    assert response.status == 413
    assert "3 MB" in response.json()["message"]


# --- the after-hours story, through HTTP only ----------------------------------------------------


def test_the_after_hours_story(server, graph):
    night = server.advance_to(next_night(server.now()))
    ana = Phone(server, graph, "573005550003", "Ana Local")
    carla = LiveAgent.signed_in(server, "carla-local")

    # Given no agent available at night, when Ana asks for an agent, she is offered to wait
    assert ana.says("Quiero hablar con un agente").status == 200
    server.drain()
    offer = ana.received()[-1]
    assert offer["type"] == "interactive" and offer["interactive"]["body"]["text"] == TEXTS.offer
    assert [b["reply"]["id"] for b in offer["interactive"]["action"]["buttons"]] == [YES, NO]

    # When she taps YES she waits in Live, on hold
    assert ana.taps(YES, "Sí, quiero esperar").status == 200
    server.drain()
    assert ana.texts()[-1].startswith(TEXTS.attention)
    [waiting] = [c for c in carla.conversations() if c["user_name"] == "Ana Local"]
    assert waiting["on_hold"] and waiting["state"] == "queued"

    # In the morning Carla comes online: Ana is told an agent is available
    server.advance_to(night + timedelta(hours=12))
    before = len(ana.received())
    assert carla.call("PUT", "/live/presence", {"online": True}).status == 200
    assert server.drain()["pending_outbox"] == 0
    assert ana.texts()[before:] == [TEXTS.agent_available]

    # Carla takes the conversation and replies; the reply reaches Ana
    assert carla.call("POST", f"/live/conversations/{waiting['id']}/take").status == 200
    reply = carla.call(
        "POST", f"/live/conversations/{waiting['id']}/reply", {"text": "¡Hola Ana! Soy Carla."}
    )
    assert reply.status == 200, reply.text
    server.drain()
    assert ana.texts()[-1] == "¡Hola Ana! Soy Carla."

    assert carla.call("POST", f"/live/conversations/{waiting['id']}/close").status == 200
    assert carla.call("PUT", "/live/presence", {"online": False}).status == 200


def test_a_wait_expires_after_24_hours(server, graph):
    server.advance_to(next_night(server.now()))
    bruno = Phone(server, graph, "573005550004", "Bruno Local")
    carla = LiveAgent.signed_in(server, "carla-local")
    bruno.says("Necesito un agente")
    bruno.taps(YES, "Sí, quiero esperar")
    server.drain()
    assert [c["user_name"] for c in carla.conversations()].count("Bruno Local") == 1

    server.advance(86400)
    response = server.request("POST", "/_local/tick")

    assert response.status == 200
    assert response.json()["to_expire"] >= 1
    assert "Bruno Local" not in [c["user_name"] for c in carla.conversations()]


# --- the local routes and the authorizer ---------------------------------------------------------


def test_live_without_a_valid_token_is_a_401(server):
    assert server.request("GET", "/live/conversations").status == 401
    assert (
        server.request("GET", "/live/conversations", headers={"Authorization": "Bearer nope"}).status == 401
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"advance_seconds": -5}',
        b'{"advance_seconds": "60"}',
        b'{"advance_seconds": true}',
        b'{"advance_seconds": NaN}',
        b'{"advance_seconds": 1e300}',
        b"{}",
        b"[]",
        b"soon",
    ],
)
def test_a_bad_clock_body_is_a_400_with_a_clear_message(server, body):
    before = server.now()
    response = server.request("POST", "/_local/clock", body, {"Content-Type": "application/json"})

    assert response.status == 400
    assert "advance_seconds" in response.json()["message"]
    assert server.now() - before < timedelta(seconds=30)


def test_the_clock_moves_forward_on_request(server):
    before = server.now()
    after = server.advance(3600)

    assert timedelta(hours=1) <= after - before < timedelta(hours=1, seconds=30)
    assert server.now() >= after


def test_unknown_local_routes_and_methods(server):
    assert server.request("GET", "/_local/nothing").status == 404
    wrong_method = server.request("GET", "/_local/drain")
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"
    assert server.request("POST", "/_local/token", {"tenant_id": "acme"}).status == 400
    for seats in (0, 101, "3", True, 2.5):
        wrong = server.request(
            "POST", "/_local/token", {"tenant_id": "acme", "agent_id": "a", "seats": seats}
        )
        assert wrong.status == 400 and "seats" in wrong.json()["message"], seats
    for name in ("", "  ", 7):
        wrong = server.request("POST", "/_local/token", {"tenant_id": "acme", "agent_id": "a", "name": name})
        assert wrong.status == 400 and "name" in wrong.json()["message"], name


# --- a failing handler, in process -----------------------------------------------------------------


class _BrokenRun:
    lock = threading.RLock()

    def http(self, method: str, path: str, **kwargs: Any) -> HttpResult:
        if path == "/boom":
            raise RuntimeError("the handler fell over")
        return HttpResult(200, '{"fine": true}', {"Content-Type": "application/json"})


def test_a_failing_handler_is_a_500_and_the_server_goes_on():
    run: Any = _BrokenRun()
    server = LocalServer(0, run, Background(run), LocalRoutes(run))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        port = int(server.server_address[1])
        failed = http_request(port, "POST", "/boom", b"{}")
        assert failed.status == 500
        assert "the handler fell over" in failed.json()["message"]
        assert http_request(port, "GET", "/fine").json() == {"fine": True}
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("channel", "account", "user_id"),
    [
        ("messenger", "300000000000001", "4000000000005551"),
        ("instagram", "17841400000000001", "6000000000005551"),
    ],
)
def test_messenger_and_instagram_deliveries_are_answered_too(server, graph, channel, account, user_id):
    message = payloads.meta_platform_text(user_id, account, "¿Cuál es el horario? 🙂", server.now())
    body = payloads.meta_platform_delivery(channel, account, message)
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    assert server.webhook(raw, channel).status == 200
    assert server.drain()["dead_letters"] == 0

    answers = [shown_text(b) for b in meta_platform_sent_to(graph.requests, user_id)]
    assert any("9:00" in text for text in answers), answers


def test_the_console_is_served_from_the_same_origin(server):
    moved = server.request("GET", "/console")
    page = server.request("GET", "/console/")
    script = server.request("GET", "/console/main.js")

    assert (moved.status, moved.headers["location"]) == (301, "/console/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="main.js">' in page.text
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    for outside in (
        "/console/../README.md",
        "/console/%2e%2e/Makefile",
        "/console/missing.js",
        "/console/x/y.css",
    ):
        assert server.request("GET", outside).status == 404, outside
    assert server.request("POST", "/console/index.html").status == 405


# --- a tenant's own bot over HTTP (Rasa's REST format) ---------------------------------------------


def http_bot_config(directory: Path, url: str) -> Path:
    """examples/config.yaml's acme with its bot over HTTP at `url`, written as JSON (which is YAML)."""
    own = ACME.model_copy(update={"bot": BotConfig(kind="http", http=HttpBot(url=url))})
    path = directory / "config.http-bot.json"
    path.write_text(json.dumps({"tenants": [own.model_dump(mode="json", exclude_defaults=True)]}))
    return path


def local_server_on(
    config: Path, log_path: Path, graph: FakeGraphApi, **environment: str
) -> AbstractContextManager[LocalServerProcess]:
    """A local server of its own on `config`, sending to `graph`, once it answers its health check."""
    return running_local_server(log_path, graph, config, **environment)


def the_bot_s_menu(user: Phone) -> dict[str, Any]:
    """Greeted, the example bot answers with its menu: three WhatsApp reply buttons."""
    texts = example_bot().TEXTS["es"]
    assert user.says("Hola").status == 200
    assert user.server.drain()["dead_letters"] == 0
    menu = user.received()[-1]
    assert menu["type"] == "interactive", user.received()
    assert menu["interactive"]["body"]["text"] == texts["menu"]
    buttons = [b["reply"] for b in menu["interactive"]["action"]["buttons"]]
    assert [(b["title"], b["id"]) for b in buttons] == list(
        zip(texts["buttons"], example_bot().PAYLOADS, strict=True)
    )
    return menu


def test_a_tenant_s_own_bot_over_http_answers_through_the_local_server(graph, tmp_path):
    bot, url = start_example_bot()  # on a free loopback port, in this process
    try:
        config = http_bot_config(tmp_path, url)
        with local_server_on(config, tmp_path / "server.log", graph) as server:
            server.advance_to(next_night(server.now()))
            user = Phone(server, graph, "573005550101", "Rasa Local")

            the_bot_s_menu(user)

            # the tapped button's payload goes to the bot, which hands off: after hours, the offer
            before = len(user.received())
            assert user.taps("/agent", "Hablar con un agente").status == 200
            assert server.drain()["dead_letters"] == 0
            assert user.texts()[before:] == [example_bot().TEXTS["es"]["handoff"], TEXTS.offer]
            assert "acme: its own bot over HTTP, POST " + url in server.log()
    finally:
        bot.shutdown()
        bot.server_close()


def test_example_bot_1_serves_the_example_bot_with_the_local_server(graph, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    config = http_bot_config(tmp_path, url)
    environment = {"EXAMPLE_BOT": "1", "EXAMPLE_BOT_PORT": str(port)}
    with local_server_on(config, tmp_path / "server.log", graph, **environment) as server:
        the_bot_s_menu(Phone(server, graph, "573005550102", "Example Local"))

        assert f"the example bot (examples/rasa_bot.py) answers POST {url}" in server.log()
        assert "nothing answers there" not in server.log()


@pytest.mark.parametrize(
    ("environment", "port"),
    [
        ({}, None),
        ({"EXAMPLE_BOT": "0", "EXAMPLE_BOT_PORT": "not used"}, None),
        ({"EXAMPLE_BOT": "1"}, 5005),
        ({"EXAMPLE_BOT": "true", "EXAMPLE_BOT_PORT": "5077"}, 5077),
    ],
)
def test_example_bot_switches_the_example_bot_on_at_its_port(environment, port):
    assert Settings.from_environment(environment).example_bot_port == port


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"EXAMPLE_BOT": "maybe"}, "EXAMPLE_BOT must be 1"),
        ({"EXAMPLE_BOT": "1", "EXAMPLE_BOT_PORT": "70000"}, "EXAMPLE_BOT_PORT must be a port number"),
    ],
)
def test_a_bad_example_bot_setting_is_refused(environment, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_environment(environment)


def test_the_banner_says_when_a_loopback_bot_does_not_answer():
    url = f"http://127.0.0.1:{free_port()}/webhooks/rest/webhook"  # nothing listens there
    own = ACME.model_copy(update={"bot": BotConfig(kind="http", http=HttpBot(url=url))})

    lines = bot_lines([own], None)

    assert lines[0].endswith(f"acme: its own bot over HTTP, POST {url}")
    assert "nothing answers there: start the bot, or set EXAMPLE_BOT=1" in lines[1]
    elsewhere = bot_lines([ACME], "http://127.0.0.1:5005/webhooks/rest/webhook")
    assert "no tenant's bot is there" in elsewhere[-1]
