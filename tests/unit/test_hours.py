"""Business hours: weekly, overnight, holidays, exceptions and daylight-saving changes, in real zones."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from handoff.config.hours import (
    NEXT_CHANGE_HORIZON,
    WEEKDAYS,
    BusinessHours,
    BusinessHoursConfig,
    DatedException,
    TimeRange,
)

MICROSECOND = timedelta(microseconds=1)
DAY = timedelta(days=1)


def ranges(*spans: str) -> list[TimeRange]:
    """`ranges("09:00-14:00", "16:00-19:00")`."""
    pairs = (span.split("-") for span in spans)
    return [TimeRange.model_validate({"start": start, "end": end}) for start, end in pairs]


def hours(
    zone: str,
    weekly: dict[str, list[str]] | None = None,
    closed: list[str] | None = None,
    exceptions: dict[str, list[str]] | None = None,
) -> BusinessHours:
    return BusinessHours(
        BusinessHoursConfig.model_validate(
            {
                "timezone": zone,
                "weekly": {day: ranges(*spans) for day, spans in (weekly or {}).items()},
                "closed_dates": closed or [],
                "exceptions": [
                    {"date": day, "ranges": ranges(*spans)} for day, spans in (exceptions or {}).items()
                ],
            }
        )
    )


def at(text: str) -> datetime:
    """An instant written with its UTC offset, which says which of two repeated wall times is meant."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


# --- the rules, case by case -------------------------------------------------------------------------

MADRID_OFFICE = hours("Europe/Madrid", {day: ["09:00-14:00", "16:00-19:00"] for day in WEEKDAYS[:5]})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2024-06-03T08:59:59+02:00", False),  # Monday, before opening
        ("2024-06-03T09:00+02:00", True),  # a range includes its start
        ("2024-06-03T13:59:59.999999+02:00", True),
        ("2024-06-03T14:00+02:00", False),  # and excludes its end
        ("2024-06-03T15:00+02:00", False),  # lunch, between the day's two ranges
        ("2024-06-03T16:00+02:00", True),
        ("2024-06-03T19:00+02:00", False),
        ("2024-06-08T10:00+02:00", False),  # Saturday has no ranges
        ("2024-06-03T07:30+00:00", True),  # the same rules whatever zone `at` is written in
        ("2024-06-03T12:30+00:00", False),
    ],
)
def test_weekly_ranges_several_a_day(moment: str, expected: bool) -> None:
    assert MADRID_OFFICE.is_open(at(moment)) is expected


NIGHT_SHIFT = hours("America/Bogota", {"fri": ["22:00-06:00"], "sat": ["18:00-00:00"]})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2024-06-07T21:59:59-05:00", False),
        ("2024-06-07T22:00-05:00", True),
        ("2024-06-08T00:00-05:00", True),  # Friday's range runs on into Saturday
        ("2024-06-08T05:59:59-05:00", True),
        ("2024-06-08T06:00-05:00", False),
        ("2024-06-06T23:00-05:00", False),  # Thursday has no range of its own
        ("2024-06-08T23:59:59.999999-05:00", True),  # an end of 00:00 is the midnight ending Saturday
        ("2024-06-09T00:00-05:00", False),
    ],
)
def test_a_range_ending_at_or_before_its_start_crosses_midnight(moment: str, expected: bool) -> None:
    assert NIGHT_SHIFT.is_open(at(moment)) is expected


@pytest.mark.parametrize(
    ("closed", "moment", "expected"),
    [
        (["2024-06-03"], "2024-06-03T10:00+02:00", False),  # a closed Monday
        (["2024-06-03"], "2024-06-04T10:00+02:00", True),  # Tuesday is untouched
        (["2024-06-08"], "2024-06-08T03:00+02:00", True),  # Friday's night range runs into a Saturday holiday
        (["2024-06-07"], "2024-06-07T23:00+02:00", False),  # a Friday holiday drops the range starting then
        (["2024-06-07"], "2024-06-08T03:00+02:00", False),  # including its part on Saturday
        (["2024-06-07"], "2024-06-07T03:00+02:00", True),  # Thursday's night range still ends on Friday
    ],
)
def test_closed_dates_close_the_ranges_starting_on_them(
    closed: list[str], moment: str, expected: bool
) -> None:
    nights = hours(
        "Europe/Madrid",
        {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "thu": ["22:00-06:00"], "fri": ["22:00-06:00"]},
        closed=closed,
    )
    assert nights.is_open(at(moment)) is expected


