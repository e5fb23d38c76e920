"""Sends paced per sending account, and when a send that had to wait is tried again.

Meta limits how fast each sending account sends: a WhatsApp phone number 80 messages a second by
default (`130429` past it), a Facebook page or an Instagram account 300 calls a second for text
(codes 4, 17, 32, 613). Every sender of the app (each instance of the conversation function, the
outbox sweep, the Live API) keeps to its part of the account's rate, so all of them together stay
under it, however many instances run. The rate (times `PACE_SHARE`) is split in two:

- **each instance's own part**: with `instances` the conversation function's event source's
  MaximumConcurrency, each instance may send `own_per_second` messages of an account in any second
  (`INSTANCE_SHARE` of the paced rate split evenly among the instances, in whole sends) with no
  write at all. However many instances run, never more than `instances` do, so together they send
  at most `instances × own_per_second` in any second. Steady traffic goes this way: a message costs
  no pacing write.
- **the shared schedule**: the rest of the paced rate, taken by the senders of any function when
  their own part is spent (a wake-up's burst) or when they have none (the sweep, the Live API).

Both are counted in any second, as Meta counts: the instances' parts and the schedule's slots
together never pass the paced rate in a second (one slot more at most, where the seconds fall).

The shared schedule is the generic cell rate algorithm without a burst: an item per account holds
the time of its next free slot; taking one moves it on by one interval, and a schedule left behind by
idle time starts again from now. One conditional `UpdateItem` per send, two when a guess about the
schedule (kept per process) was wrong. A sender waits for its slot in its invocation when the slot is
at most `HORIZON` away. Farther (more senders at once than the rate serves), a sender whose record can
come back books the slot anyway and its record comes back just before it (the slot is kept on the
outbox message); the others (the sweep, the Live API) take none (`Busy`) and leave the message for
later. So however many instances run, each message takes one slot, and the sends leave at the
account's rate in the order they booked.

A send that must wait (throttled by Meta, a 5xx or no answer, the schedule full, no time left in the
invocation) is tried again at `retry_at`: exponential, with jitter, in whole seconds since the
record comes back through SQS's visibility timeout (`retry_delay`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from handoff.adapters.graph import GraphError

PACE_SHARE = 0.95
"""The share of Meta's rate the schedule uses. Meta counts the users' own messages in a WhatsApp
number's throughput, and calls reach Meta tens of milliseconds apart from when they leave: paced at
exactly the rate, 3.7% of the calls were throttled in `make bench-scale`'s model of Meta (10,000
users), 1.5% at 97%, 0.23% at 95%, for a time to tell them all within 1% of each other."""
INSTANCE_SHARE = 0.5
"""At most this part of each account's paced rate is spent by the conversation function's instances on
their own, each an even part in whole sends a second, with no write; the shared schedule has the rest.
With 25 instances and a WhatsApp number at 80 (76 paced): one send a second each, 25 in all, and 51 a
second in the schedule. A wake-up that keeps every instance busy sends at the whole paced rate, and an
instance sends steady traffic up to its part without a write."""
OWN_WINDOW = 1_000_000
"""A second in microseconds: what an instance's own part is counted in, as Meta counts."""
HORIZON = timedelta(seconds=2)
"""The longest a sender waits in its invocation for a slot; a later one is left for the record's return."""
BOOKED_SLOT_GRACE = timedelta(seconds=1)
"""How late a record may come back for a slot booked for its message and still send in it (past
that, the slot is gone by: it takes the account's next)."""
SEND_MARGIN = timedelta(seconds=2)
"""Time kept at the end of an invocation after the last send: its outbox delete, the records' return."""
RETRY_CAP = timedelta(minutes=15)
"""The longest backoff before a try (the record's later returns, then the sweep, take over)."""
TAKE_ATTEMPTS = 4
"""Conditional writes one slot may take when other senders move the schedule at the same moment."""
LATELY = timedelta(seconds=1)
"""A schedule this process found busy (ahead of now) this recently is guessed busy still: other
instances keep it ahead. So is one whose slot this process took last is not past yet. Any other is
guessed idle. A wrong guess costs
one more write."""
NOT_BEFORE_SLACK = timedelta(seconds=1)
"""A message told to wait is held for no sender until a second before its `retry_at`, so that its
record, back at `retry_at`, finds it free whatever the clocks of SQS and of the sender say."""
BOOKED_ARRIVAL = timedelta(seconds=1)
"""A record whose message has a slot booked comes back this long before it (SQS's visibility is
in whole seconds, and it may come back up to a second late) and waits for it in the invocation."""


