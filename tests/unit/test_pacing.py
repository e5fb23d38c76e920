"""Sends paced per sending account (issue 14): the schedule's maths on its DynamoDB items (moto) and on
the bench's in-memory ledger alike, throttling told apart from other failures, the backoff, and the
deadline that keeps a batch's sends inside the conversation function's timeout."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import boto3
import pytest
from bench.scale import MemoryLedger
from moto_table import app_table

from handoff.adapters.graph import CONNECT_TIMEOUT, LONGEST_CALL, READ_TIMEOUT, GraphClient, GraphError
from handoff.channels.meta import is_retryable, is_throttling
from handoff.services.pacing import (
    BOOKED_ARRIVAL,
    BOOKED_SLOT_GRACE,
    HORIZON,
    INSTANCE_SHARE,
    NOT_BEFORE_SLACK,
    PACE_SHARE,
    RETRY_CAP,
    SEND_MARGIN,
    Busy,
    DeliveryDeferred,
    Sending,
    SendSchedule,
    Slot,
    come_back_in,
    retry_delay,
    send_deadline,
    send_slot,
    told_to_wait,
)
from handoff.store.send_schedule import ScheduleItems

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NUMBER = "200000000000001"
RATES = {"whatsapp": 80.0, "messenger": 300.0, "instagram": 300.0}
INTERVAL = timedelta(microseconds=round(1_000_000 / (80 * PACE_SHARE)))  # 13,158 µs: 76 a second


class CountedLedger:
    """A ledger that counts its conditional writes (each one DynamoDB request)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.writes = 0

    def push(self, account: str, *, interval: int, now: int, latest: int | None) -> tuple[bool, int | None]:
        self.writes += 1
        return self.ledger.push(account, interval=interval, now=now, latest=latest)  # type: ignore[no-any-return]

    def restart(self, account: str, *, interval: int, now: int) -> tuple[bool, int | None]:
        self.writes += 1
        return self.ledger.restart(account, interval=interval, now=now)  # type: ignore[no-any-return]


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The application table's keys on moto (the schedule items need nothing else)."""
    with app_table(monkeypatch) as name:
        yield name


@pytest.fixture(params=["dynamodb", "memory"])
def ledger(request: pytest.FixtureRequest) -> CountedLedger:
    """The schedule's ledger: its DynamoDB items on moto, and the bench's in-memory one, which must
    behave alike (the simulation of `make bench-scale` stands on it)."""
    if request.param == "dynamodb":
        return CountedLedger(ScheduleItems(request.getfixturevalue("table")))
    return CountedLedger(MemoryLedger())


def schedule(ledger: CountedLedger) -> SendSchedule:
    """The shared schedule alone (no instance spends a part of its own): its maths at the whole rate."""
    return SendSchedule(ledger, RATES, instance_share=0)


def at(taken: Slot | Busy) -> datetime:
    assert isinstance(taken, Slot), taken
    return taken.at


# --- the schedule's maths --------------------------------------------------------------------------


def test_slots_are_one_interval_apart_at_95_percent_of_the_rate(ledger: CountedLedger) -> None:
    pacing = schedule(ledger)

    slots = [at(pacing.take("whatsapp", NUMBER, T0)) for _ in range(5)]

    assert slots == [T0 + n * INTERVAL for n in range(5)]
    assert 1 / INTERVAL.total_seconds() == pytest.approx(80 * 0.95, rel=1e-4)


def test_an_instance_sends_steady_traffic_from_its_own_part_with_no_write(ledger: CountedLedger) -> None:
    pacing = SendSchedule(ledger, RATES, instances=25)  # half of 76 a second: 1 a second each
    assert pacing.own_per_second("whatsapp") == 1 == math.floor(80 * PACE_SHARE * INSTANCE_SHARE / 25)
    own = timedelta(seconds=1)

    # a message a second from this instance: each within its own part
    sends = [at(pacing.take("whatsapp", NUMBER, T0 + n * own, own_part=True)) for n in range(30)]

    assert sends == [T0 + n * own for n in range(30)]
    assert ledger.writes == 0 and pacing.own_sends == 30
    # the shared schedule is only for senders with no part of their own (the sweep, the Live API)
    assert at(pacing.take("whatsapp", NUMBER, T0 + 30 * own)) == T0 + 30 * own
    assert ledger.writes == 1