@pytest.mark.parametrize(
    ("exceptions", "moment", "expected"),
    [
        ({"2024-06-03": ["10:00-12:00"]}, "2024-06-03T09:30+02:00", False),  # replaced, not added to
        ({"2024-06-03": ["10:00-12:00"]}, "2024-06-03T11:00+02:00", True),
        ({"2024-06-03": ["10:00-12:00"]}, "2024-06-03T16:30+02:00", False),
        ({"2024-06-03": ["10:00-12:00"]}, "2024-06-04T16:30+02:00", True),  # only that date
        ({"2024-06-03": []}, "2024-06-03T10:00+02:00", False),  # an empty exception closes the day
        ({"2024-06-08": ["20:00-02:00"]}, "2024-06-09T01:00+02:00", True),  # exceptions may cross midnight
        ({"2024-06-08": ["20:00-02:00"]}, "2024-06-09T02:00+02:00", False),
        ({"2024-06-08": ["10:00-12:00", "11:00-13:00"]}, "2024-06-08T12:30+02:00", True),  # overlaps add up
    ],
)
def test_dated_exceptions_replace_the_weekly_ranges(
    exceptions: dict[str, list[str]], moment: str, expected: bool
) -> None:
    assert (
        hours(
            "Europe/Madrid",
            {"mon": ["09:00-14:00", "16:00-19:00"], "tue": ["09:00-19:00"]},
            exceptions=exceptions,
        ).is_open(at(moment))
        is expected
    )