class DeliveryDeferred(Exception):
    """A send must wait (Meta or the event bus asked, the account's schedule is booked ahead, or the
    invocation has no time left): it and the rest of the outbox wait, in order, until `retry_at`."""

    def __init__(
        self,
        reason: str,
        retry_at: datetime,
        *,
        account_busy: bool = False,
        out_of_time: bool = False,
        slot: datetime | None = None,
    ) -> None:
        super().__init__(reason)
        self.retry_at = retry_at
        self.account_busy = account_busy
        self.out_of_time = out_of_time
        self.slot = slot  # a send slot booked for the message, kept for it until then

    @property
    def not_before(self) -> datetime:
        """Until when no sender may take the message (see NOT_BEFORE_SLACK)."""
        return self.retry_at - NOT_BEFORE_SLACK


@dataclass(frozen=True, slots=True)
class Slot:
    """A send slot taken: the send may leave at `at` (now, or a little later)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Busy:
    """No slot within the horizon: one will be, from `free_at` on. Nothing was taken."""

    free_at: datetime


class ScheduleLedger(Protocol):
    """The stored next free slot of each account, in microseconds since the epoch, moved only by
    conditional writes (`store/send_schedule.py` in DynamoDB; an in-memory one in the bench)."""

    def push(self, account: str, *, interval: int, now: int, latest: int | None) -> tuple[bool, int | None]:
        """Move the next slot on by `interval` if it lies in `[now, latest]` (`latest` None: at or after
        `now`): (True, the new next slot), or (False, the next slot as it is, None when there is none)."""
        ...

    def restart(self, account: str, *, interval: int, now: int) -> tuple[bool, int | None]:
        """Set the next slot to `now + interval` if there is none or it is before `now`: (True, the new
        next slot), or (False, the next slot as it is)."""
        ...


class Paced(Protocol):
    """What pacing reads of a message to send (an outbox message)."""

    @property
    def channel(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def slot_at(self) -> datetime | None: ...


def schedule_key(channel: str, account_id: str) -> str:
    return f"{channel}#{account_id}"


class SendSchedule:
    """Takes send slots from each sending account's schedule, at the account's channel's rate."""

    def __init__(
        self,
        ledger: ScheduleLedger,
        rates: dict[str, float],
        *,
        share: float = PACE_SHARE,
        instances: int = 1,
        instance_share: float = INSTANCE_SHARE,
    ) -> None:
        if not rates or any(rate <= 0 for rate in rates.values()):
            raise ValueError("every channel needs a rate above 0 sends per second")
        if instances < 1 or not 0 <= instance_share < 1:
            raise ValueError("instances must be 1 or more, and their share at least 0 and below 1")
        self.ledger = ledger
        self.rates = dict(rates)
        self.share = share
        self.instances = instances
        self.instance_share = instance_share
        self._busy_at: dict[str, int] = {}  # per account, when this process last found it busy
        self._left_at: dict[str, int] = {}  # per account, its next free slot as this process left it
        self._own_sent: dict[str, deque[int]] = {}  # per account, its own sends in the last second
        self.own_sends = 0  # sends taken from this instance's own part (no write)

    def own_per_second(self, channel: str) -> int:
        """How many sends of one account an instance may make in any second from its own part."""
        return math.floor(self.rates[channel] * self.share * self.instance_share / self.instances)

    def interval(self, channel: str) -> int:
        """Microseconds between two slots of the shared schedule of one account of this channel: the
        paced rate less what the instances' own parts may send in a second."""
        shared = self.rates[channel] * self.share - self.instances * self.own_per_second(channel)
        return max(1, round(1_000_000 / shared))

    def take(
        self,
        channel: str,
        account_id: str,
        now: datetime,
        *,
        horizon: timedelta | None = HORIZON,
        own_part: bool = False,
    ) -> Slot | Busy:
        """A slot at most `horizon` from `now` (None: the next, however far), or when one will be free.
        `own_part`: the sender is an instance of the conversation function, which spends its own part
        of the rate first. A channel with no rate is not paced (only Meta's channels send through the
        Graph API, and each has one)."""
        if channel not in self.rates:
            return Slot(at=now)
        key = schedule_key(channel, account_id)
        start = _micros(now)
        per_second = self.own_per_second(channel) if own_part else 0
        if self._own_free_at(key, per_second, start) == start:
            return Slot(at=_datetime(self._own_take(key, start)))
        latest = None if horizon is None else start + max(0, _span(horizon))
        own_at = self._own_free_at(key, per_second, start)
        if own_at is not None and (latest is None or own_at <= latest) and own_at - start <= _span(HORIZON):
            # whichever comes first: a slot of the schedule before this instance's own next send, or
            # that send (a busy instance spends its own part every second, the schedule between)
            sooner = self._shared(key, self.interval(channel), start, own_at)
            if isinstance(sooner, Slot):
                return sooner
            return Slot(at=_datetime(self._own_take(key, own_at)))
        return self._shared(key, self.interval(channel), start, latest)

    def _shared(self, key: str, interval: int, start: int, latest: int | None) -> Slot | Busy:
        """A slot of the account's shared schedule from `start` to `latest` (None: however far)."""
        seen_busy = self._busy_at.get(key)
        # the guess: busy when another sender kept it ahead lately, or when this process's own last
        # slot is not past yet (sends of one process a few milliseconds apart: one write each)
        busy = (seen_busy is not None and start - seen_busy <= _span(LATELY)) or self._left_at.get(
            key, 0
        ) >= start
        for _ in range(TAKE_ATTEMPTS):
            if busy:
                taken, seen = self.ledger.push(key, interval=interval, now=start, latest=latest)
                if taken and seen is not None:
                    self._busy_at[key] = start
                    self._left_at[key] = seen
                    return Slot(at=_datetime(seen - interval))
                if seen is not None and latest is not None and seen > latest:  # booked beyond the horizon
                    self._busy_at[key] = start
                    return Busy(free_at=_datetime(seen - (latest - start)))
            else:  # idle: start it again from now
                taken, seen = self.ledger.restart(key, interval=interval, now=start)
                if taken:
                    self._busy_at.pop(key, None)
                    self._left_at[key] = start + interval
                    return Slot(at=_datetime(start))
            busy = seen is not None and seen >= start  # what the write that lost saw
        # other senders moved the schedule at each try: one interval on, it will have settled
        return Busy(free_at=_datetime(start + interval))

    def _own_free_at(self, key: str, per_second: int, start: int) -> int | None:
        """When this instance's own part of the account has a send free, from `start` on: the first
        instant with fewer than `per_second` of its own sends in the second before it, so never more
        than `per_second` in any second (None: the instance has no part)."""
        if per_second < 1:
            return None
        sent = self._own_sent.setdefault(key, deque())
        while sent and sent[0] <= start - OWN_WINDOW:
            sent.popleft()
        return start if len(sent) < per_second else max(start, sent[len(sent) - per_second] + OWN_WINDOW)

    def _own_take(self, key: str, at: int) -> int:
        self._own_sent[key].append(at)
        self.own_sends += 1
        return at


