"""The HTTP bot adapter (Rasa's REST channel format) against fake bots on loopback, and the example
bot (`examples/rasa_bot.py`, loaded by its path: `examples/` is no package) through the adapter."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import urllib3
from loopback import QuietHandler

from handoff.adapters.bots import http_bot
from handoff.adapters.bots.http_bot import MAX_ANSWER_BYTES, HttpBot
from handoff.config.models import HttpBot as HttpBotConfig
from handoff.engine.bot import BotMessage, BotQuestion, BotTurn, BotUnavailable
from handoff.engine.model import Option

ROOT = Path(__file__).resolve().parents[2]
PATH = "/webhooks/rest/webhook"
SECRET = "bot-signing-secret"
API_KEY = "key-0123456789"
PARAMETERS = {"secret": SECRET, "rasa-api-key": API_KEY}


# --- a fake bot --------------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeBot:
    """Answers every POST with `status` and `body` (after `delay` seconds), keeping each request."""

    status: int = 200
    body: bytes = b"[]"
    delay: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answers(self, value: Any, status: int = 200) -> None:
        self.status, self.body = status, json.dumps(value).encode()


@pytest.fixture
def fake() -> Iterator[FakeBot]:
    bot = FakeBot()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the pooled connection is used again

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            bot.requests.append(Recorded("POST", self.path, headers, body))
            if bot.delay:
                bot.release.wait(bot.delay)
            self.send_response(bot.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(bot.body)))
            for name, value in bot.extra_headers.items():
                self.send_header(name, value)
            self.end_headers()
            # a client that gave up on a slow bot has closed the connection: nothing to answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(bot.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    bot.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield bot
    bot.release.set()  # a slow answer still pending ends now
    http_bot._pool().clear()  # the kept-alive connections close, and the handlers' threads end
    server.shutdown()
    server.server_close()


def config(url: str, **settings: Any) -> HttpBotConfig:
    return HttpBotConfig(url=url + PATH, timeout_seconds=settings.pop("timeout_seconds", 2.0), **settings)


def question(**changes: Any) -> BotQuestion:
    fields: dict[str, Any] = {
        "text": "¿Hola? Quiero saber de mi pedido",
        "language": "es",
        "channel": "whatsapp",
        "event_id": "wamid.HBgLMTU1NTAwMDIyMjIVAgASGBQzQUI",
        "kind": "text",
        "session": 2,
        "session_id": "bs-7f3a9c",
        "user_name": "Ana",
    }
    return BotQuestion.model_validate(fields | changes)


def bot_for(settings: HttpBotConfig, parameters: dict[str, str] | None = None) -> HttpBot:
    values = PARAMETERS if parameters is None else parameters
    return HttpBot(settings, conversation_id="c-0001", parameter=lambda name: values[name])


def answer(fake: FakeBot, value: Any) -> BotTurn:
    fake.answers(value)
    return bot_for(config(fake.url)).answer(question())


def unavailable(fake: FakeBot, settings: HttpBotConfig | None = None) -> str:
    """The reason the bot was unavailable."""
    with pytest.raises(BotUnavailable) as caught:
        bot_for(settings or config(fake.url)).answer(question())
    return str(caught.value)


# --- the request -------------------------------------------------------------------------------------


def test_the_request_is_a_signed_rasa_message_with_the_api_key(fake: FakeBot) -> None:
    asked: list[str] = []

    def parameter(name: str) -> str:
        asked.append(name)
        return PARAMETERS[name]

    settings = config(fake.url, signed=True, headers={"X-Api-Key": "rasa-api-key"})
    HttpBot(settings, conversation_id="c-0001", parameter=parameter).answer(question())

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "sender": "bs-7f3a9c",
        "message": "¿Hola? Quiero saber de mi pedido",
        "metadata": {
            "channel": "whatsapp",
            "language": "es",
            "conversation_id": "c-0001",
            "session": 2,
            "message_id": "wamid.HBgLMTU1NTAwMDIyMjIVAgASGBQzQUI",
            "kind": "text",
            "user_name": "Ana",
        },
    }
    assert "¿Hola?".encode() in request.body  # UTF-8, not \u escapes
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-handoff-signature"] == f"sha256={expected}"
    assert request.headers["x-api-key"] == API_KEY
    assert sorted(asked) == ["rasa-api-key", "secret"]


def test_an_unsigned_bot_gets_no_signature_and_no_parameter_is_read(fake: FakeBot) -> None:
    bot_for(config(fake.url), parameters={}).answer(question())
    [request] = fake.requests
    assert "x-handoff-signature" not in request.headers
    assert request.json["message"] == "¿Hola? Quiero saber de mi pedido"


def test_a_tapped_button_sends_its_payload_and_an_unknown_name_is_left_out(fake: FakeBot) -> None:
    bot_for(config(fake.url)).answer(
        question(text="Horarios", payload="/hours", user_name=None, kind="choice")
    )
    [request] = fake.requests
    assert request.json["message"] == "/hours"
    assert request.json["metadata"]["kind"] == "choice"
    assert "user_name" not in request.json["metadata"]


def test_a_parameter_that_cannot_be_read_makes_the_bot_unavailable(fake: FakeBot) -> None:
    def parameter(name: str) -> str:
        raise RuntimeError("AccessDenied")

    bot = HttpBot(config(fake.url, signed=True), conversation_id="c-0001", parameter=parameter)
    with pytest.raises(BotUnavailable, match=r"^parameter secret unavailable \(RuntimeError\)$"):
        bot.answer(question())
    assert fake.requests == []


# --- Rasa's answers ----------------------------------------------------------------------------------


def test_texts_come_in_order(fake: FakeBot) -> None:
    turn = answer(fake, [{"recipient_id": "bs-7f3a9c", "text": "Hola"}, {"text": "¿Qué necesitas?"}])
    assert turn == BotTurn(messages=(BotMessage(text="Hola"), BotMessage(text="¿Qué necesitas?")))


def test_buttons_become_options(fake: FakeBot) -> None:
    buttons = [
        {"title": "Horarios", "payload": "/hours"},
        {"title": "Un título de más de veinte", "payload": "/x"},
    ]
    turn = answer(fake, [{"text": "Elige", "buttons": buttons}])
    options = (
        Option(title="Horarios", payload="/hours"),
        Option(title="Un título de más de veinte", payload="/x"),
    )
    assert turn == BotTurn(messages=(BotMessage(text="Elige", options=options),))


def test_buttons_without_a_text_belong_to_the_text_before_them(fake: FakeBot) -> None:
    turn = answer(fake, [{"text": "Elige"}, {"buttons": [{"title": "Sí", "payload": "/yes"}]}])
    assert turn.messages == (BotMessage(text="Elige", options=(Option(title="Sí", payload="/yes"),)),)


@pytest.mark.parametrize(
    "messages",
    [
        [{"buttons": [{"title": "Sí", "payload": "/yes"}]}],
        [
            {"text": "Elige", "buttons": [{"title": "A", "payload": "/a"}]},
            {"buttons": [{"title": "B", "payload": "/b"}]},
        ],
        [{"image": "https://example.com/a.png"}, {"buttons": [{"title": "Sí", "payload": "/yes"}]}],
    ],
    ids=["first", "after-buttons", "after-an-image"],
)
def test_buttons_with_no_text_to_belong_to_are_malformed(fake: FakeBot, messages: list[Any]) -> None:
    fake.answers(messages)
    assert unavailable(fake) == f"answer is malformed at [{len(messages) - 1}].buttons: no text to go with"


def test_an_image_is_said_as_its_url_after_the_text_of_its_message(fake: FakeBot) -> None:
    turn = answer(fake, [{"text": "Nuestro local:", "image": "https://example.com/map.png"}])
    assert turn.messages == (
        BotMessage(text="Nuestro local:"),
        BotMessage(text="https://example.com/map.png"),
    )


def test_an_empty_list_is_silence(fake: FakeBot) -> None:
    assert answer(fake, []) == BotTurn()
    assert answer(fake, [{"recipient_id": "x"}, {"text": ""}, {"custom": {"carousel": []}}]) == BotTurn()


def test_a_handoff_request_keeps_what_came_before_it_and_ignores_the_rest(fake: FakeBot) -> None:
    turn = answer(
        fake,
        [
            {"text": "Te comunico con una persona."},
            {"custom": {"handoff": True}},
            {"text": "never said"},
            {"buttons": "never read"},
        ],
    )
    assert turn == BotTurn(messages=(BotMessage(text="Te comunico con una persona."),), handoff=True)


def test_a_handoff_request_says_its_own_text_first_and_only_true_counts(fake: FakeBot) -> None:
    turn = answer(fake, [{"text": "Un momento.", "custom": {"handoff": True}}])
    assert turn == BotTurn(messages=(BotMessage(text="Un momento."),), handoff=True)
    assert answer(fake, [{"custom": {"handoff": True}}]) == BotTurn(handoff=True)
    assert answer(fake, [{"text": "Hola", "custom": {"handoff": "yes"}}]).handoff is False


def test_unknown_keys_are_ignored(fake: FakeBot) -> None:
    turn = answer(fake, [{"recipient_id": 7, "text": "Hola", "attachment": {"x": 1}, "quick_replies": []}])
    assert turn.messages == (BotMessage(text="Hola"),)


# --- failures ----------------------------------------------------------------------------------------


def test_a_slow_bot_is_given_up_after_the_timeout(fake: FakeBot) -> None:
    fake.delay = 5.0
    started = time.monotonic()
    reason = unavailable(fake, config(fake.url, timeout_seconds=0.3))
    assert reason == "timeout after 0.3 s"
    assert time.monotonic() - started < 2.0
    assert len(fake.requests) == 1  # no retry of its own


@pytest.mark.parametrize("status", [500, 503, 404, 401, 204])
def test_any_status_but_200_is_unavailable(fake: FakeBot, status: int) -> None:
    fake.answers([{"text": "Hola"}], status=status)
    fake.body = b"" if status == 204 else fake.body
    assert unavailable(fake) == f"HTTP {status}"
    assert len(fake.requests) == 1


def test_a_redirect_is_not_followed(fake: FakeBot) -> None:
    fake.answers([{"text": "Hola"}], status=307)
    fake.extra_headers = {"Location": PATH + "/elsewhere"}
    assert unavailable(fake) == "HTTP 307"
    assert [r.path for r in fake.requests] == [PATH]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>Bad gateway</html>", "answer is not JSON"),
        (b"", "answer is not JSON"),
        (b'{"text": "Hola"}', "answer is not a JSON list"),
        (b'"Hola"', "answer is not a JSON list"),
        (b'["Hola"]', "answer is malformed at [0]: "),
        (b'[{"text": 5}]', "answer is malformed at [0].text: "),
        (b'[{"text": "a", "buttons": {"title": "x"}}]', "answer is malformed at [0].buttons: "),
        (
            b'[{"text": "a", "buttons": [{"title": 1, "payload": "x"}]}]',
            "answer is malformed at [0].buttons[0].title",
        ),
        (b'[{"text": "a", "buttons": [{"title": "x"}]}]', "answer is malformed at [0].buttons[0].payload"),
        (
            b'[{"text": "a", "buttons": [{"title": "", "payload": "/x"}]}]',
            "answer is malformed at [0].buttons[0].title",
        ),
        (b'[{"text": "a"}, {"custom": [true]}]', "answer is malformed at [1].custom: "),
        (b'[{"image": {"url": "x"}}]', "answer is malformed at [0].image: "),
    ],
)
def test_an_answer_of_the_wrong_shape_is_unavailable(fake: FakeBot, body: bytes, reason: str) -> None:
    fake.body = body
    assert unavailable(fake).startswith(reason)


def test_a_malformed_answer_s_reason_holds_none_of_its_content(fake: FakeBot) -> None:
    fake.body = json.dumps(
        [{"text": "Ana, tu pedido 4411", "buttons": [{"title": 4411, "payload": "Ana"}]}]
    ).encode()
    reason = unavailable(fake)
    assert "Ana" not in reason and "4411" not in reason


def test_an_answer_too_large_is_refused_and_the_next_question_is_answered(fake: FakeBot) -> None:
    fake.body = b"[" + b" " * MAX_ANSWER_BYTES + b"]"
    assert unavailable(fake) == "answer larger than 1 MiB"
    assert answer(fake, [{"text": "Hola"}]).messages == (BotMessage(text="Hola"),)


def test_after_a_failure_the_pooled_connection_still_answers(fake: FakeBot) -> None:
    fake.answers([{"error": "boom"}], status=500)
    assert unavailable(fake) == "HTTP 500"
    for text in ("uno", "dos"):
        assert answer(fake, [{"text": text}]).messages == (BotMessage(text=text),)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_closed_port_is_connection_refused() -> None:
    settings = config(f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    with pytest.raises(BotUnavailable, match=r"^connection refused$"):
        bot_for(settings).answer(question())
    assert time.monotonic() - started < 2.0


# --- the example bot ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rasa_bot_example", ROOT / "examples" / "rasa_bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def start_example(example: ModuleType) -> Iterator[Callable[..., str]]:
    """`start_example(secret=None)`: the url of the example bot with that secret, started once."""
    servers: dict[str | None, Any] = {}

    def start(secret: str | None = None) -> str:
        if secret not in servers:
            servers[secret], port = example.start(secret=secret)
            assert servers[secret].server_address == ("127.0.0.1", port)
        return f"http://127.0.0.1:{servers[secret].server_address[1]}"

    yield start
    http_bot._pool().clear()
    for server in servers.values():
        server.shutdown()
        server.server_close()


MENUS = {
    "es": ("Horarios", "Pedidos", "Hablar con un agente"),
    "pt": ("Horários", "Pedidos", "Falar com um atendente"),
    "en": ("Opening hours", "Orders", "Talk to an agent"),
}


@pytest.mark.parametrize("language", ["es", "pt", "en"])
@pytest.mark.parametrize("text", ["Hola", "something it does not know"])
def test_the_example_answers_a_greeting_or_anything_unknown_with_its_menu(
    start_example: Callable[..., str], language: str, text: str
) -> None:
    turn = bot_for(config(start_example())).answer(question(text=text, language=language))
    [message] = turn.messages
    assert message.text and not turn.handoff
    assert message.options == tuple(
        Option(title=title, payload=payload)
        for title, payload in zip(MENUS[language], ("/hours", "/orders", "/agent"), strict=True)
    )


def test_the_example_speaks_spanish_by_default(example: ModuleType) -> None:
    assert example.answer("Hola", "fr") == example.answer("Hola", "es") == example.answer("Hola")
    assert example.answer("Hola")[0]["buttons"][0]["title"] == "Horarios"


@pytest.mark.parametrize(
    ("payload", "language", "says"),
    [("/hours", "es", "lunes a viernes"), ("/orders", "pt", "pedido"), ("/hours", "en", "Monday to Friday")],
)
def test_the_example_answers_its_buttons_payloads(
    start_example: Callable[..., str], payload: str, language: str, says: str
) -> None:
    turn = bot_for(config(start_example())).answer(question(text="x", payload=payload, language=language))
    [message] = turn.messages
    assert says in message.text and message.options == () and not turn.handoff


@pytest.mark.parametrize(
    ("text", "payload", "language", "says"),
    [
        ("Quiero hablar con un agente", None, "es", "Te comunico con una persona."),
        ("Quero falar com um atendente", None, "pt", "Vou te transferir para uma pessoa."),
        ("Let me talk to an AGENT please", None, "en", "I'm putting you through to a person."),
        ("Falar com alguém", "/agent", "pt", "Vou te transferir para uma pessoa."),  # a tapped button
    ],
)
def test_the_example_hands_off_on_its_phrase_in_each_language(
    start_example: Callable[..., str], text: str, payload: str | None, language: str, says: str
) -> None:
    turn = bot_for(config(start_example())).answer(question(text=text, payload=payload, language=language))
    assert turn == BotTurn(messages=(BotMessage(text=says),), handoff=True)


def test_the_example_answers_in_rasa_s_shape(start_example: Callable[..., str]) -> None:
    body = json.dumps({"sender": "bs-1", "message": "/agent", "metadata": {"language": "en"}}).encode()
    response = urllib3.request("POST", start_example() + PATH, body=body, retries=False, timeout=2.0)
    assert response.status == 200
    assert response.json() == [
        {"recipient_id": "bs-1", "text": "I'm putting you through to a person."},
        {"recipient_id": "bs-1", "custom": {"handoff": True}},
    ]


def test_the_example_checks_the_signature(start_example: Callable[..., str]) -> None:
    url = start_example(secret=SECRET)
    signed = config(url, signed=True)
    assert bot_for(signed).answer(question(payload="/orders")).messages  # the right secret
    with pytest.raises(BotUnavailable, match=r"^HTTP 401$"):
        bot_for(signed, parameters={"secret": "another-secret"}).answer(question())
    with pytest.raises(BotUnavailable, match=r"^HTTP 401$"):
        bot_for(config(url)).answer(question())  # no signature at all


def test_the_example_runs_on_its_own() -> None:
    port = closed_port()
    command = [
        sys.executable,
        str(ROOT / "examples" / "rasa_bot.py"),
        "--port",
        str(port),
        "--secret",
        SECRET,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"rasa_bot: POST http://127.0.0.1:{port}{PATH}"
        turn = bot_for(config(f"http://127.0.0.1:{port}", signed=True)).answer(question(text="agente"))
        assert turn.handoff
    finally:
        process.terminate()
        process.wait(timeout=5)