# Spring forward: New York 2024-03-10 02:00 EST -> 03:00 EDT; Madrid 2024-03-31 02:00 CET -> 03:00 CEST;
# Lord Howe 2024-10-06 02:00 -> 02:30 (+10:30 -> +11); São Paulo 2018-11-04 00:00 -> 01:00 (-03 -> -02).
# Fall back: New York 2024-11-03 02:00 EDT -> 01:00 EST; Madrid 2024-10-27 03:00 CEST -> 02:00 CET;
# Lord Howe 2024-04-07 02:00 -> 01:30; São Paulo 2019-02-17 00:00 -> 2019-02-16 23:00.
@pytest.mark.parametrize(
    ("zone", "weekly", "moment", "expected"),
    [
        # a range over the gap keeps the hour that exists
        ("America/New_York", {"sun": ["02:00-04:00"]}, "2024-03-10T01:59:59-05:00", False),
        ("America/New_York", {"sun": ["02:00-04:00"]}, "2024-03-10T03:00-04:00", True),
        ("America/New_York", {"sun": ["02:00-04:00"]}, "2024-03-10T03:59:59-04:00", True),
        ("America/New_York", {"sun": ["02:00-04:00"]}, "2024-03-10T04:00-04:00", False),
        # a range ending in the gap closes at the jump
        ("America/New_York", {"sun": ["01:30-02:30"]}, "2024-03-10T01:59:59-05:00", True),
        ("America/New_York", {"sun": ["01:30-02:30"]}, "2024-03-10T03:00-04:00", False),
        # a range wholly inside the gap keeps the instants it would have had without the jump
        ("America/New_York", {"sun": ["02:15-02:45"]}, "2024-03-10T03:14:59-04:00", False),
        ("America/New_York", {"sun": ["02:15-02:45"]}, "2024-03-10T03:15-04:00", True),
        ("America/New_York", {"sun": ["02:15-02:45"]}, "2024-03-10T03:44:59-04:00", True),
        ("America/New_York", {"sun": ["02:15-02:45"]}, "2024-03-10T03:45-04:00", False),
        # a morning range is not shifted by the change of offset overnight
        (
            "America/New_York",
            {"sat": ["09:00-17:00"], "sun": ["09:00-17:00"]},
            "2024-03-09T09:00-05:00",
            True,
        ),
        (
            "America/New_York",
            {"sat": ["09:00-17:00"], "sun": ["09:00-17:00"]},
            "2024-03-10T08:59-04:00",
            False,
        ),
        (
            "America/New_York",
            {"sat": ["09:00-17:00"], "sun": ["09:00-17:00"]},
            "2024-03-10T09:00-04:00",
            True,
        ),
        (
            "America/New_York",
            {"sat": ["09:00-17:00"], "sun": ["09:00-17:00"]},
            "2024-03-10T16:59-04:00",
            True,
        ),
        (
            "America/New_York",
            {"sat": ["09:00-17:00"], "sun": ["09:00-17:00"]},
            "2024-03-10T17:00-04:00",
            False,
        ),
        # an overnight range from Saturday across the gap
        ("America/New_York", {"sat": ["22:00-06:00"]}, "2024-03-10T01:59-05:00", True),
        ("America/New_York", {"sat": ["22:00-06:00"]}, "2024-03-10T05:59-04:00", True),
        ("America/New_York", {"sat": ["22:00-06:00"]}, "2024-03-10T06:00-04:00", False),
        ("Europe/Madrid", {"sun": ["01:30-02:30"]}, "2024-03-31T01:59+01:00", True),
        ("Europe/Madrid", {"sun": ["01:30-02:30"]}, "2024-03-31T03:00+02:00", False),
        ("Europe/Madrid", {"sun": ["02:30-05:00"]}, "2024-03-31T01:59:59+01:00", False),
        ("Europe/Madrid", {"sun": ["02:30-05:00"]}, "2024-03-31T03:00+02:00", True),  # opens at the jump
        ("Europe/Madrid", {"sun": ["02:00-03:00"]}, "2024-03-31T03:00+02:00", True),  # wholly in the gap
        ("Europe/Madrid", {"sun": ["02:00-03:00"]}, "2024-03-31T03:59+02:00", True),
        ("Europe/Madrid", {"sun": ["02:00-03:00"]}, "2024-03-31T04:00+02:00", False),
        ("Australia/Lord_Howe", {"sun": ["02:00-02:30"]}, "2024-10-06T01:59+10:30", False),
        ("Australia/Lord_Howe", {"sun": ["02:00-02:30"]}, "2024-10-06T02:30+11:00", True),  # half-hour gap
        ("Australia/Lord_Howe", {"sun": ["02:00-02:30"]}, "2024-10-06T03:00+11:00", False),
        ("Australia/Lord_Howe", {"sun": ["01:00-03:00"]}, "2024-10-06T02:45+11:00", True),
        ("America/Sao_Paulo", {"sun": ["00:00-08:00"]}, "2018-11-03T23:59-03:00", False),
        (
            "America/Sao_Paulo",
            {"sun": ["00:00-08:00"]},
            "2018-11-04T01:00-02:00",
            True,
        ),  # midnight never came
        ("America/Sao_Paulo", {"sat": ["20:00-00:30"]}, "2018-11-03T23:59-03:00", True),
        ("America/Sao_Paulo", {"sat": ["20:00-00:30"]}, "2018-11-04T01:00-02:00", False),
        # fall back: a range over the repeated hour covers both of its passes
        ("America/New_York", {"sun": ["01:00-02:00"]}, "2024-11-03T00:59-04:00", False),
        ("America/New_York", {"sun": ["01:00-02:00"]}, "2024-11-03T01:30-04:00", True),
        ("America/New_York", {"sun": ["01:00-02:00"]}, "2024-11-03T01:30-05:00", True),
        ("America/New_York", {"sun": ["01:00-02:00"]}, "2024-11-03T02:00-05:00", False),
        # opening in the repeated hour: open from the first pass on, no closing when the clock goes back
        ("America/New_York", {"sun": ["01:30-05:00"]}, "2024-11-03T01:29-04:00", False),
        ("America/New_York", {"sun": ["01:30-05:00"]}, "2024-11-03T01:10-05:00", True),
        # closing in the repeated hour: open until the second pass reaches the end
        ("America/New_York", {"sun": ["00:00-01:30"]}, "2024-11-03T01:45-04:00", True),
        ("America/New_York", {"sun": ["00:00-01:30"]}, "2024-11-03T01:29-05:00", True),
        ("America/New_York", {"sun": ["00:00-01:30"]}, "2024-11-03T01:30-05:00", False),
        # closing at the very time the clock goes back to: closed from its first pass on
        ("America/New_York", {"sat": ["22:00-01:00"]}, "2024-11-03T00:59-04:00", True),
        ("America/New_York", {"sat": ["22:00-01:00"]}, "2024-11-03T01:00-04:00", False),
        ("America/New_York", {"sat": ["22:00-01:00"]}, "2024-11-03T01:00-05:00", False),
        ("America/New_York", {"sun": ["09:00-17:00"]}, "2024-11-03T08:59-05:00", False),
        ("America/New_York", {"sun": ["09:00-17:00"]}, "2024-11-03T09:00-05:00", True),
        ("Europe/Madrid", {"sun": ["02:00-03:00"]}, "2024-10-27T02:30+02:00", True),
        ("Europe/Madrid", {"sun": ["02:00-03:00"]}, "2024-10-27T02:30+01:00", True),
        ("Europe/Madrid", {"sun": ["02:00-03:00"]}, "2024-10-27T03:00+01:00", False),
        ("Australia/Lord_Howe", {"sun": ["01:30-02:00"]}, "2024-04-07T01:45+11:00", True),
        ("Australia/Lord_Howe", {"sun": ["01:30-02:00"]}, "2024-04-07T01:45+10:30", True),
        ("Australia/Lord_Howe", {"sun": ["01:30-02:00"]}, "2024-04-07T02:00+10:30", False),
        ("America/Sao_Paulo", {"sat": ["22:00-00:00"]}, "2019-02-16T23:30-02:00", True),
        ("America/Sao_Paulo", {"sat": ["22:00-00:00"]}, "2019-02-16T23:30-03:00", True),
        ("America/Sao_Paulo", {"sat": ["22:00-00:00"]}, "2019-02-17T00:00-03:00", False),
        # no daylight saving at all
        ("America/Bogota", {"sun": ["02:00-03:00"]}, "2024-03-10T02:30-05:00", True),
        # Samoa skipped 2011-12-30 altogether: a Thursday night range closes when the day is jumped
        ("Pacific/Apia", {"thu": ["22:00-06:00"]}, "2011-12-29T23:59-10:00", True),
        ("Pacific/Apia", {"thu": ["22:00-06:00"]}, "2011-12-31T00:00+14:00", False),
    ],
)
def test_daylight_saving_neither_shifts_nor_drops_a_range(
    zone: str, weekly: dict[str, list[str]], moment: str, expected: bool
) -> None:
    assert hours(zone, weekly).is_open(at(moment)) is expected


