"""The bot port: what the engine asks the tenant's bot, and the bot's answer.

The engine never calls a bot. When a user's message is for the bot, the engine says so with a
`BotQuestion` (see `engine.facts`); the shell puts it to the tenant's bot, whatever bot that is
and whatever I/O it takes, and hands the `BotTurn` back in as a fact.
"""

from __future__ import annotations

from typing import Literal, Protocol

from handoff.config.models import Channel, Language
from handoff.engine.model import Frozen, MessageKind, Option


class BotQuestion(Frozen):
    """A user's message for the bot, with what a bot may want to know about it."""

    fact: Literal["bot_turn"] = "bot_turn"
    text: str
    """What the user wrote (for a tapped button, its title)."""
    payload: str | None = None
    """The payload of the button the user tapped: a bot's own button sends it back to the bot."""
    language: Language
    channel: Channel
    event_id: str
    kind: MessageKind
    session: int
    """The number of the conversation's bot session this message belongs to (1, 2, ...)."""
    session_id: str
    """An opaque id of that bot session, stable through it (a bot's `sender`): no user id in it."""
    user_name: str | None = None


class BotMessage(Frozen):
    """One message of a bot's answer: a text, with buttons when the bot offers a choice."""

    text: str
    options: tuple[Option, ...] = ()


class BotTurn(Frozen):
    """The bot's answer to one user message: its messages in order, and whether it asks for a handoff
    (the messages before the request are said first). `failed`: the bot did not answer, after every
    retry; the user is told so."""

    messages: tuple[BotMessage, ...] = ()
    handoff: bool = False
    intent: str | None = None
    failed: bool = False

    @property
    def text(self) -> str | None:
        """The turn's texts, one paragraph each; None when it says nothing."""
        return "\n\n".join(message.text for message in self.messages) or None

    @classmethod
    def saying(cls, text: str | None, *, handoff: bool = False, intent: str | None = None) -> BotTurn:
        """A turn of at most one plain text (what the built-in intent bot answers)."""
        return cls(messages=(BotMessage(text=text),) if text else (), handoff=handoff, intent=intent)


class BotUnavailable(Exception):
    """The bot did not answer usably (timeout, refused connection, 5XX, an answer of the wrong shape,
    throttled, access denied): the message is retried, and after the last try the user is told."""


class Bot(Protocol):
    def answer(self, question: BotQuestion) -> BotTurn:
        """The bot's turn; BotUnavailable when it could not answer."""
        ...
