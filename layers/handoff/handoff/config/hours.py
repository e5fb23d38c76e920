"""Business hours: weekly local ranges in an IANA zone, overnight ranges, holidays, dated exceptions.

Ranges are local wall-clock times in the configured zone, half-open ([start, end)), and belong to the
date they start on. A range whose end is not after its start crosses midnight: Friday 22:00-06:00 is
Friday's range and also covers Saturday 00:00-06:00; an end of 00:00 is the midnight that ends the day.
A date's ranges are its exception's ranges if it has one (an empty list closes it), none if it is a
closed date, and its weekday's ranges otherwise. So closed dates and exceptions only touch the ranges
that start on that date: when Saturday is a holiday, Friday's 22:00-06:00 still runs until 06:00 on
Saturday, while a Friday holiday drops it altogether. Overlapping or touching ranges simply add up.
How a range meets a daylight-saving change is explained in `_occurrence`.
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

NEXT_CHANGE_HORIZON = timedelta(days=14)

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


def _hh_mm(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second or value.microsecond else "%H:%M")


WallClock = Annotated[
    time,
    PlainSerializer(_hh_mm, return_type=str),
    # JSON Schema's `time` format is RFC 3339's (seconds and an offset): these are local "HH:MM"
    WithJsonSchema({"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"}),
]
"""A local wall-clock time, written "HH:MM" (seconds when given)."""


class TimeRange(_Strict):
    """A local-time range [start, end); `end` <= `start` means it crosses midnight into the next day."""

    start: WallClock
    end: WallClock

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(
                f"range time {value.isoformat()} carries a UTC offset; "
                "ranges are local wall-clock times in the hours' time zone"
            )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError(f"time range {self.start:%H:%M}-{self.end:%H:%M} is empty")
        return self


class DatedException(_Strict):
    """A date with its own ranges instead of the weekly ones (an empty list closes the day)."""

    date: date
    ranges: list[TimeRange] = Field(default_factory=list)


class BusinessHoursConfig(_Strict):
    timezone: str
    weekly: dict[Weekday, list[TimeRange]] = Field(default_factory=dict)
    closed_dates: list[date] = Field(default_factory=list)
    exceptions: list[DatedException] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        # Besides unknown keys, zoneinfo raises ValueError for malformed keys and non-TZif files
        # and OSError for a key naming a folder ("America").
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_rule_per_date(self) -> Self:
        counts = Counter(exception.date for exception in self.exceptions)
        repeated = sorted(day for day, count in counts.items() if count > 1)
        if repeated:
            raise ValueError(
                f"more than one exception for {_dates(repeated)}; give each date one list of ranges"
            )
        both = sorted(set(self.closed_dates) & counts.keys())
        if both:
            raise ValueError(
                f"{_dates(both)} both closed and given exception ranges; keep one "
                "(an exception with no ranges closes the day too)"
            )
        return self


def _dates(days: list[date]) -> str:
    return ", ".join(day.isoformat() for day in days)


class BusinessHours:
    """Whether a business is open at an instant, and when that next changes; never reads a clock."""

    def __init__(self, config: BusinessHoursConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._closed = frozenset(config.closed_dates)
        self._exceptions = {exception.date: exception.ranges for exception in config.exceptions}

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (timezone-aware) falls inside the hours."""
        instant = _as_utc(at)
        today = instant.astimezone(self.zone).date()
        # Yesterday's overnight ranges reach into today; a day more on each side covers clocks that go
        # back across midnight.
        return any(start <= instant < end for start, end in self._intervals(today - 2 * _DAY, today + _DAY))

    def next_change(self, at: datetime) -> datetime | None:
        """The first instant (UTC) after `at` when the hours open or close, if within NEXT_CHANGE_HORIZON."""
        instant = _as_utc(at)
        horizon = instant + NEXT_CHANGE_HORIZON
        today = instant.astimezone(self.zone).date()
        last_day = today + NEXT_CHANGE_HORIZON + _DAY
        for start, end in _merged(self._intervals(today - 2 * _DAY, last_day)):
            if end <= instant:
                continue
            change = start if start > instant else end
            return change if change <= horizon else None
        return None

    def _ranges_starting_on(self, day: date) -> list[TimeRange]:
        if day in self._exceptions:
            return self._exceptions[day]
        if day in self._closed:
            return []
        return self.config.weekly.get(WEEKDAYS[day.weekday()], [])

    def _intervals(self, first_day: date, last_day: date) -> Iterator[tuple[datetime, datetime]]:
        day = first_day
        while day <= last_day:
            for time_range in self._ranges_starting_on(day):
                yield _occurrence(day, time_range, self.zone)
            day += _DAY