@pytest.mark.parametrize("question", ["is_open", "next_change"])
def test_a_naive_datetime_is_refused(question: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware datetime, got the naive 2024-06-03T10:00:00"):
        getattr(MADRID_OFFICE, question)(datetime(2024, 6, 3, 10, 0))


@pytest.mark.parametrize(
    ("business", "moment", "expected"),
    [
        (MADRID_OFFICE, "2024-06-03T08:00+02:00", "2024-06-03T09:00+02:00"),  # opens
        (MADRID_OFFICE, "2024-06-03T09:00+02:00", "2024-06-03T14:00+02:00"),  # closes; a change is after `at`
        (MADRID_OFFICE, "2024-06-07T20:00+02:00", "2024-06-10T09:00+02:00"),  # over the weekend
        (NIGHT_SHIFT, "2024-06-08T03:00-05:00", "2024-06-08T06:00-05:00"),
        (
            hours("Europe/Madrid", {"mon": ["09:00-12:00", "11:00-13:00", "13:00-14:00"]}),
            "2024-06-03T10:00+02:00",
            "2024-06-03T14:00+02:00",
        ),  # overlapping and touching ranges join
        (
            hours("America/New_York", {"sun": ["09:00-17:00"]}),
            "2024-03-09T20:00-05:00",
            "2024-03-10T09:00-04:00",
        ),
        (
            hours("America/New_York", {"sun": ["02:00-04:00"]}),
            "2024-03-10T00:00-05:00",
            "2024-03-10T03:00-04:00",
        ),
        (
            hours("America/New_York", {"sun": ["01:00-02:00"]}),
            "2024-11-03T01:30-04:00",
            "2024-11-03T02:00-05:00",
        ),
        (
            hours("America/Bogota", exceptions={"2024-06-17": ["10:00-11:00"]}),
            "2024-06-03T10:00-05:00",
            "2024-06-17T10:00-05:00",
        ),  # exactly the horizon away still counts
        (
            hours("America/Bogota", exceptions={"2024-06-17": ["10:00-11:00"]}),
            "2024-06-03T09:59:59-05:00",
            None,
        ),
        (hours("America/Bogota"), "2024-06-03T10:00-05:00", None),  # never open
        (
            hours("America/Bogota", {day: ["00:00-12:00", "12:00-00:00"] for day in WEEKDAYS}),
            "2024-06-03T10:00-05:00",
            None,
        ),  # never closed
    ],
)
def test_next_change(business: BusinessHours, moment: str, expected: str | None) -> None:
    change = business.next_change(at(moment))
    if expected is None:
        assert change is None
    else:
        assert change == at(expected)
        assert change is not None and change.tzinfo is UTC


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "unknown IANA time zone 'Mars/Olympus_Mons'"),
        ({"timezone": "America"}, "unknown IANA time zone 'America'"),
        ({"timezone": ""}, "unknown IANA time zone ''"),
        ({"timezone": "UTC", "weekly": {"monday": []}}, "Input should be 'mon', 'tue'"),
        (
            {"timezone": "UTC", "weekly": {"mon": [{"start": "09:00", "end": "09:00"}]}},
            "09:00-09:00 is empty",
        ),
        (
            {"timezone": "UTC", "weekly": {"mon": [{"start": "09:00+02:00", "end": "17:00"}]}},
            "carries a UTC offset",
        ),
        (
            {"timezone": "UTC", "exceptions": [{"date": "2024-12-24"}, {"date": "2024-12-24", "ranges": []}]},
            "more than one exception for 2024-12-24",
        ),
        (
            {"timezone": "UTC", "closed_dates": ["2024-12-25"], "exceptions": [{"date": "2024-12-25"}]},
            "2024-12-25 both closed and given exception ranges",
        ),
        ({"timezone": "UTC", "holidays": []}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_configurations_are_refused_with_the_reason(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        BusinessHoursConfig.model_validate(config)


def test_overlapping_ranges_and_repeated_closed_dates_are_allowed() -> None:
    config = BusinessHoursConfig.model_validate(
        {
            "timezone": "UTC",
            "weekly": {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "10:00", "end": "11:00"}]},
            "closed_dates": ["2024-12-25", "2024-12-25"],
        }
    )
    assert BusinessHours(config).is_open(at("2024-06-03T11:30+00:00"))


