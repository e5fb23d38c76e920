"""The chat report: rows and totals from the stored session rows and wait records (pure)."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest

from handoff.api.callers import NotAuthorized, admin_from_claims, groups_from_claims
from handoff.reports.chat import SessionRecord, build_report, median, nearest_rank, to_csv
from handoff.reports.records import WaitRecord

NIGHT = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 22:00 in Bogotá


def session(conversation: str, number: int, started: datetime, ended: datetime, resolution: str, **flags):
    return SessionRecord.model_validate(
        {
            "channel": flags.pop("channel", "whatsapp"),
            "conversation_id": conversation,
            "session": number,
            "started_at": started,
            "ended_at": ended,
            "resolution": resolution,
            **flags,
        }
    )


def the_articles_case() -> tuple[list[SessionRecord], list[WaitRecord]]:
    """Offered at night, YES, chats with the bot while waiting (asks again), woken, taken at 9:00."""
    queued = NIGHT + timedelta(minutes=1)
    taken = NIGHT + timedelta(hours=11)
    sessions = [
        session("ana", 1, NIGHT, queued, "transferred", after_hours=True, offered=True, accepted=True),
        session("ana", 2, queued + timedelta(minutes=5), taken, "while_waiting", handoff_repeated=True,
                while_waiting=True),
    ]  # fmt: skip
    waits = [
        WaitRecord(conversation_id="ana", queued_at=queued, ended_at=taken, outcome="taken", on_hold=True,
                   woken=True)
    ]  # fmt: skip
    return sessions, waits


def test_the_articles_two_sessions_one_transfer_and_the_wait_until_an_agent_took_it() -> None:
    sessions, waits = the_articles_case()

    report = build_report("acme", date(2026, 3, 1), date(2026, 3, 31), sessions, waits)

    first, second = report.rows
    assert (first.session, first.resolution, first.after_hours, first.wait_outcome) == (
        1, "transferred", True, "taken",
    )  # fmt: skip
    assert first.seconds_to_agent == 11 * 3600 - 60 and first.woken is True
    assert (second.session, second.resolution, second.handoff_repeated) == (2, "while_waiting", True)
    assert second.wait_outcome is None and second.seconds_to_agent is None  # no second transfer
    totals = report.totals
    assert (totals.sessions, totals.transferred, totals.offered, totals.accepted, totals.woken) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert (totals.declined, totals.expired, totals.taken) == (0, 0, 1)
    assert totals.median_seconds_to_agent == totals.p90_seconds_to_agent == 11 * 3600 - 60


def test_declined_expired_still_waiting_and_resolved_by_the_bot() -> None:
    day = NIGHT
    sessions = [
        session("b", 1, day, day + timedelta(hours=25), "bot", offered=True, declined=True),
        session("c", 1, day, day + timedelta(minutes=2), "transferred", after_hours=True, offered=True,
                accepted=True, direct=True),
        session("d", 1, day, day + timedelta(minutes=3), "transferred"),
        session("e", 1, day, day + timedelta(hours=30), "bot"),
    ]  # fmt: skip
    waits = [
        WaitRecord(conversation_id="c", queued_at=day + timedelta(minutes=2),
                   ended_at=day + timedelta(hours=25), outcome="expired", on_hold=True)
    ]  # fmt: skip

    rows = {
        row.conversation_id: row for row in build_report("acme", day.date(), day.date(), sessions, waits).rows
    }

    assert rows["b"].resolution == "declined" and rows["b"].wait_outcome is None
    assert (rows["c"].wait_outcome, rows["c"].direct, rows["c"].seconds_to_agent) == ("expired", True, None)
    assert rows["d"].wait_outcome == "waiting"
    assert rows["e"].resolution == "bot"


def test_day_range_and_channel_filter() -> None:
    sessions = [
        session("a", 1, NIGHT, NIGHT, "bot"),
        session("b", 1, NIGHT + timedelta(days=1), NIGHT, "bot", channel="messenger"),
        session("c", 1, NIGHT + timedelta(days=5), NIGHT, "bot"),
    ]

    only_whatsapp = build_report("acme", NIGHT.date(), NIGHT.date() + timedelta(days=1), sessions, [],
                                 channel="whatsapp")  # fmt: skip

    assert [row.conversation_id for row in only_whatsapp.rows] == ["a"]
    assert only_whatsapp.totals.median_seconds_to_agent is None


def test_percentiles_median_and_nearest_rank_p90() -> None:
    queued = NIGHT
    sessions, waits = [], []
    for n, minutes in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]):
        name = f"u{n}"
        sessions.append(session(name, 1, queued, queued, "transferred"))
        ended = queued + timedelta(minutes=minutes)
        waits.append(
            WaitRecord(conversation_id=name, queued_at=queued, ended_at=ended, outcome="taken", on_hold=False)
        )

    totals = build_report("acme", queued.date(), queued.date(), sessions, waits).totals

    assert totals.median_seconds_to_agent == 5.5 * 60
    assert totals.p90_seconds_to_agent == 9 * 60
    assert nearest_rank([7], 0.9) == 7


@pytest.mark.parametrize("ordered", [[7], [1, 2], [1, 2, 9], [3, 3, 4, 10], [0, 1, 1, 2, 5, 8, 13]])
def test_the_median_is_the_middle_value_or_the_mean_of_the_two(ordered: list[int]) -> None:
    assert median(ordered) == statistics.median(ordered)


def test_csv_has_a_header_and_a_line_per_session() -> None:
    sessions, waits = the_articles_case()
    report = build_report("acme", date(2026, 3, 1), date(2026, 3, 31), sessions, waits)

    lines = list(csv.DictReader(io.StringIO(to_csv(report))))

    assert [(line["session"], line["resolution"]) for line in lines] == [
        ("1", "transferred"),
        ("2", "while_waiting"),
    ]
    assert lines[0]["seconds_to_agent"] == str(11 * 3600 - 60) and lines[1]["seconds_to_agent"] == ""
    assert lines[0]["after_hours"] == "true"


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        ("[admins agents]", {"admins", "agents"}),
        ("admins", {"admins"}),
        (["agents", "admins"], {"admins", "agents"}),
        (None, set()),
        ("[]", set()),
    ],
)
def test_groups_from_the_token_or_as_the_http_api_flattens_them(raw, groups) -> None:
    assert groups_from_claims({"cognito:groups": raw}) == groups


def test_only_admins_are_administrators() -> None:
    claims = {"sub": "u-1", "custom:tenant_id": "acme"}

    assert admin_from_claims({**claims, "cognito:groups": "[admins]"}).tenant_id == "acme"
    with pytest.raises(NotAuthorized):
        admin_from_claims({**claims, "cognito:groups": "[agents]"})