def _as_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"business hours need a timezone-aware datetime, got the naive {at.isoformat()}")
    return at.astimezone(UTC)


def _occurrence(day: date, time_range: TimeRange, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) that the range starting on `day` covers.

    A range is open from the first moment the local clock shows a time inside it until the last, so a
    change of offset neither shifts it nor drops any wall-clock time it names:

    - Fall back (wall times repeat): it opens at the first pass of its start and closes once the clock
      shows no time inside it any more. On the night New York goes back from 02:00 EDT to 01:00 EST,
      01:00-02:00 covers both 01:xx hours, 00:00-01:30 stays open until the second 01:30, 01:30-05:00
      does not close when the clock goes back to 01:00, and 22:00-01:00 closes at the first 01:00.
    - Spring forward (wall times skipped): a start or an end inside the gap means the jump itself.
      On the night New York jumps from 02:00 EST to 03:00 EDT, 02:00-04:00 is open 03:00-04:00 EDT
      and 01:30-02:30 is open 01:30-02:00 EST, that is until the jump.
    - A range lying wholly inside the gap would be left with no instant at all. Rather than vanish, it
      keeps the instants it would have had without the jump (the offset before the jump, the way
      RFC 5545 reads a nonexistent local time): that night 02:15-02:45 is open 03:15-03:45 EDT.
    """
    start_wall = datetime.combine(day, time_range.start)
    end_day = day if time_range.end > time_range.start else day + _DAY
    end_wall = datetime.combine(end_day, time_range.end)
    start, end = _opening(start_wall, zone), _closing(end_wall, zone)
    if start < end:
        return start, end
    offset_before_jump = start_wall.replace(tzinfo=zone, fold=0).utcoffset()
    assert offset_before_jump is not None  # a ZoneInfo always has an offset
    return (
        (start_wall - offset_before_jump).replace(tzinfo=UTC),
        (end_wall - offset_before_jump).replace(tzinfo=UTC),
    )


def _opening(wall: datetime, zone: ZoneInfo) -> datetime:
    """Where a range starting at `wall` opens: the first moment the local clock shows `wall` or later."""
    by_old_offset, by_new_offset = _readings(wall, zone)
    if by_old_offset <= by_new_offset:
        return by_old_offset
    return _jump_between(by_new_offset, by_old_offset, zone)


def _closing(wall: datetime, zone: ZoneInfo) -> datetime:
    """Where a range ending at `wall` closes: the last moment the local clock shows a time just before it."""
    by_old_offset, by_new_offset = _readings(wall, zone)
    if by_old_offset > by_new_offset:
        return _jump_between(by_new_offset, by_old_offset, zone)
    # On a repeated `wall` the clock goes on to show earlier times before its second pass, unless it
    # goes back to exactly `wall`: then that second pass begins at the change itself.
    earlier_before_second_pass = (by_new_offset - _MICROSECOND).astimezone(zone).replace(tzinfo=None) < wall
    return by_new_offset if earlier_before_second_pass else by_old_offset


def _readings(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """`wall` read with the offset in force before a change of offset and after it, as UTC instants.

    Both are the same away from changes; the first is earlier when the clock goes back over `wall`,
    and later when it jumps over `wall`.
    """
    # PEP 495: fold=0 reads with the offset before a change, fold=1 with the one after.
    return (
        wall.replace(tzinfo=zone, fold=0).astimezone(UTC),
        wall.replace(tzinfo=zone, fold=1).astimezone(UTC),
    )


def _jump_between(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant in (before, after] where the zone's offset changes to the one in force at `after`."""
    # zoneinfo does not expose its transitions; they fall on whole seconds, so bisect over seconds.
    low = (before - _EPOCH) // _SECOND
    high = -((_EPOCH - after) // _SECOND)
    new_offset = after.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if (_EPOCH + middle * _SECOND).astimezone(zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return _EPOCH + high * _SECOND


def _merged(intervals: Iterable[tuple[datetime, datetime]]) -> Iterator[tuple[datetime, datetime]]:
    """Sorted intervals with the overlapping and touching ones joined, so each boundary is a real change."""
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(intervals):
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current
