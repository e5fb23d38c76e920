"""One sender per message (issue 14): a redelivered record, the outbox sweep and an agent's action all
take the same lease before a send, so two consumers never send one message; the committer holds its
own messages from the commit on; a message Meta told to wait is held for no one until then. On moto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import pytest
from bench.scale import MemoryLedger
from moto_table import app_table

from handoff.adapters.graph import LONGEST_CALL, GraphError, GraphResult
from handoff.channels.base import GraphRequest
from handoff.engine.model import Conversation, ConversationRef
from handoff.observability import use_pseudonym_key
from handoff.services.bots import Bots
from handoff.services.conversations import SEND_LEASE, Conversations
from handoff.services.pacing import DeliveryDeferred, Sending, SendSchedule
from handoff.store.conversation_store import ConversationStore, OutboxMessage, Owed
from handoff.store.directory import Directory

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NUMBER = "200000000000001"
REF = ConversationRef(tenant_id="acme", channel="whatsapp", account_id=NUMBER, user_id="573001234567")
TEXT = GraphRequest(
    path=f"{NUMBER}/messages",
    body={"messaging_product": "whatsapp", "to": "+573001234567", "type": "text", "text": {"body": "hola"}},
)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Graph:
    """A Graph API that records what it took; `during` runs while a send is in flight."""

    longest_call = LONGEST_CALL

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.during: Callable[[], None] | None = None
        self.refuse: GraphError | None = None

    def post(self, request: GraphRequest, access_token: str) -> GraphResult:
        if self.during is not None:
            during, self.during = self.during, None
            during()
        if self.refuse is not None:
            refused, self.refuse = self.refuse, None
            raise refused
        self.sent.append(request.body)
        return GraphResult(message_id=f"wamid.{len(self.sent)}", http_status=200)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConversationStore]:
    use_pseudonym_key("a test key of this module, long enough")  # the logs name conversations by it
    with app_table(monkeypatch) as name:
        yield ConversationStore(name)


def consumer(store: ConversationStore, graph: Graph, clock: Clock, ledger: MemoryLedger) -> Conversations:
    """One instance of a sender: its own process (its own guess about the schedule), the shared table."""
    return Conversations(
        store,
        Directory("app"),
        graph,  # type: ignore[arg-type]
        access_token=lambda account_id: "token",
        bots=Bots(parameter=lambda tenant_id, name: "", transcript=lambda conversation: []),
        schedule=SendSchedule(ledger, {"whatsapp": 80.0}),
        now=clock.now,
        sleep=clock.sleep,
        random=Random(1),
    )


def owe_one(store: ConversationStore, *, leased_until: datetime | None = None) -> OutboxMessage:
    _, [message] = store.commit(
        Conversation(ref=REF, id="c" * 22), [], [Owed(item=TEXT)], now=T0, leased_until=leased_until
    )
    return message


def test_two_consumers_redelivering_one_message_send_it_once(store: ConversationStore) -> None:
    clock, ledger = Clock(), MemoryLedger()
    graph_a, graph_b = Graph(), Graph()
    a, b = consumer(store, graph_a, clock, ledger), consumer(store, graph_b, clock, ledger)
    owe_one(store)
    held: list[datetime | None] = []

    # B redelivers the same record's sends while A's send of the message is in flight
    graph_a.during = lambda: held.append(b.deliver_leased(store.pending(REF.key)))
    assert a.deliver_leased(store.pending(REF.key)) is None

    assert len(graph_a.sent) == 1 and graph_b.sent == []
    assert held == [T0 + SEND_LEASE]  # B stopped at A's lease, and says until when
    assert store.pending(REF.key) == []
    assert b.deliver_leased(store.pending(REF.key)) is None and graph_b.sent == []  # nothing left


def test_a_committers_own_messages_are_held_for_it_from_the_commit(store: ConversationStore) -> None:
    clock, ledger = Clock(), MemoryLedger()
    graph = Graph()
    other = consumer(store, graph, clock, ledger)
    owe_one(store, leased_until=T0 + SEND_LEASE)  # the committer sends it next, with no lease to take

    assert other.deliver_leased(store.pending(REF.key)) == T0 + SEND_LEASE
    assert graph.sent == []
    clock.at = T0 + SEND_LEASE + timedelta(seconds=1)  # its committer died: another sender may
    assert other.deliver_leased(store.pending(REF.key)) is None
    assert len(graph.sent) == 1


def test_a_message_meta_told_to_wait_is_held_for_everyone_until_then(store: ConversationStore) -> None:
    clock, ledger = Clock(), MemoryLedger()
    graph_a, graph_b = Graph(), Graph()
    a, b = consumer(store, graph_a, clock, ledger), consumer(store, graph_b, clock, ledger)
    owe_one(store)
    graph_a.refuse = GraphError("(#130429) Rate limit hit", code=130429, http_status=400)

    with pytest.raises(DeliveryDeferred) as waits:
        a.deliver_leased(store.pending(REF.key), Sending(attempt=1))

    retry_at = waits.value.retry_at
    assert T0 + timedelta(seconds=1) <= retry_at <= T0 + timedelta(seconds=2)
    # held for no sender until a second before: not the sweep, not another record
    assert b.deliver_leased(store.pending(REF.key)) == waits.value.not_before
    assert graph_b.sent == []
    clock.at = retry_at - timedelta(milliseconds=500)  # its record is back (up to a second early)
    assert b.deliver_leased(store.pending(REF.key)) is None
    assert len(graph_b.sent) == 1 and graph_a.sent == []


def test_a_slot_booked_for_a_message_is_kept_on_it_for_its_record(store: ConversationStore) -> None:
    clock, ledger = Clock(), MemoryLedger()
    graph = Graph()
    schedule = SendSchedule(ledger, {"whatsapp": 80.0})
    for _ in range(400):  # the number's sends booked 5.3 s ahead
        schedule.take("whatsapp", NUMBER, T0, horizon=None)
    sender = consumer(store, graph, clock, ledger)
    owe_one(store)

    with pytest.raises(DeliveryDeferred) as waits:
        sender.deliver_leased(store.pending(REF.key), Sending(comes_back=True))

    [message] = store.pending(REF.key)
    assert waits.value.slot is not None and message.slot_at is not None  # kept to the millisecond
    assert abs(message.slot_at - waits.value.slot) < timedelta(milliseconds=1)
    clock.at = waits.value.not_before + timedelta(milliseconds=1)  # back a little before its slot
    assert sender.deliver_leased(store.pending(REF.key)) is None
    assert len(graph.sent) == 1 and clock.at == message.slot_at  # sent in the slot booked for it
