"""GraphClient against the fake Graph API on loopback: success, every error class, no connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from handoff.adapters.graph import GraphClient, GraphError
from handoff.channels.base import GraphRequest
from handoff_local.fake_graph import FakeGraphApi, RecordedRequest, describe

ACCOUNT = "200000000000001"
TOKEN = "EAAG-synthetic-access-token"
WHATSAPP_TEXT = GraphRequest(
    path=f"{ACCOUNT}/messages",
    body={
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15550002222",
        "type": "text",
        "text": {"body": "Un agente te responderá pronto."},
    },
)
MESSENGER_TEXT = GraphRequest(
    path="me/messages",
    body={"recipient": {"id": "4000000000000001"}, "messaging_type": "RESPONSE", "message": {"text": "Hi"}},
)


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture
def client(graph: FakeGraphApi) -> GraphClient:
    return GraphClient(graph.url + "/v23.0", connect_timeout=2.0, read_timeout=2.0)


def test_the_fake_listens_on_loopback_only(graph: FakeGraphApi) -> None:
    assert graph.url.startswith("http://127.0.0.1:")
    assert graph.port > 0


def test_a_whatsapp_send_returns_the_wamid(graph: FakeGraphApi, client: GraphClient) -> None:
    result = client.post(WHATSAPP_TEXT, TOKEN)
    assert result.http_status == 200
    assert result.message_id is not None and result.message_id.startswith("wamid.")
    assert result.body["contacts"] == [{"input": "+15550002222", "wa_id": "15550002222"}]
    [request] = graph.requests
    assert (request.method, request.path, request.raw_path) == (
        "POST",
        f"/{ACCOUNT}/messages",
        f"/v23.0/{ACCOUNT}/messages",
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == WHATSAPP_TEXT.body


def test_unicode_is_sent_as_utf8_json(graph: FakeGraphApi, client: GraphClient) -> None:
    request = GraphRequest(path=WHATSAPP_TEXT.path, body=WHATSAPP_TEXT.body | {"text": {"body": "¿Sí? 👍"}})
    client.post(request, TOKEN)
    assert graph.requests[0].json["text"]["body"] == "¿Sí? 👍"


def test_a_bsuid_send_is_answered_with_the_user_id(client: GraphClient) -> None:
    body = {k: v for k, v in WHATSAPP_TEXT.body.items() if k != "to"} | {
        "recipient": "US.13000000000000000001"
    }
    result = client.post(GraphRequest(path=WHATSAPP_TEXT.path, body=body), TOKEN)
    assert result.body["contacts"] == [
        {"input": "US.13000000000000000001", "user_id": "US.13000000000000000001"}
    ]


def test_a_messenger_send_returns_the_mid(graph: FakeGraphApi, client: GraphClient) -> None:
    result = client.post(MESSENGER_TEXT, TOKEN)
    assert result.message_id is not None and result.message_id.startswith("m_")
    assert result.body["recipient_id"] == "4000000000000001"
    assert graph.requests[0].path == "/me/messages"


def test_consecutive_sends_get_distinct_ids(client: GraphClient) -> None:
    ids = {client.post(WHATSAPP_TEXT, TOKEN).message_id for _ in range(3)}
    assert len(ids) == 3


def graph_error(
    code: Any, message: str, subcode: int | None = None, error_type: str = "OAuthException"
) -> dict:
    error: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": f"details of {code}"},
        "fbtrace_id": "ASyntheticTraceId0001",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "body", "code", "subcode", "retryable", "outside_window"),
    [
        (400, graph_error(130429, "(#130429) Rate limit hit"), 130429, None, True, False),
        (400, graph_error(131056, "(#131056) Pair rate limit hit"), 131056, None, True, False),
        (400, graph_error(131057, "(#131057) Account in maintenance mode"), 131057, None, True, False),
        (503, graph_error(2, "Service temporarily unavailable"), 2, None, True, False),
        (400, graph_error(4, "(#4) Application request limit reached"), 4, None, True, False),
        (
            400,
            graph_error(613, "(#613) Calls to this API have exceeded the rate limit."),
            613,
            None,
            True,
            False,
        ),
        (400, graph_error("131056", "code sent as a string"), 131056, None, True, False),
        (400, graph_error(131047, "(#131047) Re-engagement message"), 131047, None, False, True),
        (400, graph_error(100, "(#100) Invalid parameter"), 100, None, False, False),
        (401, graph_error(190, "Error validating access token"), 190, None, False, False),
        (400, graph_error(131026, "(#131026) Message undeliverable"), 131026, None, False, False),
        (
            400,
            graph_error(10, "(#10) This message is sent outside of allowed window.", 2018278),
            10,
            2018278,
            False,
            True,
        ),
        (
            403,
            graph_error(10, "This message is sent outside of allowed window.", 2534022, "IGApiException"),
            10,
            2534022,
            False,
            True,
        ),
        (
            400,
            graph_error(551, "This person isn't available right now.", 1545041),
            551,
            1545041,
            False,
            False,
        ),
        (500, None, None, None, True, False),
        (502, "<html>Bad gateway</html>", None, None, True, False),
        (400, None, None, None, False, False),
    ],
)
def test_failures_are_classified(
    graph: FakeGraphApi,
    client: GraphClient,
    status: int,
    body: Any,
    code: int | None,
    subcode: int | None,
    retryable: bool,
    outside_window: bool,
) -> None:
    graph.fail_next(status, body)
    with pytest.raises(GraphError) as caught:
        client.post(WHATSAPP_TEXT, TOKEN)
    error = caught.value
    assert (error.http_status, error.code, error.subcode) == (status, code, subcode)
    assert error.retryable is retryable
    assert error.outside_window is outside_window
    assert error.maybe_sent is False
    assert TOKEN not in str(error) and TOKEN not in repr(error)


def test_error_details_are_kept(graph: FakeGraphApi, client: GraphClient) -> None:
    graph.fail_next(400, graph_error(131047, "(#131047) Re-engagement message"))
    with pytest.raises(GraphError) as caught:
        client.post(WHATSAPP_TEXT, TOKEN)
    error = caught.value
    assert error.message == "(#131047) Re-engagement message"
    assert error.details == "details of 131047"
    assert error.error_type == "OAuthException"
    assert error.fbtrace_id == "ASyntheticTraceId0001"
    assert "131047" in str(error) and "permanent" in str(error)


def test_scripted_failures_run_out_and_the_client_never_retries_by_itself(
    graph: FakeGraphApi, client: GraphClient
) -> None:
    graph.fail_next(503, graph_error(2, "Service temporarily unavailable"), times=2)
    for _ in range(2):
        with pytest.raises(GraphError):
            client.post(WHATSAPP_TEXT, TOKEN)
        assert graph.requests, "one attempt per call"
    assert len(graph.requests) == 2
    assert client.post(WHATSAPP_TEXT, TOKEN).message_id
    assert len(graph.requests) == 3


def test_the_fake_refuses_a_send_without_token(graph: FakeGraphApi, client: GraphClient) -> None:
    with pytest.raises(GraphError) as caught:
        client.post(WHATSAPP_TEXT, "")
    assert (caught.value.code, caught.value.retryable) == (190, False)


def test_the_fake_refuses_unknown_paths(client: GraphClient) -> None:
    with pytest.raises(GraphError) as caught:
        client.post(GraphRequest(path=f"{ACCOUNT}/not_messages", body={}), TOKEN)
    assert caught.value.code == 100


def test_clear_forgets_requests_and_scripted_failures(graph: FakeGraphApi, client: GraphClient) -> None:
    client.post(WHATSAPP_TEXT, TOKEN)
    graph.fail_next(500)
    graph.clear()
    assert graph.requests == []
    assert client.post(WHATSAPP_TEXT, TOKEN).message_id


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = GraphClient(f"http://127.0.0.1:{port}/v23.0", connect_timeout=1.0, read_timeout=1.0)
    with pytest.raises(GraphError) as caught:
        client.post(WHATSAPP_TEXT, TOKEN)
    error = caught.value
    assert (error.http_status, error.code) == (None, None)
    assert error.retryable
    assert not error.maybe_sent, "nothing reached Meta"


def test_no_answer_in_time_is_retryable_but_maybe_sent() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection (backlog) and never answers
        client = GraphClient(
            f"http://127.0.0.1:{silent.getsockname()[1]}", connect_timeout=0.3, read_timeout=0.3
        )
        with pytest.raises(GraphError) as caught:
            client.post(WHATSAPP_TEXT, TOKEN)
    assert caught.value.retryable
    assert caught.value.maybe_sent


def test_the_printer_sees_what_would_reach_the_user() -> None:
    seen: list[str] = []

    def printer(request: RecordedRequest) -> None:
        seen.append(describe(request))

    with FakeGraphApi(printer=printer) as graph:
        client = GraphClient(graph.url)
        client.post(WHATSAPP_TEXT, TOKEN)
        client.post(MESSENGER_TEXT, TOKEN)
        graph.fail_next(400, graph_error(100, "bad"))
        with pytest.raises(GraphError):
            client.post(WHATSAPP_TEXT, TOKEN)
    assert seen == [
        "WhatsApp → …2222: Un agente te responderá pronto.",
        "Messenger/Instagram → …0001: Hi",
    ]


def test_the_fake_whatsapp_answer_matches_the_openapi_response(
    whatsapp_openapi_path: Path, client: GraphClient
) -> None:
    spec = yaml.load(
        whatsapp_openapi_path.read_text(encoding="utf-8"),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )
    uri = "urn:meta:whatsapp-business-messaging-api:v23.0"
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    response = spec["paths"]["/{Version}/{Phone-Number-ID}/messages"]["post"]["responses"]["200"]
    schema_ref = response["content"]["application/json"]["schema"]["$ref"]
    validator = Draft202012Validator({"$ref": uri + schema_ref}, registry=registry)
    assert list(validator.iter_errors(client.post(WHATSAPP_TEXT, TOKEN).body)) == []
