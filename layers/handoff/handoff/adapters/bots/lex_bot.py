"""A tenant's Amazon Lex V2 bot, asked with RecognizeText; one attempt per question (the inbound
queue's redelivery retries, as for every bot).

The request is `RecognizeText(botId, botAliasId, localeId, sessionId, text)`:

- `localeId` is the bot's locale for the conversation's language (`locales`), else the first
  locale configured (a conversation in a language the bot does not speak still gets an answer);
- `sessionId` is the bot session's opaque id (32 hex digits: no user id), so Lex keeps its dialog
  state, slots and session attributes per bot session;
- `text` is the payload of the button the user tapped (a Lex card's button value), else what the
  user wrote, cut to the 1024 characters Lex accepts; with neither there is nothing to ask and the
  turn is silent.

The answer's `messages` become the turn's messages, in order: `PlainText`, `SSML` and
`CustomPayload` by their `content` (empty ones skipped); an `ImageResponseCard` is its title and
subtitle (one per line) with its buttons as options (`text` shown, `value` sent back). The turn
asks for a handoff when the session's intent is the configured `handoff_intent`, or when the bot
sets the session attribute `handoff` to `true` (any case); its `intent` is the session's intent.

Every error of the call (a `ClientError`: throttled, access denied, no such bot or alias, a Lambda
hook that failed, Lex's 5XX; or a `BotoCoreError`: timeout, no connection) raises `BotUnavailable`
with `lex: <error code>`, which names no user and holds nothing the user wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handoff.adapters.clients import client
from handoff.config.models import LexBot as LexBotConfig
from handoff.engine.bot import BotMessage, BotQuestion, BotTurn, BotUnavailable
from handoff.engine.model import Option
from handoff.observability import logger as log

SERVICE = "lexv2-runtime"
MAX_TEXT = 1024
"""RecognizeText's longest `text`: a longer message is cut there (the bot reads its beginning)."""
HANDOFF_ATTRIBUTE = "handoff"
TEXT_CONTENT_TYPES = frozenset({"PlainText", "SSML", "CustomPayload"})
CARD = "ImageResponseCard"


class LexBot:
    """The engine's bot port over a Lex V2 bot alias (see the module's docstring)."""

    def __init__(self, config: LexBotConfig) -> None:
        self.config = config

    def locale(self, question: BotQuestion) -> str:
        """The bot's locale for the question's language, else the first one configured."""
        return self.config.locales.get(question.language) or next(iter(self.config.locales.values()))

    def answer(self, question: BotQuestion) -> BotTurn:
        text = (question.payload or question.text)[:MAX_TEXT]
        if not text.strip():
            log.info("nothing to ask the Lex bot: the message has no text")
            return BotTurn()
        try:
            response = client(SERVICE).recognize_text(
                botId=self.config.bot_id,
                botAliasId=self.config.bot_alias_id,
                localeId=self.locale(question),
                sessionId=question.session_id,
                text=text,
            )
        except ClientError as error:
            raise BotUnavailable(f"lex: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise BotUnavailable(f"lex: {type(error).__name__}") from error
        return self.turn(response)

    def turn(self, response: Mapping[str, Any]) -> BotTurn:
        """The turn a RecognizeText response says."""
        messages = tuple(
            message for item in response.get("messages") or () if (message := _message(item)) is not None
        )
        state = response.get("sessionState") or {}
        intent = (state.get("intent") or {}).get("name") or None
        attributes = state.get("sessionAttributes") or {}
        asked = str(attributes.get(HANDOFF_ATTRIBUTE, "")).strip().lower() == "true"
        handoff = asked or (self.config.handoff_intent is not None and intent == self.config.handoff_intent)
        if handoff:
            log.info("the Lex bot asks for a handoff", extra={"intent": intent})
        return BotTurn(messages=messages, handoff=handoff, intent=intent)


def _message(item: Mapping[str, Any]) -> BotMessage | None:
    """One Lex message as the port's message; None for an empty one or a content type it has not."""
    content_type = item.get("contentType")
    if content_type in TEXT_CONTENT_TYPES:
        text = (item.get("content") or "").strip()
        return BotMessage(text=text) if text else None
    if content_type == CARD:
        card = item.get("imageResponseCard") or {}
        text = "\n".join(
            part.strip() for part in (card.get("title"), card.get("subtitle")) if part and part.strip()
        )
        options = tuple(
            Option(title=button["text"], payload=button["value"]) for button in card.get("buttons") or ()
        )
        return BotMessage(text=text, options=options) if text else None  # Lex requires a title
    log.info("skipped a Lex message of an unknown content type", extra={"content_type": content_type})
    return None


def _error_code(error: ClientError) -> str:
    """The service's error code (ThrottlingException, AccessDeniedException, ...)."""
    return str(error.response.get("Error", {}).get("Code") or "ClientError")
