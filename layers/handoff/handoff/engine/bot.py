"""The bot port: what the engine asks the tenant's bot, and the bot's answer.

The engine never calls a bot. When a user's message is for the bot, the engine says so with a
`BotQuestion` (see `engine.facts`); the shell puts it to the tenant's bot, whatever bot that is
and whatever I/O it takes, and hands the `BotTurn` back in as a fact.
"""

from __future__ import annotations

from typing import Literal, Protocol

from handoff.config.models import Channel, Language
from handoff.engine.model import Frozen, MessageKind


class BotQuestion(Frozen):
    """A user's message for the bot, with what a bot may want to know about it."""

    fact: Literal["bot_turn"] = "bot_turn"
    text: str
    language: Language
    channel: Channel
    event_id: str
    kind: MessageKind
    session: int
    """The number of the conversation's bot session this message belongs to (1, 2, ...)."""
    user_name: str | None = None


class BotTurn(Frozen):
    """The bot's answer to one user text. `handoff` means the bot asks to hand the user to Live."""

    text: str | None = None
    handoff: bool = False
    intent: str | None = None


class Bot(Protocol):
    def answer(self, question: BotQuestion) -> BotTurn: ...