# --- a brute-force reference, and properties against it ----------------------------------------------


def offset_stretches(
    zone: ZoneInfo, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)
) -> list[tuple[datetime, datetime, timedelta]]:
    """The [from, to) stretches of `start`..`end` with one UTC offset, found only by reading offsets of UTC
    instants (never by converting wall times), a `step` at a time, narrowed to the microsecond on a change."""

    stretches = []
    stretch_start, current = start, offset_at(zone, start)
    probe = start
    while probe < end:
        following = probe + step
        if offset_at(zone, following) != current:
            low, high = probe, following
            while high - low > MICROSECOND:
                middle = low + (high - low) // 2
                low, high = (middle, high) if offset_at(zone, middle) == current else (low, middle)
            stretches.append((stretch_start, high, current))
            stretch_start, current = high, offset_at(zone, high)
        probe = following
    stretches.append((stretch_start, max(end, probe), current))
    return stretches


def reference_is_open(config: BusinessHoursConfig, moment: datetime) -> bool:
    """Open when, for a range of a nearby day, some instant at or before `moment` and some instant after it
    both show a wall time inside the range; a range no instant shows uses the offset before the jump."""
    zone = ZoneInfo(config.timezone)
    stretches = offset_stretches(zone, moment - 4 * DAY, moment + 4 * DAY, step=timedelta(hours=3))
    local_day = moment.astimezone(zone).date()
    for day in (local_day + n * DAY for n in range(-3, 2)):
        for time_range in reference_ranges(config, day):
            start = datetime.combine(day, time_range.start).replace(fold=0)
            end_day = day + DAY if time_range.end <= time_range.start else day
            end = datetime.combine(end_day, time_range.end).replace(fold=0)
            showing = [
                (max(begins, as_instant(start, offset)), min(ends, as_instant(end, offset)))
                for begins, ends, offset in stretches
            ]
            showing = [(low, high) for low, high in showing if low < high]
            if showing:
                if min(low for low, _ in showing) <= moment < max(high for _, high in showing):
                    return True
                continue
            for (_, jump, before), (_, _, after) in pairwise(stretches):
                skipped = as_instant(start, before) >= jump > as_instant(start, after)
                if skipped and as_instant(start, before) <= moment < as_instant(end, before):
                    return True
    return False


def offset_at(zone: ZoneInfo, moment: datetime) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def reference_ranges(config: BusinessHoursConfig, day: date) -> list[TimeRange]:
    for exception in config.exceptions:
        if exception.date == day:
            return exception.ranges
    if day in config.closed_dates:
        return []
    return config.weekly.get(WEEKDAYS[day.weekday()], [])