def test_sends_closer_than_an_instances_own_part_take_shared_slots(ledger: CountedLedger) -> None:
    pacing = SendSchedule(ledger, RATES, instances=25)
    shared = timedelta(microseconds=pacing.interval("whatsapp"))
    assert 1 / shared.total_seconds() == pytest.approx(80 * PACE_SHARE - 25, rel=1e-4)  # 51 a second

    burst = [at(pacing.take("whatsapp", NUMBER, T0, own_part=True, horizon=None)) for _ in range(4)]

    # the first from the instance's own part; the rest from the account's shared schedule
    assert burst == [T0, T0, T0 + shared, T0 + 2 * shared]
    assert pacing.own_sends == 1 and ledger.writes >= 3


def test_every_instance_at_full_speed_stays_within_the_accounts_rate() -> None:
    """25 instances each sending as fast as their part and the shared schedule let them, for 20 s: the
    account's sends stay at the paced rate (76 a second), the instances' first sends apart."""
    ledger = MemoryLedger()
    instances = [SendSchedule(ledger, RATES, instances=25) for _ in range(25)]
    sends: list[datetime] = []
    step = timedelta(milliseconds=10)
    for tick in range(int(20 / step.total_seconds())):
        now = T0 + tick * step
        for pacing in instances:
            taken = pacing.take("whatsapp", NUMBER, now, own_part=True)
            if isinstance(taken, Slot):  # sent at its slot's time (within the horizon)
                sends.append(taken.at)
    seconds = 20
    # each instance's first send needs no wait: at most one each above the rate
    assert len([s for s in sends if s < T0 + timedelta(seconds=seconds)]) <= 80 * PACE_SHARE * seconds + 25
    per_second = Counter(int((s - T0).total_seconds()) for s in sends)
    assert max(per_second[n] for n in range(1, seconds - 1)) <= 80  # Meta's own count, any whole second
    assert sum(p.own_sends for p in instances) >= 25 * (seconds - 1)  # one a second each, with no write


def test_each_account_and_channel_has_its_own_schedule(ledger: CountedLedger) -> None:
    pacing = schedule(ledger)

    first = at(pacing.take("whatsapp", NUMBER, T0))
    other_number = at(pacing.take("whatsapp", "200000000000002", T0))
    page = [at(pacing.take("messenger", "300000000000001", T0)) for _ in range(2)]

    assert first == other_number == T0
    assert page == [T0, T0 + timedelta(microseconds=round(1_000_000 / (300 * PACE_SHARE)))]


def test_an_idle_schedule_starts_again_from_now_without_a_burst(ledger: CountedLedger) -> None:
    pacing = schedule(ledger)
    at(pacing.take("whatsapp", NUMBER, T0))

    later = T0 + timedelta(seconds=10)
    slots = [at(pacing.take("whatsapp", NUMBER, later)) for _ in range(3)]

    # the ten idle seconds give no credit: the next sends are spaced as ever, from now
    assert slots == [later, later + INTERVAL, later + 2 * INTERVAL]


def test_a_slot_past_the_horizon_is_not_taken_and_says_when_one_frees(ledger: CountedLedger) -> None:
    pacing = schedule(ledger)
    booked = [at(pacing.take("whatsapp", NUMBER, T0, horizon=None)) for _ in range(200)]  # 2.6 s of sends
    next_slot = booked[-1] + INTERVAL

    busy = pacing.take("whatsapp", NUMBER, T0, horizon=HORIZON)

    assert isinstance(busy, Busy)
    assert busy.free_at == next_slot - HORIZON
    # nothing was taken: once free, the next slot is still the one after the last booked
    assert at(pacing.take("whatsapp", NUMBER, busy.free_at, horizon=HORIZON)) == next_slot


def test_without_a_horizon_the_next_slot_is_booked_however_far(ledger: CountedLedger) -> None:
    pacing = schedule(ledger)
    for _ in range(1000):
        pacing.take("whatsapp", NUMBER, T0, horizon=None)

    far = at(pacing.take("whatsapp", NUMBER, T0, horizon=None))

    assert far == T0 + 1000 * INTERVAL  # 13.2 s ahead: the record comes back for it


