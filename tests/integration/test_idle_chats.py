"""Nothing kept forever: a chat an agent took and never closed is closed after the tenant's days
without activity, shown in Live beforehand, published, and recorded as such in the report."""

from __future__ import annotations

from datetime import datetime, timedelta

from conftest import Agent, WhatsAppUser, taken_after_a_night_of_waiting
from handoff.config.models import TenantConfig
from handoff_local.runtime import HttpResult, LocalRun

DAYS = TenantConfig.model_fields["close_idle_chats_after_days"].default


def about(measured: timedelta, expected: timedelta) -> bool:
    """Equal but for the moments the run's clock moved while the handlers ran."""
    return abs(measured - expected) < timedelta(seconds=10)


def taken_chat(run: LocalRun) -> tuple[WhatsAppUser, Agent, str]:
    user, carla, conversation_id = taken_after_a_night_of_waiting(run, "573004440001", "Iris")
    assert carla.reply(conversation_id, "Hola Iris, ¿en qué te ayudo?").status == 200
    return user, carla, conversation_id


def at_the_top_of_the_hour(run: LocalRun, after: datetime) -> None:
    """The first minute schedule at hh:00 past `after` (idle chats are checked once an hour)."""
    from handoff import clock

    target = (after + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    run.advance((target - clock.now()).total_seconds())
    run.tick()


def report(run: LocalRun, day: str) -> HttpResult:
    return run.http("GET", "/admin/report", headers=run.as_admin("acme"), query={"from": day, "to": day})


def test_an_idle_chat_is_shown_closing_then_closed_published_and_reported(run):
    user, carla, conversation_id = taken_chat(run)
    session_day = (user.now() - timedelta(hours=12)).date().isoformat()
    [chat] = carla.conversations()
    closes_at = datetime.fromisoformat(chat["closes_at"])
    assert about(closes_at - user.now(), timedelta(days=DAYS))  # the agent's reply was the last activity

    at_the_top_of_the_hour(run, closes_at - timedelta(hours=2))
    assert [c["id"] for c in carla.conversations()] == [conversation_id], "not before its time"

    at_the_top_of_the_hour(run, closes_at)
    assert carla.conversations() == []
    closed = [e for e in run.published if e.detail_type == "ConversationClosed"]
    assert [(e.detail["idle"], e.detail["agent_id"]) for e in closed] == [(True, "carla")]
    transcript = carla.read(conversation_id).json()["transcript"]
    assert transcript[-1]["text"] == f"Closed after {DAYS} days without activity."

    body = report(run, session_day).json()
    [row] = [r for r in body["rows"] if r["resolution"] == "transferred"]
    assert (row["wait_outcome"], row["chat_outcome"]) == ("taken", "closed_idle")
    assert body["totals"]["closed_idle"] == 1


def test_activity_puts_the_close_off_and_an_agents_close_is_reported_as_such(run):
    user, carla, conversation_id = taken_chat(run)
    session_day = (user.now() - timedelta(hours=12)).date().isoformat()
    run.advance(timedelta(days=DAYS - 1).total_seconds())
    user.says("¿Sigues ahí?")
    [chat] = carla.conversations()
    assert about(datetime.fromisoformat(chat["closes_at"]) - user.now(), timedelta(days=DAYS))
    at_the_top_of_the_hour(run, user.now() + timedelta(days=1))
    assert [c["id"] for c in carla.conversations()] == [conversation_id]

    assert carla.close(conversation_id).status == 200
    [row] = [r for r in report(run, session_day).json()["rows"] if r["resolution"] == "transferred"]
    assert row["chat_outcome"] == "closed"


def test_a_chat_still_with_its_agent_is_reported_so(run):
    user, _, _ = taken_chat(run)
    session_day = (user.now() - timedelta(hours=12)).date().isoformat()
    [row] = [r for r in report(run, session_day).json()["rows"] if r["resolution"] == "transferred"]
    assert row["chat_outcome"] == "with_agent"
