"""Erasing a user on request: nothing of them is left in the table, the report keeps its counts, a
second erasure erases nothing, other users are untouched, and no log line names them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from conftest import Agent, WhatsAppUser, table_items, taken_after_a_night_of_waiting
from handoff_local import payloads
from handoff_local.runtime import HttpResult, LocalRun
from handoff_tools import erase as erase_command

PHONE = "573005550101"
OTHER = "573005550202"
THROTTLED = {"error": {"message": "throughput reached", "type": "OAuthException", "code": 130429}}


def holding(text: str) -> list[str]:
    return [f"{i['pk']['S']} {i['sk']['S']}" for i in table_items() if text in json.dumps(i)]


def erase(run: LocalRun, body: dict[str, Any], tenant: str = "acme") -> HttpResult:
    return run.http("POST", "/admin/erasures", body=body, headers=run.as_admin(tenant))


def report(run: LocalRun, first: str, last: str) -> dict[str, Any]:
    answer = run.http("GET", "/admin/report", headers=run.as_admin("acme"), query={"from": first, "to": last})
    assert answer.status == 200, answer.body
    return answer.json()


def a_user_with_everything(run: LocalRun, wa_id: str) -> tuple[WhatsAppUser, str]:
    """A user waited, was taken, answered and closed, chats with the bot again, and is owed a reply
    Meta asked to wait for (it stays in the outbox, its record to come back for it later)."""
    user, conversation_id = a_closed_chat(run, wa_id)
    owed_a_reply_meta_asked_to_wait_for(run, user)
    return user, conversation_id


def a_closed_chat(run: LocalRun, wa_id: str) -> tuple[WhatsAppUser, str]:
    """A user waited, was taken, answered and closed."""
    user, carla, conversation_id = taken_after_a_night_of_waiting(run, wa_id, "Luz")
    carla.reply(conversation_id, "Hola Luz")
    carla.close(conversation_id)
    return user, conversation_id


def owed_a_reply_meta_asked_to_wait_for(run: LocalRun, user: WhatsAppUser) -> None:
    """The user chats with the bot again, and Meta throttles the reply: it waits in the outbox while
    its record is back on the queue for later (on the run's clock, which stays put meanwhile)."""
    run.graph.fail_next(429, THROTTLED)
    user.send(payloads.whatsapp_text(user.wa_id, "Hola otra vez", user.now()))


def test_nothing_of_an_erased_user_is_left_and_the_report_keeps_its_counts(loud_run, logs):
    run = loud_run
    user, conversation_id = a_closed_chat(run, PHONE)
    first_night = (user.now() - timedelta(hours=12)).date()
    other, other_id = a_closed_chat(run, OTHER)
    owed_a_reply_meta_asked_to_wait_for(run, user)
    owed_a_reply_meta_asked_to_wait_for(run, other)
    days = (first_night.isoformat(), user.now().date().isoformat())
    night = report(run, *days)
    assert conversation_id in {r["conversation_id"] for r in night["rows"]}
    assert run.pending_outbox() >= 2, "each user is owed a reply Meta asked to wait for"
    assert holding(PHONE) and holding(conversation_id)
    other_items = holding(OTHER)

    answer = erase(run, {"channel": "whatsapp", "user_id": PHONE})

    assert answer.status == 200, answer.body
    erased = answer.json()
    assert erased["conversations_found"] == 1
    counts = erased["erased"]
    assert counts["conversations"] == 1 and counts["id_lookups"] == 1 and counts["outbox_messages"] >= 1
    # the transcript items of applied messages are their markers; a new conversation writes one apart
    assert counts["transcript_lines"] >= 6 and counts["applied_markers"] >= 1
    assert counts["report_records"] >= 3  # its session, wait and chat records, kept anonymous
    assert holding(PHONE) == [] and holding(conversation_id) == []
    assert holding(OTHER) == other_items, "another user is untouched"
    assert Agent(run, "carla").read(conversation_id).status == 404
    # the counts stay: the same rows and totals, under an id that leads nowhere
    after = report(run, *days)
    assert after["totals"] == night["totals"]
    assert [{**r, "conversation_id": ""} for r in after["rows"]] == [
        {**r, "conversation_id": ""} for r in night["rows"]
    ]
    assert conversation_id not in {r["conversation_id"] for r in after["rows"]}
    assert other_id in {r["conversation_id"] for r in after["rows"]}
    assert PHONE not in logs.getvalue() and conversation_id not in logs.getvalue()
    assert '"message":"user erased"' in logs.getvalue()

    again = erase(run, {"channel": "whatsapp", "user_id": PHONE})
    assert again.status == 200
    assert again.json()["conversations_found"] == 0
    assert set(again.json()["erased"].values()) == {0}


def test_a_conversation_is_erased_by_its_id_and_only_by_its_tenant(run):
    _, conversation_id = a_user_with_everything(run, PHONE)

    assert (
        erase(run, {"conversation_id": conversation_id}, tenant="globex").json()["conversations_found"] == 0
    )
    assert holding(conversation_id)
    answer = erase(run, {"conversation_id": conversation_id})
    assert answer.json()["conversations_found"] == 1
    assert holding(PHONE) == [] and holding(conversation_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"channel": "whatsapp"},
        {"user_id": PHONE},
        {"channel": "whatsapp", "user_id": PHONE, "conversation_id": "x" * 22},
        {"channel": "whatsapp", "user_id": "a#b"},
        {"channel": "fax", "user_id": PHONE},
        {"conversation_id": "x", "surprise": True},
    ],
)
def test_a_request_that_names_nobody_clearly_is_a_422(run, body):
    answer = erase(run, body)
    assert answer.status == 422, answer.body


def test_only_admins_erase(run):
    agent = run.http(
        "POST",
        "/admin/erasures",
        body={"channel": "whatsapp", "user_id": PHONE},
        headers=run.as_agent("acme", "carla"),
    )
    assert agent.status == 403


def test_the_command_says_what_was_erased_and_then_that_nothing_is_left(run, capsys):
    a_user_with_everything(run, PHONE)

    def transport(method: str, path: str, body: dict[str, Any] | None, tenant_id: str) -> tuple[int, Any]:
        response = run.http(method, path, body=body, headers=run.as_admin("acme"))
        return response.status, response.json()

    status, answer = erase_command.erase(transport, "acme", {"channel": "whatsapp", "user_id": PHONE})
    assert status == 200
    line = erase_command.describe(answer)
    assert line.startswith("erased from 1 conversation(s): 1 conversations,") and PHONE not in line
    _, again = erase_command.erase(transport, "acme", {"channel": "whatsapp", "user_id": PHONE})
    assert erase_command.describe(again) == "nothing held about this user (never seen, or erased already)"


def test_the_command_refuses_to_guess_whom_to_erase():
    with pytest.raises(SystemExit) as exited:
        erase_command.main(["--url", "http://127.0.0.1:9", "--local", "--tenant", "acme", "--user", PHONE])
    assert exited.value.code == 2
