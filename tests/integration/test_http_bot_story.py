"""The after-hours story with the tenant's own bot over HTTP (Rasa's REST format) in place of the
built-in one: the real handlers, the FIFO queue and DynamoDB (moto), the example bot
(`examples/rasa_bot.py`) or a fake bot on loopback, and `examples/config.http-bot.yaml`.

SPEC.md, "The bot is the company's own": the flow does not change with the bot; the engine, never
the bot, reads the answer to the wait offer; no bot is called while a direct handoff waits or while
an agent has the conversation; a failing bot's message is kept, retried in order, and after the last
try the user is told the assistant is unavailable.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from loopback import LoopbackServer, QuietHandler

from conftest import ACME_NUMBER, BOGOTA, Agent, WhatsAppUser
from handoff.adapters.bots import http_bot
from handoff.config.texts import texts_for
from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD
from handoff.runtime.settings import settings
from handoff.runtime.wiring import conversation_store
from handoff_local import payloads
from handoff_local.runtime import LocalRun
from handoff_tools.config_file import load_config
from handoff_tools.functions import ROOT

EXAMPLE_CONFIG = ROOT / "examples" / "config.http-bot.yaml"
EXAMPLE_URL = "http://127.0.0.1:5005/webhooks/rest/webhook"  # the example bot's default port
BOT_PATH = "/webhooks/rest/webhook"
ACME = load_config(EXAMPLE_CONFIG)[0]
TEXTS = texts_for(ACME, ACME.rule_for("whatsapp"), "es")
ANSWERS = (YES_PAYLOAD, NO_PAYLOAD, TEXTS.offer_yes, TEXTS.offer_no)  # the offer's, for the engine only
SECRET = "acme-bot-signing-secret"
API_KEY = "acme-api-key-0123456789"


def at_night(run: LocalRun) -> None:
    run.advance_to(22, BOGOTA, weekday=True)


def conversation_key(user: WhatsAppUser) -> str:
    return f"acme#whatsapp#{ACME_NUMBER}#{user.wa_id}"


def transcript(user: WhatsAppUser) -> list[tuple[str, str | None]]:
    store = conversation_store()
    stored = store.load_key(conversation_key(user))
    assert stored is not None
    return [(line.author, line.text) for line in store.transcript(stored.ref)]


def report(tenant: str = "acme") -> list[dict[str, Any]]:
    return sorted(
        (row.model_dump() for row in conversation_store().report_rows(tenant)),
        key=lambda r: (r["conversation_id"], r["session"]),
    )


# --- the bots ------------------------------------------------------------------------------------


@dataclass
class Received:
    """One request a bot got: its headers (names in lower case), its body, and the status it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class BotLog:
    requests: list[Received] = field(default_factory=list)

    def messages(self) -> list[str]:
        """What the bot was asked, in order: the user's text, or the payload of a tapped button."""
        return [r.json["message"] for r in self.requests]

    def sessions(self) -> list[int]:
        return [r.json["metadata"]["session"] for r in self.requests]

    def senders(self) -> list[str]:
        return [r.json["sender"] for r in self.requests]


