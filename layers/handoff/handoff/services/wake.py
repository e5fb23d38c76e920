"""The wake pass: tell waiting users an agent is available, end waits 24 hours idle, close idle chats.

Users are told in the order they began to wait, as many as the online agents have free seats
(`wake_mode: capacity`, the default), or all at once (`wake_mode: everyone`).

It only finds the conversations (the sparse `waiting` index: no Scan) and queues an event for
each into its FIFO group; the engine decides, in order with the user's own messages, so a user
is told once and an expiry never races a message that just arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

from handoff.adapters.inbound_queue import enqueue
from handoff.config.models import TenantConfig
from handoff.engine.flow import in_business_hours
from handoff.engine.model import AgentsAvailable, Conversation, Event, ExpiryCheck, Frozen, SessionCheck
from handoff.engine.seats import OnlineAgent, free_seats
from handoff.engine.windows import INACTIVITY_LIMIT, chat_closes_at, is_expired
from handoff.observability import logger, pseudonym
from handoff.store import keys
from handoff.store.conversation_store import ConversationStore
from handoff.store.directory import Directory


class WakeSummary(Frozen):
    tenants: int = 0
    waiting: int = 0
    to_wake: int = 0
    to_expire: int = 0
    sessions_to_close: int = 0
    chats_to_close: int = 0


class WakePass:
    def __init__(
        self, store: ConversationStore, directory: Directory, queue_url: str, now: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.directory = directory
        self.queue_url = queue_url
        self.now = now

    def run(self, tenant_ids: list[str] | None = None) -> WakeSummary:
        """A pass over the given tenants (an agent came online), or over every tenant (the minute's
        schedule, which also closes the bot sessions of users silent for 24 hours)."""
        now = self.now()
        scheduled = tenant_ids is None
        tenants = tenant_ids if tenant_ids is not None else self.directory.tenant_ids()
        waiting = to_wake = to_expire = sessions = chats = 0
        for tenant_id in tenants:
            queued = self.store.waiting(tenant_id)
            events = self._events(tenant_id, queued, now)
            if scheduled:
                events += self._session_checks(tenant_id, now)
            if scheduled and now.minute == 0:
                events += self._idle_chat_checks(tenant_id, now)
            enqueue(self.queue_url, events)
            waiting += len(queued)
            to_wake += sum(isinstance(e, AgentsAvailable) for e in events)
            to_expire += sum(isinstance(e, ExpiryCheck) and e.event_id.startswith("expire#") for e in events)
            chats += sum(isinstance(e, ExpiryCheck) and e.event_id.startswith("idle#") for e in events)
            sessions += sum(isinstance(e, SessionCheck) for e in events)
        summary = WakeSummary(
            tenants=len(tenants),
            waiting=waiting,
            to_wake=to_wake,
            to_expire=to_expire,
            sessions_to_close=sessions,
            chats_to_close=chats,
        )
        logger.info("wake pass", extra=summary.model_dump())
        return summary

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
            for c in self.store.in_live(tenant_id)
            if (closes_at := chat_closes_at(c, idle_after)) is not None and now >= closes_at
        ]

    def _events(self, tenant_id: str, queued: list[Conversation], now: datetime) -> list[Event]:
        tenant = self.directory.tenant(tenant_id)
        if tenant is None or not queued:
            return []
        # one presence lookup per tenant, and only when a waiting user could be told
        agents_online = cache(lambda: self.directory.any_agent_online(tenant_id, now))
        seats = cache(lambda: self._seats_to_offer(tenant, now))
        events: list[Event] = []
        told = 0
        for conversation in queued:  # oldest wait first: the order users are told in
            ref = conversation.ref
            # one id per conversation per minute: FIFO dedupe absorbs a schedule and an
            # agent-online event landing together, and a later pass can still try again
            since = f"{keys.stamp(conversation.queued_at or now)}#{now:%Y%m%d%H%M}"
            if is_expired(conversation, now):
                events.append(ExpiryCheck(ref=ref, event_id=f"expire#{conversation.id}#{since}"))
                continue
            rule = tenant.rule_for(ref.channel)
            if (
                conversation.on_hold
                and not conversation.notified_available
                and rule is not None
                and in_business_hours(rule, now)
                and agents_online()
                and (tenant.wake_mode == "everyone" or told < seats())
            ):
                events.append(AgentsAvailable(ref=ref, event_id=f"wake#{conversation.id}#{since}"))
                told += 1
        return events

    def _seats_to_offer(self, tenant: TenantConfig, now: datetime) -> int:
        """Seats of online agents not taken by a chat or promised to a user already told."""
        online = [
            OnlineAgent(agent_id=a.agent_id, seats=a.seats)
            for a in self.directory.agents(tenant.tenant_id)
            if a.is_online(now)
        ]
        if not online:
            return 0
        return free_seats(online, self.store.in_live(tenant.tenant_id), tenant.agent_seats)
