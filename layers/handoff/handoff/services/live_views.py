"""Live's views of the conversation list: the queue, the agent's own chats, everything in Live, and
the chats closed lately; filtered by channel and searched by the user's name or the transcript.

The three views of Live read one `Query` on the `live` index, as the plain list does. The closed
view reads the chat records of the report (`REPORT#{tenant}` / `CHAT#…`) and loads the
conversations they name. Transcripts are read only for a search, and only as far as the bounds
below: a list answers in one request however many conversations the tenant has.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from handoff.config.models import TenantConfig
from handoff.engine.model import Conversation
from handoff.reports.records import ChatRecord
from handoff.services.live import ConversationSummary, summarize

if TYPE_CHECKING:
    from handoff.store.conversation_store import ConversationStore
    from handoff.store.directory import Directory

LiveView = Literal["queue", "mine", "all", "closed"]
LiveChannel = Literal["whatsapp", "messenger", "instagram"]
ClosedOutcome = Literal["closed", "closed_idle"]

MAX_SEARCH_CHARS = 100
"""The longest search text a list takes."""
MAX_CLOSED_LISTED = 100
"""The closed view lists at most this many conversations, the latest closed first."""
MAX_SEARCHED_TRANSCRIPTS = 100
"""A search reads the transcripts of at most this many conversations of the view, in its order;
those after them match by the user's name only."""
MAX_SEARCHED_LINES = 200
"""Of each transcript a search reads, the newest this many lines; older lines are not searched."""

CLOSED_OUTCOMES: tuple[ClosedOutcome, ...] = ("closed", "closed_idle")
IN_LIVE = ("queued", "with_agent")


class ListedConversation(ConversationSummary):
    """A conversation as a list shows it; in the closed view, with how its latest chat ended."""

    closed_at: datetime | None = Field(
        default=None, description="the closed view: when the chat ended (null in the other views)"
    )
    closed_by: str | None = Field(
        default=None,
        description="the closed view: the agent whose chat it was (who closed it, or who held it when "
        "it was closed for inactivity); null for a chat stored before agents were kept",
    )
    closed_by_name: str | None = Field(
        default=None, description="the closed view: that agent's display name when the chat ended"
    )
    chat_outcome: ClosedOutcome | None = Field(
        default=None,
        description="the closed view: `closed` by the agent, or `closed_idle` after the tenant's "
        "`close_idle_chats_after_days` without a message",
    )


MAX_LISTED = 500
"""The most conversations one list answers; the default is `DEFAULT_LISTED`."""
DEFAULT_LISTED = 100
"""Conversations a list answers when the request names no `limit`: the queue's first, then the rest."""


class LiveCounts(BaseModel, defer_build=True):
    queue: int = Field(description="users waiting in Live's queue (whatever the view, channel or search)")
    mine: int = Field(description="the calling agent's chats")
    all: int = Field(description="conversations in Live: waiting or with an agent")


class ConversationList(BaseModel, defer_build=True):
    conversations: list[ListedConversation] = Field(
        description="the view's first `limit` conversations, in its order (queue, all: the queue "
        "first, the longest waiting first; closed: the latest closed first)"
    )
    total: int = Field(description="how many the view has in all (past `limit`, the list stops)")
    counts: LiveCounts = Field(description="the tabs' counts, over the whole of Live")


