"""The stored records of Live's queue and chats that the chat report joins to its rows; Live's views
read the chat records too (the closed view), without loading the report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from handoff.engine.model import ChatOutcome


class WaitRecord(BaseModel):
    """A stored wait record (`REPORT#{tenant}` / `WAIT#...`): a stretch in Live's queue that ended."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")

    conversation_id: str
    queued_at: datetime
    ended_at: datetime
    outcome: Literal["taken", "closed", "expired"]
    on_hold: bool
    woken: bool = False
    returned: bool = False
    """The stretch began when an agent put the conversation back in the queue (`queued_at` is that
    instant): it follows no bot session's transfer, so no report row joins it."""


class ChatRecord(BaseModel):
    """A stored chat record (`REPORT#{tenant}` / `CHAT#...`): a chat an agent took, that ended."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")

    conversation_id: str
    taken_at: datetime
    ended_at: datetime
    outcome: ChatOutcome
    agent_id: str | None = None
    """Who had the chat and ended it (closed it, handed it over or put it back in the queue); the
    agent who held it for a chat closed idle. None in records stored before agents were kept."""
    agent_name: str | None = None
    """That agent's display name when the chat ended (None in records stored before names were kept)."""