@dataclass(frozen=True, slots=True)
class Sending:
    """What an invocation allows its sends: no send starts unless it can end by `until` (None: no
    limit); `attempt` counts the tries of the record that owes them (its receive count); `comes_back`:
    that record can come back later, so a slot beyond the horizon may be booked for it."""

    until: datetime | None = None
    attempt: int = 1
    comes_back: bool = False
    instance_share: bool = False
    """The sender is an instance of the conversation function: it spends its own part of the rate first."""

    def latest_start(self, longest_call: timedelta) -> datetime | None:
        return None if self.until is None else self.until - longest_call


def send_slot(
    schedule: SendSchedule,
    message: Paced,
    sending: Sending,
    now: datetime,
    longest_call: timedelta,
    random: Random,
) -> datetime:
    """When the message may be sent: a slot booked for it earlier, or its account's next. Only one
    that comes in time: within `HORIZON`, and early enough for the call to end before
    `sending.until`. Otherwise the message must wait (DeliveryDeferred): for a slot booked for it
    when its record can come back for it, else until the schedule has room."""
    slot_at = message.slot_at
    booked = slot_at if slot_at is not None and slot_at >= now - BOOKED_SLOT_GRACE else None
    horizon = HORIZON
    latest_start = sending.latest_start(longest_call)
    if latest_start is not None:
        if now >= latest_start:
            retry_at = max(booked - BOOKED_ARRIVAL, now) if booked else now
            raise DeliveryDeferred("no time left in this invocation", retry_at, out_of_time=True, slot=booked)
        horizon = min(horizon, latest_start - now)
    slot = booked
    if slot is None:
        taken = schedule.take(
            message.channel,
            message.account_id,
            now,
            horizon=None if sending.comes_back else horizon,
            own_part=sending.instance_share,
        )
        if isinstance(taken, Busy):
            # spread over a second: the messages told the same time do not all come back at once
            later = taken.free_at + timedelta(seconds=random.random())
            raise DeliveryDeferred("the account's sends are booked ahead", later, account_busy=True)
        slot = taken.at
    if slot - now > horizon:  # booked beyond what this invocation waits for: its record comes back
        # a second early at most (SQS's visibility is in whole seconds), to wait for it there
        raise DeliveryDeferred("its send slot is booked for later", slot - BOOKED_ARRIVAL, slot=slot)
    return slot


