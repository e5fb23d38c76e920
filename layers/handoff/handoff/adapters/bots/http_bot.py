"""A tenant's bot over HTTP, in Rasa's REST channel format (Rasa's /webhooks/rest/webhook or any bot
that speaks it); one attempt per question, as the Graph API client does.

The request is `POST {url}`, `Content-Type: application/json`, with the body

    {"sender": <the bot session's opaque id>,
     "message": <the payload of the button the user tapped, else what the user wrote>,
     "metadata": {"channel", "language", "conversation_id", "session", "message_id", "kind",
                  "user_name" (only when known)}}

serialised once: when the tenant's bot is `signed`, `X-Handoff-Signature: sha256=<hex>` is the
HMAC-SHA256 of exactly those bytes, keyed by the tenant's SSM parameter `secret`; each configured
header carries the value of the SSM parameter it names (an API key). urllib3 never retries and never
follows a redirect: a failed question is retried by the inbound queue's redelivery.

The answer is a 200 with a JSON list of messages, each an object with any of `text`, `buttons`
(`[{"title", "payload"}]`), `image` (a URL) and `custom` (an object); other keys (Rasa's
`recipient_id`, `attachment`, ...) are ignored. In order, the messages become the turn's messages:

- `text` is a message; with `buttons`, a message with those options (titles and the number of
  buttons are passed as they are: the channel's renderer fits them to the channel).
- `image` is a message whose text is the image's URL: the channels send texts, and a URL is one
  the user can open (a message with both `text` and `image` is two messages, the text first).
- `buttons` without a `text` belong to the message before them when that is a text without buttons
  of its own (some bots send the question and its buttons apart); otherwise the answer is malformed.
- `{"custom": {"handoff": true}}` (exactly `true`) asks for a handoff: what came before it, and the
  `text`, `image` or `buttons` of the same message, are said first; every message after it is
  ignored, not even read (a malformed one there does not keep the user from a person). Any other
  `custom` is ignored.
- empty texts and messages with nothing of the above are skipped; an empty list is silence.

Anything else raises `BotUnavailable` with a short reason that holds no personal data (no text, no
URL): a timeout, no connection, a status other than 200, a body that is not JSON, not a list, or of
the wrong shape (text not a string, buttons not a list of `{title, payload}` non-empty strings,
custom not an object, ...).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import socket
from collections.abc import Callable
from typing import Any

import urllib3
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from handoff.config.models import HttpBot as HttpBotConfig
from handoff.engine.bot import BotMessage, BotQuestion, BotTurn, BotUnavailable
from handoff.engine.model import Option
from handoff.observability import logger as log

SIGNATURE_HEADER = "X-Handoff-Signature"
SECRET_PARAMETER = "secret"
MAX_ANSWER_BYTES = 1024 * 1024
"""A larger answer is refused rather than read: no bot says a megabyte in one turn."""


# --- the answer's shape ----------------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", strict=True, frozen=True)


class RasaButton(_Answer):
    title: str = Field(min_length=1)
    payload: str = Field(min_length=1)


class RasaMessage(_Answer):
    """One message of Rasa's REST answer (`null` is read as absent)."""

    text: str | None = None
    buttons: list[RasaButton] | None = None
    image: str | None = None
    custom: dict[str, Any] | None = None


RASA_ANSWER: TypeAdapter[list[RasaMessage]] = TypeAdapter(
    list[RasaMessage], config=ConfigDict(defer_build=True)
)


# --- the bot -----------------------------------------------------------------------------------------


@functools.cache
def _pool() -> urllib3.PoolManager:
    """The process's one pool of connections to bots, made on first use."""
    return urllib3.PoolManager(retries=False, maxsize=4)


