"""The bot behind the conversation: anything that answers a text and may ask for a handoff."""

from __future__ import annotations

from typing import Protocol

from handoff.config.models import Language
from handoff.engine.model import Frozen


class BotTurn(Frozen):
    """The bot's answer to one user text. `handoff` means the bot asks to hand the user to Live."""

    text: str | None = None
    handoff: bool = False
    intent: str | None = None


class Assistant(Protocol):
    def respond(self, text: str, language: Language) -> BotTurn: ...