def as_instant(wall: datetime, offset: timedelta) -> datetime:
    return (wall - offset).replace(tzinfo=UTC)


ZONES = (
    "America/New_York",
    "Europe/Madrid",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "America/Bogota",
)
SPAN_START = datetime(2018, 1, 1, tzinfo=UTC)  # São Paulo still changed its clocks in 2018 and 2019
SPAN_DAYS = 2 * 365
SPAN_END = SPAN_START + SPAN_DAYS * DAY
CHANGES = {
    zone: tuple(
        begins for begins, _, _ in offset_stretches(ZoneInfo(zone), SPAN_START, SPAN_END, step=DAY)[1:]
    )
    for zone in ZONES
}
ZONES_WITH_CHANGES = tuple(zone for zone in ZONES if CHANGES[zone])
QUARTER = timedelta(minutes=15)

# Strategies are built once here: hypothesis spends far longer building strategies inside a
# composite than the tests spend running.

# Quarter hours meet every change of offset in these zones (Chatham changes at 02:45); arbitrary times too.
wall_times = st.one_of(st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])), st.times())
# A wall time near the anchor: so many quarter hours from it, read with the offset in force before it or
# after it, so that the wall times a change skips or repeats come up.
near_times = st.tuples(st.integers(-8, 8), st.booleans())
range_tokens = st.tuples(st.one_of(near_times, wall_times), st.one_of(near_times, wall_times))
near_range_tokens = st.tuples(near_times, near_times)
nudges = st.one_of(st.sampled_from([timedelta(0), -MICROSECOND]), st.timedeltas(-DAY, DAY))
near_quarters = st.integers(-8, 8)
near_nudges = st.one_of(st.sampled_from([timedelta(0), -MICROSECOND]), st.timedeltas(-QUARTER, QUARTER))


Anchor = Literal["change", "midnight", "either"]


@st.composite
def moments(draw: st.DrawFn, anchored_at: Anchor = "either") -> tuple[str, datetime, datetime]:
    """A zone, an anchor (one of its changes of offset, or a UTC midnight) and an instant near the anchor:
    on a quarter hour, a microsecond before one, or anywhere."""
    at_change = anchored_at == "change"
    zone = draw(st.sampled_from(ZONES_WITH_CHANGES if at_change else ZONES))
    changes = CHANGES[zone]
    if changes and (at_change or (anchored_at == "either" and draw(st.booleans()))):
        anchor = changes[draw(st.integers(0, len(changes) - 1))]
    else:
        anchor = SPAN_START + draw(st.integers(0, SPAN_DAYS)) * DAY
    quarters = draw(near_quarters if at_change else st.one_of(near_quarters, st.integers(-192, 192)))
    return zone, anchor, anchor + quarters * QUARTER + draw(near_nudges if at_change else nudges)


@st.composite
def scenarios(
    draw: st.DrawFn, dated: bool = True, anchored_at: Anchor = "either"
) -> tuple[BusinessHoursConfig, datetime]:
    """A config whose ranges often start or end near the anchor's wall times, where daylight saving bites,
    and an instant near the anchor."""
    zone, anchor, moment = draw(moments(anchored_at))
    at_change = anchored_at == "change"
    offsets = (offset_at(ZoneInfo(zone), anchor - MICROSECOND), offset_at(ZoneInfo(zone), anchor))
    anchor_day = (anchor.replace(tzinfo=None) + offsets[0]).date()

    def wall_time(token: time | tuple[int, bool]) -> time:
        if isinstance(token, time):
            return token
        quarters, after = token
        return (anchor.replace(tzinfo=None) + offsets[after] + quarters * QUARTER).time()

    def some_ranges(min_size: int = 0) -> list[TimeRange]:
        tokens_here = near_range_tokens if at_change else range_tokens
        tokens = draw(st.lists(tokens_here, min_size=min_size, max_size=3))
        pairs = [(wall_time(start), wall_time(end)) for start, end in tokens]
        return [TimeRange(start=start, end=end) for start, end in pairs if start != end]

    weekly = {day: some_ranges() for day in draw(st.sets(st.sampled_from(WEEKDAYS)))}
    for day in (anchor_day - DAY, anchor_day, anchor_day + DAY):
        if at_change or draw(st.booleans()):
            weekly[WEEKDAYS[day.weekday()]] = some_ranges(min_size=1)
    closed: list[date] = []
    exceptions: list[DatedException] = []
    if dated:
        days = [anchor_day + n * DAY for n in draw(st.lists(st.integers(-2, 2), unique=True, max_size=4))]
        split = draw(st.integers(0, len(days)))
        closed = days[:split]
        exceptions = [DatedException(date=day, ranges=some_ranges()) for day in days[split:]]
    config = BusinessHoursConfig(timezone=zone, weekly=weekly, closed_dates=closed, exceptions=exceptions)
    return config, moment


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_is_open_agrees_with_the_brute_force_reference(
    scenario: tuple[BusinessHoursConfig, datetime],
) -> None:
    config, moment = scenario
    assert BusinessHours(config).is_open(moment) is reference_is_open(config, moment)


