"""The time windows every part reads alike: the wait's 24 hours, Meta's messaging windows.

The engine decides with them, the wake pass picks the conversations to expire with them, and Live
shows agents when each window closes: one definition, so what Live shows is what the engine does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from handoff.config.models import Channel
from handoff.engine.model import Conversation

INACTIVITY_LIMIT = timedelta(hours=24)
"""A queued conversation with no user or agent message for this long leaves the queue (step 7)."""

MESSAGING_WINDOW = timedelta(hours=24)
"""Meta accepts free-form automated messages only this long after the user's last message."""

HUMAN_AGENT_WINDOW: dict[Channel, timedelta] = {
    "whatsapp": MESSAGING_WINDOW,
    "messenger": timedelta(days=7),
    "instagram": timedelta(days=7),
    "web": MESSAGING_WINDOW,
}
"""How long after the user's last message a person may still answer: on Messenger and Instagram,
with the HUMAN_AGENT tag; WhatsApp makes no exception for people (a template is needed)."""

AgentMaySend = Literal["text", "template", "nothing"]
"""What an agent may send now: free text, only an approved template (WhatsApp past its 24 hours),
or nothing at all until the user writes again (Messenger and Instagram past their 7 days)."""

STALE_MESSAGE_AGE = timedelta(hours=24)
"""A message this old is a redelivery of a backlog: kept in the transcript, never answered."""


def wait_expires_at(conversation: Conversation) -> datetime | None:
    """When a queued conversation's wait ends if nobody writes: 24 hours after its last activity."""
    last = conversation.last_activity_at or conversation.queued_at
    if conversation.state != "queued" or last is None:
        return None
    return last + INACTIVITY_LIMIT


def is_expired(conversation: Conversation, now: datetime) -> bool:
    """A queued conversation whose last user or agent message is 24 hours old or more."""
    expires_at = wait_expires_at(conversation)
    return expires_at is not None and now >= expires_at


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When automated messages stop reaching the user (24 hours after their last message)."""
    last = conversation.last_user_message_at
    return last + MESSAGING_WINDOW if last is not None else None


def chat_closes_at(conversation: Conversation, idle_after: timedelta) -> datetime | None:
    """When a chat an agent took is closed for want of activity: `idle_after` its last message,
    and never before the agent's reply window closes (nothing is kept forever, no answer is cut)."""
    if conversation.state != "with_agent":
        return None
    last = conversation.last_activity_at or conversation.taken_at
    if last is None:
        return None
    closes_at = last + idle_after
    reply_closes = reply_window_closes_at(conversation)
    return max(closes_at, reply_closes) if reply_closes is not None else closes_at


def reply_window_closes_at(conversation: Conversation) -> datetime | None:
    """When an agent's free text stops reaching the user (WhatsApp 24 hours; Meta platform 7 days)."""
    last = conversation.last_user_message_at
    return last + HUMAN_AGENT_WINDOW[conversation.ref.channel] if last is not None else None


def window_open(conversation: Conversation, now: datetime) -> bool:
    """Whether a free-form automated message can still reach the user on the channel."""
    closes_at = window_closes_at(conversation)
    return closes_at is not None and now < closes_at


def reply_window_open(conversation: Conversation, now: datetime) -> bool:
    """Whether an agent's free text can still reach the user (see `reply_window_closes_at`)."""
    closes_at = reply_window_closes_at(conversation)
    return closes_at is not None and now < closes_at


def agent_may_send(conversation: Conversation, now: datetime) -> AgentMaySend:
    """What an agent may send the user now: the engine refuses anything else, and Live shows it to
    agents before they write (the console offers the template picker on `template`)."""
    if reply_window_open(conversation, now):
        return "text"
    return "template" if conversation.ref.channel == "whatsapp" else "nothing"