def test_senders_in_other_processes_never_share_a_slot(ledger: CountedLedger) -> None:
    # three instances, each with its own guess about the schedule, taking in turns at times that
    # leave it busy, idle, and busy again
    instances = [schedule(ledger) for _ in range(3)]
    moments = [T0 + timedelta(milliseconds=m) for m in (0, 0, 1, 5, 5, 9, 2500, 2500, 2501, 2502, 9000)]
    slots = []
    for n, now in enumerate(moments * 2):
        slots.append(at(instances[n % 3].take("whatsapp", NUMBER, now + timedelta(seconds=20) * (n // 11))))

    ordered = sorted(slots)
    assert len(set(slots)) == len(slots)
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(ordered))


def test_a_right_guess_costs_one_write_a_wrong_one_two(ledger: CountedLedger) -> None:
    mine, other = schedule(ledger), schedule(ledger)

    mine.take("whatsapp", NUMBER, T0)  # never found busy: guessed idle, and it is (one write)
    assert ledger.writes == 1
    mine.take("whatsapp", NUMBER, T0)  # its own slot is not past yet: guessed busy, and it is (one)
    assert ledger.writes == 2
    mine.take("whatsapp", NUMBER, T0)  # found busy a moment ago, and it is (one write)
    assert ledger.writes == 3
    other.take("whatsapp", NUMBER, T0)  # another process's guess: idle, found busy (two)
    assert ledger.writes == 5
    mine.take("whatsapp", NUMBER, T0)  # its own last slot is behind the other's: still busy (one)
    assert ledger.writes == 6
    mine.take("whatsapp", NUMBER, T0 + timedelta(minutes=5))  # found busy long ago: idle, and it is
    assert ledger.writes == 7
    sparse = [T0 + timedelta(minutes=10, seconds=n) for n in range(5)]  # one send a second
    for at in sparse:
        mine.take("whatsapp", NUMBER, at)
    assert ledger.writes == 12  # one write each


def test_a_channel_without_a_rate_is_not_paced(ledger: CountedLedger) -> None:
    pacing = schedule(ledger)

    assert [at(pacing.take("web", "site", T0)) for _ in range(3)] == [T0] * 3
    assert ledger.writes == 0


def test_a_rate_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        SendSchedule(MemoryLedger(), {"whatsapp": 0.0})


def test_the_schedule_is_one_small_item_per_account(table: str) -> None:
    pacing = SendSchedule(ScheduleItems(table), RATES, instance_share=0)
    for _ in range(50):
        pacing.take("whatsapp", NUMBER, T0)

    items = boto3.client("dynamodb").scan(TableName=table)["Items"]

    assert [(i["pk"]["S"], i["sk"]["S"]) for i in items] == [(f"PACE#whatsapp#{NUMBER}", "SCHEDULE")]
    [item] = items
    next_slot = datetime.fromtimestamp(int(item["next_slot"]["N"]) / 1_000_000, UTC)
    assert next_slot == T0 + 50 * INTERVAL
    assert len(str(item)) < 200  # one write unit per send


# --- a message's slot -------------------------------------------------------------------------------


class Owed:
    """What pacing reads of an outbox message."""

    def __init__(self, slot_at: datetime | None = None) -> None:
        self.channel = "whatsapp"
        self.account_id = NUMBER
        self.slot_at = slot_at


def test_a_slot_within_the_horizon_is_waited_for() -> None:
    pacing = SendSchedule(MemoryLedger(), RATES, instance_share=0)
    pacing.take("whatsapp", NUMBER, T0)

    slot = send_slot(pacing, Owed(), Sending(), T0, LONGEST_CALL, Random(1))

    assert slot == T0 + INTERVAL


def test_a_record_that_can_come_back_books_a_far_slot_and_is_told_to_come_back_for_it() -> None:
    pacing = SendSchedule(MemoryLedger(), RATES, instance_share=0)
    for _ in range(400):  # 5.3 s booked
        pacing.take("whatsapp", NUMBER, T0, horizon=None)

    with pytest.raises(DeliveryDeferred) as waits:
        send_slot(pacing, Owed(), Sending(comes_back=True), T0, LONGEST_CALL, Random(1))

    assert waits.value.slot == T0 + 400 * INTERVAL
    assert waits.value.retry_at == waits.value.slot - BOOKED_ARRIVAL  # back a second before it
    assert waits.value.not_before == waits.value.retry_at - NOT_BEFORE_SLACK
    # and back for it, the slot booked for the message is used: no other is taken
    back = waits.value.retry_at + timedelta(milliseconds=400)
    assert (
        send_slot(pacing, Owed(waits.value.slot), Sending(), back, LONGEST_CALL, Random(1))
        == waits.value.slot
    )
    assert at(pacing.take("whatsapp", NUMBER, back, horizon=None)) == T0 + 401 * INTERVAL


def test_a_sender_whose_record_cannot_come_back_books_nothing_far() -> None:
    pacing = SendSchedule(MemoryLedger(), RATES, instance_share=0)
    for _ in range(400):
        pacing.take("whatsapp", NUMBER, T0, horizon=None)

    with pytest.raises(DeliveryDeferred) as waits:
        send_slot(pacing, Owed(), Sending(), T0, LONGEST_CALL, Random(1))

    assert waits.value.account_busy and waits.value.slot is None
    free_at = T0 + 400 * INTERVAL - HORIZON
    assert free_at <= waits.value.retry_at < free_at + timedelta(seconds=1)  # jittered over a second


def test_a_booked_slot_missed_by_more_than_the_grace_is_given_up_for_the_next() -> None:
    pacing = SendSchedule(MemoryLedger(), RATES, instance_share=0)
    missed = T0 - BOOKED_SLOT_GRACE - timedelta(milliseconds=1)

    assert send_slot(pacing, Owed(missed), Sending(), T0, LONGEST_CALL, Random(1)) == T0
    assert send_slot(
        pacing, Owed(T0 - timedelta(milliseconds=300)), Sending(), T0, LONGEST_CALL, Random(1)
    ) == (
        T0 - timedelta(milliseconds=300)  # a little late: sent at once, in the slot booked for it
    )


def test_no_send_starts_that_could_not_end_before_the_deadline() -> None:
    pacing = SendSchedule(MemoryLedger(), RATES, instance_share=0)
    until = T0 + LONGEST_CALL + timedelta(milliseconds=5)
    for _ in range(3):  # the next slot is 39 ms away: after the latest start
        pacing.take("whatsapp", NUMBER, T0)

    with pytest.raises(DeliveryDeferred) as late:
        send_slot(pacing, Owed(), Sending(until=until), T0, LONGEST_CALL, Random(1))
    with pytest.raises(DeliveryDeferred) as out:
        send_slot(
            pacing, Owed(), Sending(until=until), T0 + timedelta(milliseconds=5), LONGEST_CALL, Random(1)
        )

    assert late.value.account_busy and not late.value.out_of_time  # no slot in the 5 ms left to start
    assert out.value.out_of_time and out.value.retry_at == T0 + timedelta(milliseconds=5)


def test_out_of_time_a_booked_slot_is_kept_for_the_next_try() -> None:
    booked = T0 + timedelta(seconds=3)

    with pytest.raises(DeliveryDeferred) as out:
        send_slot(
            SendSchedule(MemoryLedger(), RATES, instance_share=0),
            Owed(booked),
            Sending(until=T0),
            T0,
            LONGEST_CALL,
            Random(1),
        )

    assert out.value.out_of_time and out.value.slot == booked
    assert out.value.retry_at == booked - BOOKED_ARRIVAL


# --- throttling told apart ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "http_status", "throttled", "retryable"),
    [
        (130429, 400, True, True),  # WhatsApp: the number's throughput reached
        (131056, 400, True, True),  # WhatsApp: the pair rate to one user
        (4, 400, True, True),  # application request limit
        (17, 400, True, True),  # user request limit
        (32, 400, True, True),  # page-level throttling
        (613, 400, True, True),  # calls to this API past its rate limit
        (80002, 400, True, True),  # Instagram's business-use-case limit
        (80006, 400, True, True),  # Messenger's business-use-case limit
        (None, 429, True, True),  # HTTP 429 without a Graph error body
        (2, 503, False, True),  # temporary: retried, but not a question of pace
        (131000, 500, False, True),
        (None, 500, False, True),
        (None, None, False, True),  # no answer at all
        (100, 400, False, False),  # refused for good
        (131047, 400, False, False),  # the window is closed
        (190, 401, False, False),  # the token
        (None, 400, False, False),
    ],
)
def test_throttling_answers_are_told_apart(
    code: int | None, http_status: int | None, throttled: bool, retryable: bool
) -> None:
    error = GraphError("answer", code=code, http_status=http_status)

    assert is_throttling(code, http_status) is throttled
    assert error.throttled is throttled
    assert is_retryable(code, http_status) is retryable and error.retryable is retryable
    assert error.pair_rate_limited is (code == 131056)
    assert ("throttled" in str(error)) is throttled


# --- the backoff ----------------------------------------------------------------------------------------


THROTTLED = GraphError("(#130429) Rate limit hit", code=130429, http_status=400)
PAIR_LIMITED = GraphError("(#131056) Pair rate limit hit", code=131056, http_status=400)


@pytest.mark.parametrize("attempt", range(1, 12))
def test_the_backoff_doubles_within_bounds_in_whole_seconds(attempt: int) -> None:
    low = 2 ** (attempt - 1)
    delays = {retry_delay(attempt, THROTTLED, Random(seed)) for seed in range(60)}

    assert all(d.total_seconds() == int(d.total_seconds()) for d in delays)
    assert all(
        min(timedelta(seconds=low), RETRY_CAP) <= d <= min(timedelta(seconds=2 * low), RETRY_CAP)
        for d in delays
    )


def test_the_backoff_is_jittered() -> None:
    delays = [retry_delay(4, THROTTLED, Random(seed)).total_seconds() for seed in range(200)]

    assert set(delays) == set(range(8, 17))  # every whole second of its range comes up
    assert 10.5 < sum(delays) / len(delays) < 13.5


def test_whatsapps_pair_rate_limit_waits_4_to_the_x_seconds() -> None:
    for attempt, low in ((1, 1), (2, 4), (3, 16), (4, 64)):
        delays = {retry_delay(attempt, PAIR_LIMITED, Random(seed)).total_seconds() for seed in range(60)}
        assert min(delays) >= low and max(delays) <= 2 * low


def test_the_backoff_never_passes_its_cap() -> None:
    assert retry_delay(30, THROTTLED, Random(1)) == RETRY_CAP
    assert retry_delay(30, PAIR_LIMITED, Random(1)) == RETRY_CAP
    assert retry_delay(10**6, None, Random(1)) == RETRY_CAP


def test_a_send_told_to_wait_waits_the_backoff_of_its_try() -> None:
    waits = told_to_wait(THROTTLED, Sending(attempt=3), T0, Random(7))

    assert T0 + timedelta(seconds=4) <= waits.retry_at <= T0 + timedelta(seconds=8)
    assert waits.slot is None and not waits.account_busy and "130429" in str(waits)


def test_a_record_comes_back_at_its_time_never_on_its_last_receive() -> None:
    assert come_back_in(T0 + timedelta(seconds=5.2), T0, receive_count=1, max_receives=5) == 6
    assert come_back_in(T0 + timedelta(seconds=5), T0, receive_count=4, max_receives=5) == 5
    assert come_back_in(T0 - timedelta(seconds=3), T0, receive_count=1, max_receives=5) == 0
    assert (
        come_back_in(T0 + timedelta(hours=3), T0, receive_count=4, max_receives=5)
        == RETRY_CAP.total_seconds()
    )
    assert come_back_in(T0 + timedelta(seconds=5), T0, receive_count=5, max_receives=5) is None


def test_what_waits_is_held_from_no_earlier_than_the_record_comes_back() -> None:
    for seconds in (0.2, 1.0, 1.5, 7.999, 60.0):
        retry_at = T0 + timedelta(seconds=seconds)
        back = come_back_in(retry_at, T0, receive_count=1, max_receives=5)
        assert back is not None
        held_until = DeliveryDeferred("waits", retry_at).not_before
        assert held_until <= T0 + timedelta(seconds=back)  # free when the record is back


# --- the deadline: a batch's sends inside the conversation function's timeout ---------------------------


def test_an_invocations_sends_stop_in_time_for_its_end() -> None:
    remaining = timedelta(seconds=30)

    until = send_deadline(T0, remaining)
    sending = Sending(until=until)

    assert until == T0 + remaining - SEND_MARGIN
    assert sending.latest_start(LONGEST_CALL) == until - LONGEST_CALL
    assert Sending().latest_start(LONGEST_CALL) is None


def test_the_graph_clients_longest_call_is_its_connect_and_read_timeouts() -> None:
    client = GraphClient("https://graph.facebook.com/v23.0")

    assert client.longest_call == LONGEST_CALL == timedelta(seconds=CONNECT_TIMEOUT + READ_TIMEOUT)
    assert math.isclose(LONGEST_CALL.total_seconds(), 6.0)