@settings(max_examples=160, deadline=None)
@given(scenarios(anchored_at="change"))
def test_is_open_agrees_with_the_brute_force_reference_around_changes_of_offset(
    scenario: tuple[BusinessHoursConfig, datetime],
) -> None:
    config, moment = scenario
    assert BusinessHours(config).is_open(moment) is reference_is_open(config, moment)


@settings(max_examples=80, deadline=None)
@given(st.one_of(scenarios(), scenarios(anchored_at="change")), st.floats(0, 1))
def test_next_change_really_flips_and_nothing_flips_before(
    scenario: tuple[BusinessHoursConfig, datetime], fraction: float
) -> None:
    config, moment = scenario
    business = BusinessHours(config)
    now = business.is_open(moment)
    change = business.next_change(moment)
    if change is None:
        for step in range(1, 15):
            assert business.is_open(moment + step * DAY) is now
        return
    assert moment < change <= moment + NEXT_CHANGE_HORIZON
    assert business.is_open(change) is not now
    assert reference_is_open(config, change) is not now
    assert business.is_open(change - MICROSECOND) is now
    assert business.is_open(min(moment + (change - moment) * fraction, change - MICROSECOND)) is now


@settings(max_examples=60, deadline=None)
@given(scenarios(dated=False, anchored_at="midnight"), st.integers(-52, 52))
def test_whole_weeks_later_on_the_wall_clock_the_answer_is_the_same(
    scenario: tuple[BusinessHoursConfig, datetime], weeks: int
) -> None:
    config, moment = scenario
    zone = ZoneInfo(config.timezone)
    wall = moment.astimezone(zone).replace(tzinfo=None)
    later = (wall + weeks * 7 * DAY).replace(tzinfo=zone)
    # Away from changes of offset: the days around both instants keep one offset each.
    for instant in (moment, later):
        assume(len(offset_stretches(zone, instant - 3 * DAY, instant + 3 * DAY, step=6 * QUARTER)) == 1)
    business = BusinessHours(config)
    assert business.is_open(later) is business.is_open(moment)


@settings(max_examples=40, deadline=None)
@given(moments(), st.lists(wall_times.filter(lambda moment: moment != time(0)), min_size=7, max_size=7))
def test_a_whole_day_every_day_is_always_open(
    moment: tuple[str, datetime, datetime], splits: list[time]
) -> None:
    zone, _, instant = moment
    weekly = {
        day: [TimeRange(start=time(0), end=split), TimeRange(start=split, end=time(0))]
        for day, split in zip(WEEKDAYS, splits, strict=True)
    }
    business = BusinessHours(BusinessHoursConfig(timezone=zone, weekly=weekly))
    assert business.is_open(instant)
    assert business.next_change(instant) is None


@settings(max_examples=40, deadline=None)
@given(moments(), st.sets(st.sampled_from(WEEKDAYS)), st.lists(st.integers(-20, 20), max_size=5))
def test_no_ranges_is_never_open(
    moment: tuple[str, datetime, datetime], days: set[str], dated: list[int]
) -> None:
    zone, _, instant = moment
    local_day = instant.astimezone(ZoneInfo(zone)).date()
    config = BusinessHoursConfig.model_validate(
        {
            "timezone": zone,
            "weekly": {day: [] for day in days},
            "exceptions": [{"date": local_day + n * DAY, "ranges": []} for n in sorted(set(dated))],
        }
    )
    business = BusinessHours(config)
    assert not business.is_open(instant)
    assert business.next_change(instant) is None