def told_to_wait(
    error: GraphError | None, sending: Sending, now: datetime, random: Random
) -> DeliveryDeferred:
    """The wait after Meta (or the event bus, `error` None) asked to retry: `retry_delay` on."""
    reason = str(error) if error is not None else "the event bus asked to retry"
    return DeliveryDeferred(reason, now + retry_delay(sending.attempt, error, random))


def send_deadline(now: datetime, remaining: timedelta) -> datetime:
    """The `until` of an invocation with `remaining` time left: what the sends must leave at the end."""
    return now + remaining - SEND_MARGIN


def retry_delay(attempt: int, error: GraphError | None, random: Random) -> timedelta:
    """How long a send Meta told to wait (or that got no answer) waits before its next try.

    Exponential with jitter, in whole seconds, since SQS sets a record's visibility in seconds:
    1 to 2 s after the first try, 2 to 4 after the second, 4 to 8… For WhatsApp's pair rate limit
    (131056) Meta asks for 4^X seconds: 1 to 2, 4 to 8, 16 to 32… Never more than `RETRY_CAP`."""
    base = 4 if error is not None and error.pair_rate_limited else 2
    low = base ** max(0, min(attempt - 1, 20))
    seconds = random.randint(low, 2 * low)
    return min(timedelta(seconds=seconds), RETRY_CAP)


def come_back_in(retry_at: datetime, now: datetime, *, receive_count: int, max_receives: int) -> int | None:
    """The visibility timeout, in whole seconds, that brings a record back at `retry_at` (at most a
    second after); None on the record's last receive (one more would send it to the dead-letter
    queue: the outbox sweep takes over)."""
    if receive_count >= max_receives:
        return None
    seconds = math.ceil((retry_at - now).total_seconds())
    return min(max(0, seconds), int(RETRY_CAP.total_seconds()))


def _micros(at: datetime) -> int:
    return round(at.timestamp() * 1_000_000)


def _span(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1_000_000)


def _datetime(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)
