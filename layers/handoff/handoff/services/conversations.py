"""Applying events to conversations: load, gather facts, step the engine, commit with the outbox, deliver.

This is the imperative shell around `engine.flow.step`: it asks the engine which facts a step
needs (`engine.facts`) and answers only those, from DynamoDB or the tenant's bot. The same path
serves the FIFO consumer (user messages, wake-ups, expiry) and the Live API (agents' actions), so
every change to a conversation goes through one conditional write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from typing import Any

from handoff import clock
from handoff.adapters.event_bus import EventBusUnavailable
from handoff.adapters.graph import GraphClient, GraphError
from handoff.channels import adapter_for
from handoff.engine.bot import BotQuestion, BotTurn, BotUnavailable
from handoff.engine.facts import AgentsOnlineQuestion, Answer, Facts, PlaceInLineQuestion, Question
from handoff.engine.flow import StepContext, applied_recently, next_question, step
from handoff.engine.model import (
    Conversation,
    ConversationEvent,
    Effect,
    Event,
    Metric,
    Outbound,
    TranscriptEntry,
    UserChangedId,
    UserMessage,
)
from handoff.observability import logger, metrics, pseudonym
from handoff.services.bots import Bots
from handoff.services.errors import UnknownTenant
from handoff.services.pacing import (
    DeliveryDeferred,
    Sending,
    SendSchedule,
    send_slot,
    told_to_wait,
)
from handoff.store import keys
from handoff.store.conversation_store import (
    Applying,
    BusEvent,
    ConversationStore,
    EventAlreadyApplied,
    OutboxMessage,
    Owed,
    StaleConversation,
)
from handoff.store.directory import Directory

COMMIT_ATTEMPTS = 5
SWEEP_AFTER = timedelta(minutes=2)
"""The outbox sweep leaves younger messages to the invocation that wrote them (it flushes at once)."""
SEND_LEASE = timedelta(minutes=1)
"""How long a sender holds a message it sends: longer than any invocation that sends (30 s at most),
so a lease outlives its sender only when the sender died."""
BOT_FAILED = "BotFailed"
"""Counted each time the tenant's own bot did not answer (every try): alarmed on."""
DELIVERY_FAILED = "DeliveryFailed"
"""Counted each time Meta refuses a message for good (not retried): alarmed, and on the dashboard."""
TOKEN_REJECTED = "TokenRejected"
"""Counted when Meta refuses a message because of the account's access token (expired, revoked):
every reply of that account fails until the token is replaced, so it has its own alarm."""


@dataclass(frozen=True, slots=True)
class Applied:
    """An event applied: the conversation as stored (None: the event concerns no conversation), and
    when what it owes may be tried again, if some of it had to wait (None: all sent, or nothing owed)."""

    conversation: Conversation | None
    retry_at: datetime | None = None