@pytest.fixture(scope="module")
def example() -> ModuleType:
    """examples/rasa_bot.py, loaded by its path (`examples/` is no package)."""
    spec = importlib.util.spec_from_file_location("rasa_bot_example", ROOT / "examples" / "rasa_bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def start_example(example: ModuleType) -> Iterator[Callable[..., tuple[str, BotLog]]]:
    """`start_example(secret=None)`: the example bot on loopback, recording every request it gets;
    its url and its log."""
    servers: list[Any] = []

    def start(secret: str | None = None) -> tuple[str, BotLog]:
        log = BotLog()

        class Recording(example.Handler):  # type: ignore[name-defined]
            def respond(self, body: bytes) -> tuple[int, Any]:
                status, value = super().respond(body)
                headers = {name.lower(): text for name, text in self.headers.items()}
                log.requests.append(Received(headers, body, status))
                return status, value

        server, port = example.start(port=0, secret=secret)
        server.RequestHandlerClass = Recording  # before any request: the test has sent none yet
        servers.append(server)
        return f"http://127.0.0.1:{port}{BOT_PATH}", log

    yield start
    http_bot._pool().clear()  # no pooled connection to a closed port outlives the test
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class FlakyBot:
    """A bot on loopback that fails its first `failures` requests (None: every one) in the way
    `failure` says, then echoes each message, keeping every request."""

    failure: str = "status"  # status (HTTP 500), slow (answers after 1 s), malformed (not a list)
    failures: int | None = None
    log: BotLog = field(default_factory=BotLog)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def reply(self, body: bytes) -> tuple[int, Any]:
        failing = self.failures is None or len(self.log.requests) < self.failures
        message = json.loads(body)["message"]
        status = 200
        value: Any = [{"recipient_id": json.loads(body)["sender"], "text": f"Recibido: {message}"}]
        if failing and self.failure == "status":
            status, value = 500, {"error": "internal error"}
        elif failing and self.failure == "malformed":
            value = {"text": f"Recibido: {message}"}  # an object, not a list of messages
        self.log.requests.append(Received({}, body, status))
        if failing and self.failure == "slow":
            self.release.wait(1.0)  # far past timeout_seconds (0.3); the answer itself is good
        return status, value


@pytest.fixture
def flaky() -> Iterator[Callable[..., FlakyBot]]:
    """`flaky(failure, failures)`: a FlakyBot serving on loopback."""
    servers: list[tuple[LoopbackServer, FlakyBot]] = []

    def start(failure: str = "status", failures: int | None = None) -> FlakyBot:
        bot = FlakyBot(failure, failures)

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, value = bot.reply(body)
                data = json.dumps(value).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (the slow bot): nobody reads this
                    pass

        server = LoopbackServer(Handler)
        bot.url = server.url + BOT_PATH
        servers.append((server, bot))
        return bot

    yield start
    http_bot._pool().clear()
    for server, bot in servers:
        bot.release.set()
        server.close()


# --- the run ---------------------------------------------------------------------------------------


def config_for(
    tmp_path: Path,
    url: str,
    *,
    direct: bool | None = None,
    http: dict[str, Any] | None = None,
) -> Path:
    """examples/config.http-bot.yaml with the bot's actual url, and the changes given."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert text.count(EXAMPLE_URL) == 1
    text = text.replace(EXAMPLE_URL, url)
    if direct is not None or http:
        data = yaml.safe_load(text)
        [tenant] = data["tenants"]
        if direct is not None:
            [rule] = [r for r in tenant["rules"] if r["channel"] == "whatsapp"]
            rule["direct"] = direct
        tenant["bot"]["http"].update(http or {})
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def local_run() -> Iterator[Callable[[Path], LocalRun]]:
    runs: list[LocalRun] = []

    def start(config_path: Path) -> LocalRun:
        run = LocalRun(config_path).start()
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def buttons_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    """A WhatsApp reply-button message's buttons, (id, title)."""
    assert body["type"] == "interactive" and body["interactive"]["type"] == "button", body
    return [(b["reply"]["id"], b["reply"]["title"]) for b in body["interactive"]["action"]["buttons"]]


# --- the whole story ---------------------------------------------------------------------------


def test_the_whole_story_with_the_example_bot_over_http(tmp_path, example, start_example, local_run):
    url, bot = start_example()
    run = local_run(config_for(tmp_path, url))
    es = example.TEXTS["es"]
    at_night(run)
    ana = WhatsAppUser(run, "573002220001", name="Ana")
    carla = Agent(run, "carla")

    # Ana says hello: the bot's text and its menu, as WhatsApp reply buttons with the bot's payloads
    ana.says("Hola")
    [menu] = ana.received()
    assert menu["interactive"]["body"]["text"] == es["menu"]
    assert buttons_of(menu) == list(zip(example.PAYLOADS, es["buttons"], strict=True))
    assert bot.messages() == ["Hola"]

    # She taps "talk to an agent": the bot's handoff text, then the after-hours offer (YES / NO)
    ana.taps("/agent", es["buttons"][2])
    assert bot.messages() == ["Hola", "/agent"]
    handoff, offer = ana.received()[1:]
    assert handoff["type"] == "text" and handoff["text"]["body"] == es["handoff"]
    assert offer["interactive"]["body"]["text"] == TEXTS.offer
    assert buttons_of(offer) == [(YES_PAYLOAD, TEXTS.offer_yes), (NO_PAYLOAD, TEXTS.offer_no)]

    # YES: the attention message with her place in line; she waits in Live, on hold. The engine read
    # the YES: the bot was not asked
    ana.taps(YES_PAYLOAD, TEXTS.offer_yes)
    assert ana.texts()[3:] == [f"{TEXTS.attention} Tu lugar en la fila: 1."]
    assert bot.messages() == ["Hola", "/agent"]
    [waiting] = carla.conversations()
    assert waiting["on_hold"] and waiting["state"] == "queued" and waiting["user_name"] == "Ana"

    # She chats with the bot while waiting: a new bot session, which the bot answers
    ana.taps("/hours", es["buttons"][0])
    assert ana.texts()[-1] == es["/hours"]
    # Asking for an agent again: the attention message again (no place in line), no second transfer
    ana.says("Quiero hablar con un agente")
    assert ana.texts()[-1] == TEXTS.attention
    assert [c["id"] for c in carla.conversations()] == [waiting["id"]]
    assert carla.conversations()[0]["queued_at"] == waiting["queued_at"]
    assert bot.messages() == ["Hola", "/agent", "/hours", "Quiero hablar con un agente"]
    assert bot.sessions() == [1, 1, 2, 2]
    senders = bot.senders()
    assert senders[0] == senders[1] != senders[2] == senders[3]  # one id per bot session
    assert all(r.status == 200 for r in bot.requests)

    # In the morning Carla comes online: Ana is told, once
    run.advance_to(9, BOGOTA, weekday=True)
    before = len(ana.received())
    assert carla.online().status == 200
    assert ana.texts()[before:] == [TEXTS.agent_available]
    run.tick()
    run.tick()
    assert len(ana.received()) == before + 1

    # Carla takes it, reads everything, replies; the bot is not asked while she has it
    assert carla.take(waiting["id"]).status == 200
    lines = carla.read(waiting["id"]).json()["transcript"]
    user_lines = [line["text"] for line in lines if line["author"] == "user"]
    assert user_lines == [
        "Hola",
        es["buttons"][2],
        TEXTS.offer_yes,
        es["buttons"][0],
        "Quiero hablar con un agente",
    ]
    bot_lines = [line["text"] for line in lines if line["author"] == "bot"]
    assert es["menu"] in bot_lines and es["/hours"] in bot_lines and es["handoff"] in bot_lines
    assert carla.reply(waiting["id"], "Hola Ana, soy Carla").status == 200
    assert ana.texts()[-1] == "Hola Ana, soy Carla"
    before = len(ana.received())
    ana.says("Mi pedido no llegó")
    assert len(ana.received()) == before
    assert len(bot.requests) == 4
    assert carla.close(waiting["id"]).status == 200
    assert carla.conversations() == []

    # The chat report: the first session transferred, the second was the chat while waiting
    rows = report()
    assert [(r["session"], r["resolution"], r["after_hours"]) for r in rows] == [
        (1, "transferred", True),
        (2, "while_waiting", False),
    ]
    assert rows[0]["offered"] and rows[0]["accepted"] and not rows[0]["direct"]
    assert rows[1]["handoff_repeated"] and rows[1]["while_waiting"]

    # After the close, her next message starts a new bot session with the bot
    ana.says("Gracias")
    assert ana.texts()[-1] == es["menu"]
    assert bot.messages()[4:] == ["Gracias"] and bot.sessions()[4:] == [3]

    # The bot never got the answer to the offer, nor anything said while an agent had her
    assert not set(bot.messages()) & {*ANSWERS, "Mi pedido no llegó"}
    assert run.dead_letters() == 0


def test_a_direct_handoff_asks_the_bot_nothing_while_the_user_waits(
    tmp_path, example, start_example, local_run
):
    url, bot = start_example()
    run = local_run(config_for(tmp_path, url, direct=True))
    es = example.TEXTS["es"]
    at_night(run)
    user = WhatsAppUser(run, "573002220002", name="Beto")
    user.says("Hola")
    user.taps("/agent", es["buttons"][2])
    user.taps(YES_PAYLOAD, TEXTS.offer_yes)
    assert user.texts()[-1] == f"{TEXTS.attention} Tu lugar en la fila: 1."
    asked = bot.messages()
    assert asked == ["Hola", "/agent"]

    before = len(user.received())
    user.says("¿Hola? ¿Hay alguien?")
    user.taps("/hours", es["buttons"][0])  # a button of the bot's earlier menu, tapped while waiting
    user.says("Quiero un agente")

    assert bot.messages() == asked  # the bot was asked nothing
    assert len(user.received()) == before  # and nothing was said in its name
    carla = Agent(run, "carla")
    [waiting] = carla.conversations()
    assert waiting["direct"] and waiting["on_hold"]
    kept = [
        line["text"] for line in carla.read(waiting["id"]).json()["transcript"] if line["author"] == "user"
    ]
    assert kept[-3:] == ["¿Hola? ¿Hay alguien?", es["buttons"][0], "Quiero un agente"]  # kept for Carla
    assert run.dead_letters() == 0


# --- a bot that fails --------------------------------------------------------------------------


def test_a_bot_that_fails_twice_answers_both_messages_in_order_exactly_once(tmp_path, flaky, local_run):
    bot = flaky("status", failures=2)
    run = local_run(config_for(tmp_path, bot.url, http={"timeout_seconds": 0.3}))
    assert settings().bot_attempts == 3  # template.yaml's Globals
    user = WhatsAppUser(run, "573002220003")
    # two messages in one delivery: one FIFO group, in order
    user.send(_text(user, "primero"), _text(user, "segundo"))

    assert bot.log.messages() == ["primero", "primero", "primero", "segundo"]
    assert [r.status for r in bot.log.requests] == [500, 500, 200, 200]
    assert user.texts() == ["Recibido: primero", "Recibido: segundo"]
    assert [text for author, text in transcript(user) if author == "user"] == ["primero", "segundo"]
    assert run.dead_letters() == 0
    assert run.drain() == 0  # nothing left to redeliver


@pytest.mark.parametrize("failure", ["status", "slow", "malformed"])
def test_a_bot_that_never_answers_is_tried_bot_attempts_times_then_the_user_is_told(
    tmp_path, flaky, local_run, failure
):
    bot = flaky(failure, failures=None)
    run = local_run(config_for(tmp_path, bot.url, http={"timeout_seconds": 0.3}))
    attempts = settings().bot_attempts
    assert attempts == 3
    user = WhatsAppUser(run, "573002220004")

    user.says("Hola, ¿abren mañana?")

    assert bot.log.messages() == ["Hola, ¿abren mañana?"] * attempts
    assert user.texts() == [TEXTS.bot_unavailable]  # the tenant's own text, once
    lines = transcript(user)
    assert ("user", "Hola, ¿abren mañana?") in lines  # the message is kept
    assert run.dead_letters() == 0
    assert run.drain() == 0
    assert len(bot.log.requests) == attempts  # not tried again after the last try


def _text(user: WhatsAppUser, text: str) -> dict[str, Any]:
    user.run.advance(1)
    return payloads.whatsapp_text(user.wa_id, text, user.now())


# --- a signed bot with an API key ----------------------------------------------------------------


def test_a_signed_bot_gets_a_valid_signature_and_its_api_key(tmp_path, example, start_example, local_run):
    url, bot = start_example(secret=SECRET)  # the example answers 401 to a wrong signature
    config = config_for(tmp_path, url, http={"signed": True, "headers": {"X-Api-Key": "api-key"}})
    run = local_run(config)
    assert run.stack is not None
    ssm = boto3.client("ssm", region_name=run.stack.region)
    prefix = run.stack.parameter_prefix
    assert prefix == settings().parameter_prefix  # template.yaml's Globals
    ssm.put_parameter(Name=f"{prefix}/bots/acme/secret", Value=SECRET, Type="SecureString")
    ssm.put_parameter(Name=f"{prefix}/bots/acme/api-key", Value=API_KEY, Type="SecureString")
    user = WhatsAppUser(run, "573002220005")

    user.says("Hola")

    [request] = bot.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-handoff-signature"] == expected
    assert request.headers["x-api-key"] == API_KEY
    assert request.status == 200
    assert user.texts() == [example.TEXTS["es"]["menu"]]
