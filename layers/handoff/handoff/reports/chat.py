"""The chat report: one row per bot session, with how its handoff went, and the totals of a day range.

Pure: it reads the records every commit already wrote (a `SessionClosed` row per bot session, a
`WaitEnded` record per stretch in Live's queue, a `ChatEnded` record per chat an agent had) and
joins them. A transferred session ends at the instant its conversation entered the queue, so its
wait is the wait record of the same conversation queued at that instant; a wait an agent took
ends at the instant the chat began, so its chat is the chat record taken at that instant. A chat
handed to another agent, or put back in the queue, ends there (`handed_over`, `returned`): the
receiver's chat, and the stretch waited after a return, are records of their own that join no row.

A session's resolution in the report:

| resolution | the bot session ended ... |
| --- | --- |
| `transferred` | with a handoff to Live (conventional, or after the user said YES to wait) |
| `while_waiting` | the user chatted with the bot while waiting; the wait ended (taken, closed or expired) |
| `declined` | the user said NO to the offer and then left the bot (24 hours of silence) |
| `bot` | the bot handled it to the end: no handoff, 24 hours of silence since |

A session still open (the user is talking to the bot, or waiting) has no row yet. A session with
the bot silent for 24 hours is closed by the minute's schedule, so its row is there the next day.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from handoff.config.models import Channel
from handoff.engine.model import SessionRecord
from handoff.reports.records import ChatRecord, WaitRecord

ReportResolution = Literal["transferred", "while_waiting", "declined", "bot"]
# the engine's WaitOutcome, or "waiting" while the wait goes on
ReportWaitOutcome = Literal["waiting", "taken", "closed", "expired"]
ReportChatOutcome = Literal["with_agent", "closed", "closed_idle", "handed_over", "returned"]

MAX_REPORT_DAYS = 366
"""The longest day range one report covers (a year, and a leap day)."""


class ReportRow(BaseModel, defer_build=True):
    channel: Channel
    conversation_id: str
    session: int = Field(description="the bot session's number within its conversation (1, 2, ...)")
    started_at: datetime
    ended_at: datetime
    resolution: ReportResolution
    after_hours: bool = Field(description="the handoff was asked when nobody was available")
    direct: bool = Field(description="transferred with the rule's direct mode: the bot stays silent")
    offered: bool = Field(description="the user was offered to wait for an agent")
    accepted: bool = Field(description="the user said YES to wait")
    declined: bool = Field(description="the user said NO")
    handoff_repeated: bool = Field(description="asked for an agent again while already waiting")
    wait_outcome: ReportWaitOutcome | None = Field(
        description="transferred sessions: taken by an agent, closed, expired, or still waiting"
    )
    woken: bool | None = Field(description="transferred sessions: told an agent became available")
    seconds_to_agent: int | None = Field(description="transferred sessions taken by an agent: the wait")
    chat_outcome: ReportChatOutcome | None = Field(
        default=None,
        description=(
            "sessions taken by an agent: how that agent's chat ended (closed by the agent, closed "
            "after days without activity, handed to another agent, returned to the queue), or still "
            "with the agent"
        ),
    )


class ReportTotals(BaseModel, defer_build=True):
    sessions: int
    transferred: int
    offered: int = Field(description="sessions offered to wait")
    accepted: int = Field(description="sessions whose user said YES")
    declined: int = Field(description="sessions whose user said NO")
    woken: int = Field(description="waits whose user was told an agent became available")
    expired: int = Field(description="waits that ended after 24 hours of inactivity")
    taken: int = Field(description="waits an agent took")
    closed_idle: int = Field(default=0, description="chats closed after days without activity")
    median_seconds_to_agent: float | None
    p90_seconds_to_agent: float | None = Field(description="90th percentile, nearest rank")


class ChatReport(BaseModel, defer_build=True):
    tenant_id: str
    from_date: date = Field(serialization_alias="from", description="first day (UTC), included")
    to_date: date = Field(serialization_alias="to", description="last day (UTC), included")
    channel: Channel | None
    rows: list[ReportRow]
    totals: ReportTotals


def build_report(
    tenant_id: str,
    from_date: date,
    to_date: date,
    sessions: Iterable[SessionRecord],
    waits: Iterable[WaitRecord],
    chats: Iterable[ChatRecord] = (),
    *,
    channel: Channel | None = None,
) -> ChatReport:
    """The report of the sessions that started between the two days (UTC, both included)."""
    by_start = {(w.conversation_id, w.queued_at): w for w in waits}
    by_taken = {(c.conversation_id, c.taken_at): c for c in chats}
    rows = [
        _row(
            record, wait := by_start.get((record.conversation_id, record.ended_at)), _chat_of(wait, by_taken)
        )
        for record in sorted(sessions, key=lambda s: (s.started_at, s.conversation_id, s.session))
        if from_date <= _utc_day(record.started_at) <= to_date and channel in (None, record.channel)
    ]
    return ChatReport(
        tenant_id=tenant_id,
        from_date=from_date,
        to_date=to_date,
        channel=channel,
        rows=rows,
        totals=_totals(rows),
    )


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _chat_of(wait: WaitRecord | None, by_taken: dict[tuple[str, datetime], ChatRecord]) -> ChatRecord | None:
    """The chat that followed a wait an agent took: taken at the instant the wait ended."""
    if wait is None or wait.outcome != "taken":
        return None
    return by_taken.get((wait.conversation_id, wait.ended_at))


def _row(record: SessionRecord, wait: WaitRecord | None, chat: ChatRecord | None) -> ReportRow:
    transferred = record.resolution == "transferred"
    resolution: ReportResolution = (
        "declined" if record.resolution == "bot" and record.declined else record.resolution
    )
    outcome: ReportWaitOutcome | None = None
    if transferred:
        outcome = wait.outcome if wait is not None else "waiting"
    seconds = None
    if wait is not None and wait.outcome == "taken":
        seconds = int((wait.ended_at - wait.queued_at).total_seconds())
    return ReportRow(
        channel=record.channel,
        conversation_id=record.conversation_id,
        session=record.session,
        started_at=record.started_at,
        ended_at=record.ended_at,
        resolution=resolution,
        after_hours=record.after_hours,
        direct=record.direct,
        offered=record.offered,
        accepted=record.accepted,
        declined=record.declined,
        handoff_repeated=record.handoff_repeated,
        wait_outcome=outcome,
        woken=(wait.woken if wait is not None else False) if transferred else None,
        seconds_to_agent=seconds,
        chat_outcome=(chat.outcome if chat is not None else "with_agent") if seconds is not None else None,
    )


def _totals(rows: list[ReportRow]) -> ReportTotals:
    waits = sorted(row.seconds_to_agent for row in rows if row.seconds_to_agent is not None)
    return ReportTotals(
        sessions=len(rows),
        transferred=sum(row.resolution == "transferred" for row in rows),
        offered=sum(row.offered for row in rows),
        accepted=sum(row.accepted for row in rows),
        declined=sum(row.declined for row in rows),
        woken=sum(bool(row.woken) for row in rows),
        expired=sum(row.wait_outcome == "expired" for row in rows),
        taken=sum(row.wait_outcome == "taken" for row in rows),
        closed_idle=sum(row.chat_outcome == "closed_idle" for row in rows),
        median_seconds_to_agent=median(waits) if waits else None,
        p90_seconds_to_agent=float(nearest_rank(waits, 0.9)) if waits else None,
    )


def median(ordered: list[int]) -> float:
    """The middle value, or the mean of the two middle ones."""
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def nearest_rank(ordered: list[int], fraction: float) -> int:
    """The smallest value with at least `fraction` of the values at or below it."""
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


CSV_COLUMNS = tuple(ReportRow.model_fields)


def to_csv(report: ChatReport) -> str:
    """The rows as CSV (one header line, then a line per session); the totals are in the JSON only."""
    import csv  # with the first CSV asked for: the admin API loads this module at import

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        values = row.model_dump(mode="json")
        writer.writerow(_cell(values[column]) for column in CSV_COLUMNS)
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
