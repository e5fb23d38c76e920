"""The wake pass: tell waiting users an agent is available, end waits 24 hours idle, close idle chats.

Users are told in the order they began to wait, as many as the online agents have free seats
(`wake_mode: capacity`, the default), or all at once (`wake_mode: everyone`).

It reads only what it needs, from sparse keys-only indexes (no Scan, no conversation read): the
waits that are over (`wait_expiry`), and the users to tell, the longest waiting first, no more than
there are free seats (`wake`; the seats from the chats agents hold and the users told and not taken
yet). It queues an event for each into its FIFO group; the engine decides, in order with the user's
own messages, so a user is told once and an expiry never races a message that just arrived. Told
all at once, a pass queues a page at a time until its invocation's time is nearly out, keeps where it
stopped and announces that it goes on (`WakePassContinues`): the next pass starts at once from there,
so 100,000 users take several passes, one after the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, get_args

from handoff.adapters.inbound_queue import enqueue
from handoff.config.models import Channel, TenantConfig
from handoff.engine.flow import in_business_hours
from handoff.engine.model import AgentsAvailable, Event, ExpiryCheck, Frozen, SessionCheck
from handoff.engine.seats import OnlineAgent, seats_left
from handoff.engine.windows import INACTIVITY_LIMIT, chat_closes_at
from handoff.observability import logger, pseudonym
from handoff.services.pacing import SEND_MARGIN, send_deadline
from handoff.store.conversation_store import ConversationStore
from handoff.store.directory import Directory

SWEEP_SHARE = 0.4
"""The part of a scheduled invocation's time kept for the outbox sweep that follows the pass."""
PAGE = 500
"""Users to tell read and queued at a time (`wake_mode: everyone`; a capacity pass reads its seats' worth)."""


class WakeSummary(Frozen):
    tenants: int = 0
    read: int = 0
    """Users to tell and waits over that the pass read from the indexes (not every waiting user)."""
    to_wake: int = 0
    to_expire: int = 0
    sessions_to_close: int = 0
    chats_to_close: int = 0
    cut_short: int = 0
    """Tenants whose users to tell the pass could not all queue in its time: the next goes on."""


def pass_until(now: datetime, remaining: timedelta, *, sweep_after: bool) -> datetime:
    """When a pass must stop queueing, in an invocation with `remaining` time left: at its end less a
    margin, or sooner when the outbox sweep runs after it in the same invocation."""
    usable = remaining - SEND_MARGIN
    return now + (usable * (1 - SWEEP_SHARE) if sweep_after else usable)


def wake_and_sweep(
    wake: WakePass,
    sweep_outbox: Callable[[datetime], int],
    tenant_id: str | None,
    now: Callable[[], datetime],
    remaining: Callable[[], timedelta],
) -> dict[str, Any]:
    """One invocation of the wake function: a pass over the tenant an event names (an agent came
    online, a pass goes on), or over every tenant on the minute's schedule, which then sweeps the
    outbox with the time the pass left (`pass_until`, `send_deadline`). `remaining`: the
    invocation's time left, read before each part."""
    scheduled = tenant_id is None
    until = pass_until(now(), remaining(), sweep_after=scheduled)
    summary = wake.run(None if tenant_id is None else [tenant_id], until=until)
    swept = sweep_outbox(send_deadline(now(), remaining())) if scheduled else 0
    return {**summary.model_dump(), "outbox_sent": swept}