class LiveViews:
    def __init__(self, store: ConversationStore, directory: Directory, now: Callable[[], datetime]) -> None:
        self.store = store
        self.directory = directory
        self.now = now

    def conversations(
        self,
        tenant_id: str,
        agent_id: str,
        view: LiveView = "all",
        channel: LiveChannel | None = None,
        search: str | None = None,
        in_live: list[Conversation] | None = None,
    ) -> list[ListedConversation]:
        """The view's conversations of the tenant, of one channel if asked, matching the search (its
        text trimmed; a blank one searches nothing)."""
        tenant = self.directory.tenant(tenant_id) or TenantConfig(tenant_id=tenant_id)
        now = self.now()
        if view == "closed":
            listed = self._closed(tenant, now)
        else:
            in_live = self.store.in_live(tenant_id) if in_live is None else in_live
            listed = [(c, None) for c in in_live if _in_view(c, view, agent_id)]
        if channel is not None:
            listed = [(c, chat) for c, chat in listed if c.ref.channel == channel]
        needle = searchable(search or "")
        if needle:
            listed = self._matching(listed, needle)
        idle_days = tenant.close_idle_chats_after_days
        return [_listed(c, chat, now, idle_days) for c, chat in listed]

    def page(
        self,
        tenant_id: str,
        agent_id: str,
        view: LiveView = "all",
        channel: LiveChannel | None = None,
        search: str | None = None,
        limit: int = DEFAULT_LISTED,
    ) -> ConversationList:
        """The view's first `limit` conversations, how many it has, and Live's counts: an answer
        whose size does not grow with Live (an agent's console asks for it every few seconds)."""
        in_live = self.store.in_live(tenant_id)  # one read for the view and the counts
        listed = self.conversations(tenant_id, agent_id, view, channel, search, in_live)
        if view != "closed":
            listed.sort(key=_place)
        counts = LiveCounts(
            queue=sum(c.state == "queued" for c in in_live),
            mine=sum(_in_view(c, "mine", agent_id) for c in in_live),
            all=len(in_live),
        )
        return ConversationList(conversations=listed[:limit], total=len(listed), counts=counts)

    def tag(self, listing: ConversationList) -> str:
        """The list's entity tag now (`list_etag`), by the service's clock."""
        return list_etag(listing, self.now())

    def _closed(self, tenant: TenantConfig, now: datetime) -> list[tuple[Conversation, ChatRecord | None]]:
        """The conversations whose latest chat an agent closed (or that was closed idle) in the
        tenant's `closed_readable_days`, the latest closed first; not those back in Live since."""
        since = now - timedelta(days=tenant.closed_readable_days)
        # chat records sort by when the chat was taken: one closed idle was taken at most
        # close_idle_chats_after_days before its last message
        taken_since = since - timedelta(days=tenant.close_idle_chats_after_days)
        latest: dict[str, ChatRecord] = {}
        for chat in self.store.chats(tenant.tenant_id, taken_since, now):
            if chat.outcome not in CLOSED_OUTCOMES or chat.ended_at < since:
                continue
            seen = latest.get(chat.conversation_id)
            if seen is None or chat.ended_at > seen.ended_at:
                latest[chat.conversation_id] = chat
        newest = sorted(latest.values(), key=lambda c: (c.ended_at, c.conversation_id), reverse=True)
        found: list[tuple[Conversation, ChatRecord | None]] = []
        for chat in newest[:MAX_CLOSED_LISTED]:
            conversation = self.store.load_id(chat.conversation_id)  # None: erased, or expired
            if (
                conversation is not None
                and conversation.ref.tenant_id == tenant.tenant_id
                and conversation.state not in IN_LIVE
            ):
                found.append((conversation, chat))
        return found

    def _matching(
        self, listed: Iterable[tuple[Conversation, ChatRecord | None]], needle: str
    ) -> list[tuple[Conversation, ChatRecord | None]]:
        found = []
        transcripts_read = 0
        for conversation, chat in listed:
            if needle in searchable(conversation.user_name or ""):
                found.append((conversation, chat))
            elif transcripts_read < MAX_SEARCHED_TRANSCRIPTS:
                transcripts_read += 1
                lines = self.store.latest_lines(conversation.ref, MAX_SEARCHED_LINES)
                if any(needle in searchable(line.text or "") for line in lines):
                    found.append((conversation, chat))
        return found


def searchable(text: str) -> str:
    """A text as a search compares it: without accents, case-folded, its spaces collapsed to one."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare.casefold()).strip()


_SPACES = re.compile(r"\s+")


def _place(listed: ListedConversation) -> tuple[bool, datetime]:
    """Live's order: the queue first, the longest waiting first; then the chats, in the order the
    live index gives them (when they were taken: the sort is stable)."""
    if listed.state == "queued" and listed.queued_at is not None:
        return (False, listed.queued_at)
    return (True, datetime.min.replace(tzinfo=UTC))


def _in_view(conversation: Conversation, view: LiveView, agent_id: str) -> bool:
    if view == "queue":
        return conversation.state == "queued"
    if view == "mine":
        return conversation.state == "with_agent" and conversation.agent_id == agent_id
    return True


def _listed(
    conversation: Conversation, chat: ChatRecord | None, now: datetime, idle_days: int
) -> ListedConversation:
    summary = summarize(conversation, now, idle_days)
    if chat is None:
        return ListedConversation(**summary.model_dump())
    return ListedConversation(
        **summary.model_dump(),
        closed_at=chat.ended_at,
        closed_by=chat.agent_id,
        closed_by_name=chat.agent_name,
        chat_outcome=_closed_outcome(chat),
    )


def _closed_outcome(chat: ChatRecord) -> ClosedOutcome | None:
    if chat.outcome == "closed" or chat.outcome == "closed_idle":
        return chat.outcome
    return None


def list_etag(listing: ConversationList, now: datetime) -> str:
    """The list's entity tag: the same while nothing in it changed within the minute.

    How long each user has waited (`waited_seconds`) moves every second and is left out; the minute
    is put in, so a console that is told "not modified" gets the list again at least once a minute
    (its waits and windows, reckoned by the server's clock, are then at most a minute old)."""
    data = listing.model_dump(mode="json")
    for conversation in data["conversations"]:
        conversation.pop("waited_seconds", None)
    minute = now.astimezone(UTC).replace(second=0, microsecond=0).isoformat()
    digest = hashlib.sha256(json.dumps([minute, data], sort_keys=True).encode()).hexdigest()
    return f'"{digest[:32]}"'


def unchanged(if_none_match: str | None, etag: str) -> bool:
    """Whether a request's `If-None-Match` names `etag` (a list of tags, weak ones too, or `*`)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