class HttpBot:
    """The bot port over HTTP, for one conversation; `parameter(name)` reads the tenant's SSM
    parameter `name` (under `{prefix}/bots/{tenant}/`, bound by the caller)."""

    def __init__(
        self, config: HttpBotConfig, *, conversation_id: str, parameter: Callable[[str], str]
    ) -> None:
        self.config = config
        self.conversation_id = conversation_id
        self.parameter = parameter

    def answer(self, question: BotQuestion) -> BotTurn:
        # a failure is logged once, by the shell, with the bot's kind and the reason (no personal data)
        body = self.body(question)
        turn = bot_turn(self._post(body, self.headers(body)))
        log.debug("the bot answered", extra={"messages": len(turn.messages), "handoff": turn.handoff})
        return turn

    def body(self, question: BotQuestion) -> bytes:
        """The request body, serialised once: the signature is of exactly these bytes."""
        metadata: dict[str, Any] = {
            "channel": question.channel,
            "language": question.language,
            "conversation_id": self.conversation_id,
            "session": question.session,
            "message_id": question.event_id,
            "kind": question.kind,
        }
        if question.user_name is not None:
            metadata["user_name"] = question.user_name
        message = {
            "sender": question.session_id,
            "message": question.payload if question.payload else question.text,
            "metadata": metadata,
        }
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.signed:
            key = self._parameter(SECRET_PARAMETER).encode()
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        for header, name in self.config.headers.items():
            headers[header] = self._parameter(name)
        return headers

    def _parameter(self, name: str) -> str:
        try:
            return self.parameter(name)
        except Exception as exc:  # throttled, access denied, missing: the question is retried
            raise BotUnavailable(f"parameter {name} unavailable ({type(exc).__name__})") from exc

    def _post(self, body: bytes, headers: dict[str, str]) -> bytes:
        seconds = self.config.timeout_seconds
        try:
            response = _pool().request(
                "POST",
                self.config.url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=seconds, read=seconds),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                data = response.read(MAX_ANSWER_BYTES + 1)
            except BaseException:
                response.close()
                raise
        except NewConnectionError as exc:  # before its base class, ConnectTimeoutError
            raise BotUnavailable(_no_connection(exc)) from exc
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise BotUnavailable(f"timeout after {seconds:g} s") from exc
        except SSLError as exc:
            raise BotUnavailable("TLS handshake failed") from exc
        except ProtocolError as exc:
            raise BotUnavailable("connection dropped") from exc
        except HTTPError as exc:
            raise BotUnavailable(f"no answer ({type(exc).__name__})") from exc
        if len(data) > MAX_ANSWER_BYTES:
            response.close()  # the rest is left unread: this connection is not used again
            raise BotUnavailable("answer larger than 1 MiB")
        response.release_conn()
        if response.status != 200:
            raise BotUnavailable(f"HTTP {response.status}")
        return data


def _no_connection(exc: NewConnectionError) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "host not found"
    return "no connection"


# --- from Rasa's answer to the port's turn --------------------------------------------------------


def bot_turn(data: bytes) -> BotTurn:
    """The turn a bot's 200 answer says (module docstring); BotUnavailable when it is malformed."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise BotUnavailable("answer is not JSON") from exc
    if not isinstance(value, list):
        raise BotUnavailable("answer is not a JSON list")
    handoff_at = _handoff_index(value)
    try:
        answer = RASA_ANSWER.validate_python(value[: handoff_at + 1])  # what follows is ignored
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        raise BotUnavailable(f"answer is malformed at {where}: {error['msg']}") from exc

    messages: list[BotMessage] = []
    takes_buttons = False  # whether the last message is a text that may still get buttons
    for index, message in enumerate(answer):
        text = message.text if message.text and message.text.strip() else None
        options = tuple(Option(title=b.title, payload=b.payload) for b in message.buttons or ())
        if text is not None:
            messages.append(BotMessage(text=text, options=options))
            takes_buttons = not options
        elif options:
            if not takes_buttons:
                raise BotUnavailable(f"answer is malformed at [{index}].buttons: no text to go with")
            messages[-1] = messages[-1].model_copy(update={"options": options})
            takes_buttons = False
        if message.image and message.image.strip():
            # The channels send texts: an image is sent as its URL, which the user can open.
            messages.append(BotMessage(text=message.image.strip()))
            takes_buttons = False
    return BotTurn(messages=tuple(messages), handoff=handoff_at < len(value))


def _handoff_index(messages: list[Any]) -> int:
    """The index of the first message with `"custom": {"handoff": true}`, else the list's length."""
    for index, message in enumerate(messages):
        custom = message.get("custom") if isinstance(message, dict) else None
        if isinstance(custom, dict) and custom.get("handoff") is True:
            return index
    return len(messages)