class WakePass:
    def __init__(
        self,
        store: ConversationStore,
        directory: Directory,
        queue_url: str,
        now: Callable[[], datetime],
        go_on: Callable[[str], None] = lambda tenant_id: None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.queue_url = queue_url
        self.now = now
        self.go_on = go_on
        """Announces that a tenant's pass was cut short, so that the next starts at once."""

    def run(self, tenant_ids: list[str] | None = None, *, until: datetime | None = None) -> WakeSummary:
        """A pass over the given tenants (an agent came online), or over every tenant (the minute's
        schedule, which also closes the bot sessions of users silent for 24 hours). `until`: when it
        must stop queueing (its invocation's end, less a margin); where it stopped is kept, and the
        next pass goes on from there."""
        now = self.now()
        scheduled = tenant_ids is None
        tenants = tenant_ids if tenant_ids is not None else self.directory.tenant_ids()
        totals: Counter[str] = Counter()
        for tenant_id in tenants:
            expired = self.store.expired_waits(tenant_id, now)
            events: list[Event] = [
                ExpiryCheck(ref=w.ref, event_id=f"expire#{w.id}#{w.at}#{now:%Y%m%d%H%M}") for w in expired
            ]
            if scheduled:
                events += self._session_checks(tenant_id, now)
            if scheduled and now.minute == 0:
                events += self._idle_chat_checks(tenant_id, now)
            enqueue(self.queue_url, events)
            totals["read"] += len(expired)
            totals["to_expire"] += len(expired)
            totals["chats_to_close"] += sum(e.event_id.startswith("idle#") for e in events)
            totals["sessions_to_close"] += sum(isinstance(e, SessionCheck) for e in events)
            told, read, cut_short = self._tell(tenant_id, {w.id for w in expired}, now, until)
            totals["to_wake"] += told
            totals["read"] += read
            totals["cut_short"] += cut_short
        summary = WakeSummary(tenants=len(tenants), **totals)
        logger.info("wake pass", extra=summary.model_dump())
        return summary

    def _tell(
        self, tenant_id: str, expired: set[str], now: datetime, until: datetime | None
    ) -> tuple[int, int, bool]:
        """Queue an AgentsAvailable for each user to tell now, the longest waiting first: as many as
        there are free seats (`capacity`), or all (`everyone`), a page at a time while there is time.
        Returns how many were queued and read, and whether time ran out first."""
        tenant = self.directory.tenant(tenant_id)
        if tenant is None or not self.directory.any_agent_online(tenant_id, now):
            return 0, 0, False
        open_channels = {
            channel
            for channel in get_args(Channel)
            if (rule := tenant.rule_for(channel)) is not None and in_business_hours(rule, now)
        }
        if not open_channels:
            return 0, 0, False
        wanted = None if tenant.wake_mode == "everyone" else self._seats_to_offer(tenant, now)
        place = self.store.wake_cursor(tenant_id, now) if wanted is None else None
        resumed = place is not None
        told = read = 0
        while wanted is None or told < wanted:
            limit = PAGE if wanted is None else wanted - told
            page, place = self.store.to_tell(tenant_id, limit=limit, after=place)
            read += len(page)
            events: list[Event] = [
                # one id per conversation per minute: FIFO dedupe absorbs a schedule and an
                # agent-online event landing together, and a later pass can still try again
                AgentsAvailable(ref=w.ref, event_id=f"wake#{w.id}#{w.at}#{now:%Y%m%d%H%M}")
                for w in page
                if w.ref.channel in open_channels and w.id not in expired
            ]
            enqueue(self.queue_url, events)
            told += len(events)
            if place is None:
                break
            if wanted is None and until is not None and self.now() >= until:
                self.store.keep_wake_cursor(tenant_id, place, now)  # the next pass goes on from here
                self.go_on(tenant_id)
                return told, read, True
        if resumed:  # gone to the end: the next pass starts from the first user still to tell
            self.store.keep_wake_cursor(tenant_id, None, now)
        return told, read, False

    def _session_checks(self, tenant_id: str, now: datetime) -> list[Event]:
        """A SessionCheck into the FIFO group of each conversation whose bot session has been silent
        for 24 hours: the engine closes it there, in order with the user's own messages, so the chat
        report has its row the next day even when the user never comes back."""
        return [
            SessionCheck(ref=ref, event_id=f"session#{pseudonym(ref.key)}#{now:%Y%m%d%H%M}")
            for ref in self.store.idle_sessions(tenant_id, now - INACTIVITY_LIMIT)
        ]

    def _idle_chat_checks(self, tenant_id: str, now: datetime) -> list[Event]:
        """Once an hour, an ExpiryCheck into the FIFO group of each chat an agent took that has been
        idle past the tenant's `close_idle_chats_after_days`: the engine closes it there."""
        tenant = self.directory.tenant(tenant_id)
        if tenant is None:
            return []
        idle_after = timedelta(days=tenant.close_idle_chats_after_days)
        return [
            ExpiryCheck(ref=c.ref, event_id=f"idle#{c.id}#{now:%Y%m%d%H}")
            for c in self.store.with_agents(tenant_id)
            if (closes_at := chat_closes_at(c, idle_after)) is not None and now >= closes_at
        ]

    def _seats_to_offer(self, tenant: TenantConfig, now: datetime) -> int:
        """Seats of online agents not taken by a chat or promised to a user already told."""
        online = [
            OnlineAgent(agent_id=a.agent_id, seats=a.seats)
            for a in self.directory.agents(tenant.tenant_id)
            if a.is_online(now)
        ]
        if not online:
            return 0
        chats = self.store.with_agents(tenant.tenant_id)
        return seats_left(online, chats, self.store.told_not_taken(tenant.tenant_id), tenant.agent_seats)