class Conversations:
    def __init__(
        self,
        store: ConversationStore,
        directory: Directory,
        graph: GraphClient,
        access_token: Callable[[str], str],
        bots: Bots,
        schedule: SendSchedule,
        now: Callable[[], datetime] = clock.now,
        publish: Callable[[BusEvent], None] = lambda event: None,
        sleep: Callable[[float], None] = time.sleep,
        random: Random | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.graph = graph
        self.access_token = access_token
        self.bots = bots
        self.schedule = schedule
        self.now = now
        self.publish = publish
        self.sleep = sleep
        self.random = random or Random()

    def apply(self, event: Event, *, last_try: bool = True, sending: Sending | None = None) -> Applied:
        """Apply one event and deliver what it owes, each send paced by its account's schedule.

        A send that must wait never fails the event: the step is committed, what it owes waits in
        the outbox, in order (`outbox_waiting`), held until `Applied.retry_at`, when the caller's
        record may come back for it (the sweep takes it otherwise). `sending` says until when sends
        may start and which try this is (the backoff). Raises the engine's FlowError for an action
        the flow refuses (nothing is written), and BotUnavailable when the tenant's bot did not
        answer and this is not the `last_try` (nothing is written: the queue tries the message
        again, in its conversation's order). On the last try the user is told the bot is
        unavailable, and their message is kept.
        """
        sending = sending or Sending()
        ref = event.ref
        # the correlation id of every log line from here on: the conversation, pseudonymised
        logger.append_keys(conversation=pseudonym(ref.key))
        tenant = self.directory.tenant(ref.tenant_id)
        if tenant is None:
            raise UnknownTenant(ref.tenant_id)
        answers: dict[Question, Answer] = {}  # a step redone after a stale read asks nothing twice
        for _ in range(COMMIT_ATTEMPTS):
            now = self.now()
            conversation = self.store.load(ref)
            if conversation is None:
                if isinstance(event, UserChangedId):
                    # moved already (a redelivery), or never here: no line of it may stay behind
                    self.store.forget_followers(ref)
                if not isinstance(event, UserMessage):
                    return Applied(None)
                conversation = Conversation(ref=ref, id=keys.new_conversation_id(), language=tenant.language)
            if applied_recently(conversation, event.event_id):
                # a redelivery: the first attempt committed; finish what it may not have sent
                return self._deliver_owed(conversation, [], older_first=True, sending=sending)
            context = StepContext(now=now, tenant=tenant)
            context = self._gather(conversation, event, context, answers, last_try=last_try)
            changed, effects = step(conversation, event, context)
            owed = self._owed(changed, effects)
            applies = (
                Applying(event_id=event.event_id, sent_at=event.sent_at)
                if isinstance(event, UserMessage | UserChangedId)
                else None
            )
            # sent next by this invocation, so written leased to it; behind older messages, each is
            # sent oldest first under a lease taken then
            leased_until = None if changed.outbox_waiting else now + SEND_LEASE
            try:
                if changed.ref == conversation.ref:
                    stored, outbox = self.store.commit(
                        changed, effects, owed, now=now, applies=applies, leased_until=leased_until
                    )
                else:  # the user's id changed: the conversation moves to the new one
                    stored, outbox = self.store.move(
                        conversation,
                        changed,
                        effects,
                        owed,
                        now=now,
                        applies=applies,
                        leased_until=leased_until,
                    )
            except EventAlreadyApplied:
                # applied long ago (its id has left recent_event_ids): finish what it may owe, once
                logger.info("a channel message applied before came again; nothing changes")
                return self._deliver_owed(conversation, [], older_first=True, sending=sending)
            except StaleConversation:
                logger.info("conversation changed meanwhile; stepping again")
                continue
            for effect in effects:
                if isinstance(effect, Metric):
                    metrics.add_metric(name=effect.name, unit=effect.unit, value=effect.value)
            logger.info(
                "event applied",
                extra={"event": event.type, "state": stored.state, "sends": len(outbox)},
            )
            return self._deliver_owed(
                stored, outbox, older_first=stored.outbox_waiting, sending=sending, leased_until=leased_until
            )
        raise StaleConversation(pseudonym(ref.key))

    def _deliver_owed(
        self,
        stored: Conversation,
        outbox: list[OutboxMessage],
        *,
        older_first: bool,
        sending: Sending,
        leased_until: datetime | None = None,
    ) -> Applied:
        """Send what a committed step owes (`outbox`, written leased to us until `leased_until`). When
        older messages may still wait in the outbox, send the conversation's pending messages instead,
        oldest first, each under a lease. A send that must wait leaves the rest in the outbox, in
        order: the event is applied and must not fail for it (the queue would count it)."""
        try:
            if not older_first:
                self._deliver_leased_at_birth(outbox, sending, leased_until)
                return Applied(stored)
            held_until = self.deliver_leased(self.store.pending(stored.ref.key), sending)
            if held_until is None:
                return Applied(self._outbox_waiting(stored, False))
            return Applied(stored, retry_at=held_until)  # another sender holds the oldest, or Meta's wait
        except DeliveryDeferred as deferred:
            logger.warning(
                "a send must wait: the conversation's messages wait in the outbox, in order",
                extra={"reason": str(deferred), "retry_at": deferred.retry_at.isoformat()},
            )
            return Applied(self._outbox_waiting(stored, True), retry_at=deferred.retry_at)

    def _deliver_leased_at_birth(
        self, outbox: Sequence[OutboxMessage], sending: Sending, leased_until: datetime | None
    ) -> None:
        """Send a step's own messages, leased to us since its commit. When one must wait, it and the
        ones after it are held until its `retry_at` (no sender takes them earlier)."""
        for n, message in enumerate(outbox):
            try:
                self.deliver([message], sending)
            except DeliveryDeferred as deferred:
                if leased_until is not None:
                    self.store.hold(message, until=deferred.not_before, ours=leased_until, slot=deferred.slot)
                    for waiting in outbox[n + 1 :]:
                        self.store.hold(waiting, until=deferred.not_before, ours=leased_until)
                raise

    def _outbox_waiting(self, stored: Conversation, waiting: bool) -> Conversation:
        """Record whether the conversation's messages wait in the outbox (one conditional write, only
        when it changes: a send had to wait, or the outbox emptied after one)."""
        now = self.now()
        for _ in range(COMMIT_ATTEMPTS):
            if stored.outbox_waiting == waiting:
                return stored
            try:
                stored, _ = self.store.commit(
                    stored.model_copy(update={"outbox_waiting": waiting}), [], now=now
                )
                return stored
            except StaleConversation:
                reloaded = self.store.load(stored.ref)
                if reloaded is None:
                    return stored
                stored = reloaded
        return stored

    @staticmethod
    def _owed(conversation: Conversation, effects: list[Effect]) -> list[Owed]:
        """What the step owes, in order: the Graph API requests of its messages (each with the index of
        the transcript line that says it: the engine writes it right after the message), and its bus
        events."""
        adapter = adapter_for(conversation.ref.channel)
        owed: list[Owed] = []
        for n, effect in enumerate(effects):
            if isinstance(effect, Outbound):
                line = n + 1 if n + 1 < len(effects) and isinstance(effects[n + 1], TranscriptEntry) else None
                owed += [Owed(item=request, line=line) for request in adapter.render(effect, conversation)]
            elif isinstance(effect, ConversationEvent):
                event = BusEvent(detail_type=effect.name, detail=event_detail(conversation, effect))
                owed.append(Owed(item=event))
        return owed

    def _gather(
        self,
        conversation: Conversation,
        event: Event,
        context: StepContext,
        answers: dict[Question, Answer],
        *,
        last_try: bool,
    ) -> StepContext:
        """The step's context with every fact the engine asks for, and only those."""
        facts = Facts()
        while (question := next_question(conversation, event, context.knowing(facts))) is not None:
            if question not in answers:
                answers[question] = self._answer(question, context, conversation, last_try=last_try)
            facts = facts.answer(question, answers[question])
        return context.knowing(facts)

    def _answer(
        self, question: Question, context: StepContext, conversation: Conversation, *, last_try: bool
    ) -> Answer:
        tenant_id = context.tenant.tenant_id
        match question:
            case AgentsOnlineQuestion():
                return self.directory.any_agent_online(tenant_id, context.now)
            case PlaceInLineQuestion():
                return self.store.waiting_ahead(tenant_id, question.since) + 1
            case BotQuestion():
                return self._ask_bot(question, context, conversation, last_try=last_try)

    def _ask_bot(
        self, question: BotQuestion, context: StepContext, conversation: Conversation, *, last_try: bool
    ) -> BotTurn:
        bot = context.tenant.bot_for(conversation.ref.channel)
        try:
            return self.bots.for_conversation(context.tenant, conversation).answer(question)
        except BotUnavailable as error:
            metrics.add_metric(name=BOT_FAILED, unit="Count", value=1)
            logger.warning(
                "the tenant's bot did not answer",
                extra={"bot": bot.kind, "reason": str(error), "last_try": last_try},
            )
            if not last_try:
                raise
            return BotTurn(failed=True)

    def deliver(self, messages: Iterable[OutboxMessage], sending: Sending | None = None) -> int:
        """Send in order, each at its account's next slot; stop at the first send that must wait, so
        nothing overtakes it (DeliveryDeferred). Returns sends."""
        sending = sending or Sending()
        sent = 0
        for message in messages:
            try:
                if message.event is not None:
                    self.publish(message.event)
                elif message.request is not None:
                    self._wait_for_slot(message, sending)
                    self.graph.post(message.request, self.access_token(message.account_id))
            except EventBusUnavailable as error:
                logger.warning(
                    "event bus refused an event; it stays in the outbox", extra={"error": str(error)}
                )
                raise told_to_wait(None, sending, self.now(), self.random) from error
            except GraphError as error:
                if error.retryable:
                    logger.warning(
                        "Graph API asked to retry", extra={**_log(message.conversation_key), **_error(error)}
                    )
                    raise told_to_wait(error, sending, self.now(), self.random) from error
                # refused for good (window closed, bad token...): retrying would only repeat it
                logger.error(
                    "Graph API refused a message", extra={**_log(message.conversation_key), **_error(error)}
                )
                metrics.add_metric(name=DELIVERY_FAILED, unit="Count", value=1)
                if error.is_token_error:
                    metrics.add_metric(name=TOKEN_REJECTED, unit="Count", value=1)
                self.store.mark_undelivered(message, undelivered_reason(error))
            self.store.delivered(message)
            sent += 1
        return sent

    def _wait_for_slot(self, message: OutboxMessage, sending: Sending) -> None:
        """Wait for the message's send slot (`pacing.send_slot`), or raise DeliveryDeferred."""
        now = self.now()
        slot = send_slot(self.schedule, message, sending, now, self.graph.longest_call, self.random)
        wait = (slot - now).total_seconds()
        if wait > 0:
            self.sleep(wait)

    def deliver_leased(
        self, messages: Iterable[OutboxMessage], sending: Sending | None = None
    ) -> datetime | None:
        """Send messages that another sender may be sending too (a redelivery, the sweep, a step
        behind older messages): each only under a lease on it, so two senders never send the same
        message. A message someone holds stops the rest: they wait behind it, in order. None when
        every message was sent, else when the one that stopped them may be tried again."""
        sending = sending or Sending()
        for message in messages:
            claimed_at = self.now()
            held_until = self.store.claim(message, now=claimed_at, lease=SEND_LEASE)
            if held_until is not None:
                return held_until
            try:
                self.deliver([message], sending)
            except DeliveryDeferred as deferred:
                self.store.hold(
                    message, until=deferred.not_before, ours=claimed_at + SEND_LEASE, slot=deferred.slot
                )
                raise
        return None

    def sweep_outbox(self, *, until: datetime | None = None) -> int:
        """Send what earlier invocations left behind (crashed, or told to wait past their record's
        tries), oldest first per conversation, each under a lease and paced like every send; no send
        starts unless it can end by `until`."""
        sending = Sending(until=until)
        now = self.now()
        sent = 0
        held: set[str] = set()  # a conversation whose older message waits sends nothing newer
        busy: set[tuple[str, str]] = set()  # accounts whose schedule is booked ahead: next sweep
        for message in sorted(self.store.all_pending(), key=lambda m: m.sk):
            account = (message.channel, message.account_id)
            if message.conversation_key in held or account in busy or now - message.created_at < SWEEP_AFTER:
                continue
            claimed_at = self.now()
            if self.store.claim(message, now=claimed_at, lease=SEND_LEASE) is not None:
                held.add(message.conversation_key)
                continue
            try:
                sent += self.deliver([message], sending)
            except DeliveryDeferred as deferred:
                self.store.hold(
                    message, until=deferred.not_before, ours=claimed_at + SEND_LEASE, slot=deferred.slot
                )
                held.add(message.conversation_key)
                if deferred.out_of_time:
                    break
                if deferred.account_busy:
                    busy.add(account)
        return sent


def _log(conversation_key: str) -> dict[str, str]:
    return {"conversation": pseudonym(conversation_key)}


def undelivered_reason(error: GraphError) -> str:
    """What Live shows on a message Meta refused: Meta's code and its own words (no user data)."""
    code = f"{error.code}/{error.subcode}" if error.subcode else str(error.code or error.http_status)
    if error.is_token_error:
        return f"not delivered: the channel account's access token was refused ({code}); replace it in SSM"
    return f"not delivered: Meta refused it ({code}): {error.message[:200]}"


def _error(error: GraphError) -> dict[str, object]:
    return {"graph_code": error.code, "graph_subcode": error.subcode, "http_status": error.http_status}


def event_detail(conversation: Conversation, event: ConversationEvent) -> dict[str, Any]:
    """The detail of a bus event: ids and times, no message text, no name (docs/events.md)."""
    ref = conversation.ref
    waited = (event.at - event.queued_at).total_seconds() if event.queued_at else None
    return {
        "tenant_id": ref.tenant_id,
        "channel": ref.channel,
        "conversation_id": conversation.id,
        "at": event.at.isoformat(),
        "agent_id": event.agent_id,
        "queued_at": event.queued_at.isoformat() if event.queued_at else None,
        "on_hold": event.on_hold,
        "waited_seconds": int(waited) if waited is not None else None,
        **({"idle": event.idle} if event.name == "ConversationClosed" else {}),
        **({"to_agent_id": event.to_agent_id} if event.name == "ConversationHandedOver" else {}),
    }
