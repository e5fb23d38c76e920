"""A WhatsApp user who changes number (or whose BSUID changes) keeps their conversation: its state,
place in line, transcript, report rows and id move to the new id, and replies go to the new one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import boto3

from conftest import ACME_NUMBER, BOGOTA, Agent, WhatsAppUser
from handoff.engine.model import YES_PAYLOAD
from handoff.runtime.settings import settings
from handoff.runtime.wiring import conversation_store
from handoff_local import payloads
from handoff_local.fake_graph import shown_text, whatsapp_sent_to
from handoff_local.runtime import LocalRun

OLD = "573006660001"
NEW = "573006669999"


def number_changed(old: str, new: str, at: datetime, message_id: str = "wamid.SYSTEM-1") -> dict[str, Any]:
    """Meta's `system` message of a number change: from the old number, naming the new one."""
    return {
        "from": old,
        "id": message_id,
        "timestamp": str(int(at.timestamp())),
        "type": "system",
        "system": {"type": "user_changed_number", "wa_id": new, "body": f"changed from {old} to {new}"},
    }


def user_id_changed(old_bsuid: str, new_bsuid: str, at: datetime) -> dict[str, Any]:
    """The 2026 notice of a new BSUID without a phone number to share."""
    return {
        "from_user_id": old_bsuid,
        "id": "wamid.SYSTEM-2",
        "timestamp": str(int(at.timestamp())),
        "type": "system",
        "system": {
            "body": "User Ana's id changed",
            "type": "user_changed_user_id",
            "user_id": new_bsuid,
            "previous_user_id": old_bsuid,
        },
    }


def deliver(run: LocalRun, *messages: dict[str, Any]) -> None:
    response = run.webhook("whatsapp", payloads.whatsapp_delivery(ACME_NUMBER, *messages))
    assert response.status == 200, response.body
    run.drain()


def waiting(run: LocalRun, wa_id: str, name: str) -> WhatsAppUser:
    user = WhatsAppUser(run, wa_id, name=name)
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    return user


def texts_to(run: LocalRun, wa_id: str) -> list[str]:
    return [shown_text(body) for body in whatsapp_sent_to(run.graph.requests, wa_id)]


def items_naming(text: str) -> list[str]:
    client = boto3.client("dynamodb")
    found = []
    for page in client.get_paginator("scan").paginate(TableName=settings().table_name):
        found += [f"{i['pk']['S']} {i['sk']['S']}" for i in page["Items"] if text in json.dumps(i)]
    return found


def test_a_waiting_user_who_changes_number_keeps_their_place_history_and_id(run):
    run.advance_to(22, BOGOTA, weekday=True)
    ana = waiting(run, OLD, "Ana")
    waiting(run, "573006660002", "Bea")
    carla = Agent(run, "carla")
    before = carla.conversations()
    ana_id = before[0]["id"]
    transcript = carla.read(ana_id).json()["transcript"]

    run.advance(60)
    deliver(run, number_changed(OLD, NEW, ana.now()))

    after = carla.conversations()
    assert [(c["id"], c["queued_at"], c["on_hold"]) for c in after] == [
        (c["id"], c["queued_at"], c["on_hold"]) for c in before
    ], "the same conversations, in the same order, Ana's place unchanged"
    moved = carla.read(ana_id).json()["transcript"]
    assert moved[: len(transcript)] == transcript
    assert moved[-1]["author"] == "system" and "changed" in moved[-1]["text"]
    # nothing of the old number is left but the markers of its messages (a late redelivery of one
    # must not start a conversation again; they expire with Meta's redelivery window)
    assert {row.split(" ")[1].split("#")[0] for row in items_naming(OLD)} == {"APPLIED"}

    # she writes from the new number: the same conversation, still waiting, no second offer
    new_ana = WhatsAppUser(run, NEW, name="Ana")
    new_ana.says("Sigo esperando")
    assert [c["id"] for c in carla.conversations()] == [ana_id, bea_id(before)]
    assert carla.conversations()[0]["state"] == "queued"

    # in the morning she is told, on the new number; the agent's reply goes there too
    run.advance_to(9, BOGOTA, weekday=True)
    old_count = len(texts_to(run, OLD))
    carla.online()
    assert texts_to(run, NEW)[-1].startswith("¡Buenas noticias!")
    assert carla.take(ana_id).status == 200
    assert carla.reply(ana_id, "Hola Ana").status == 200
    assert texts_to(run, NEW)[-1] == "Hola Ana"
    assert len(texts_to(run, OLD)) == old_count, "nothing more goes to the old number"


def bea_id(listed: list[dict[str, Any]]) -> str:
    return listed[1]["id"]


def test_the_report_rows_of_earlier_sessions_follow_the_user(run):
    run.advance_to(22, BOGOTA, weekday=True)
    ana = WhatsAppUser(run, OLD, name="Ana")
    ana.says("Hola")
    run.advance(25 * 3600)
    run.tick()  # her silent session is closed: its row names her conversation
    [row] = conversation_store().report_rows("acme")
    deliver(run, number_changed(OLD, NEW, ana.now()))
    moved = conversation_store().load_key(f"acme#whatsapp#{ACME_NUMBER}#{NEW}")
    assert moved is not None and moved.id == row.conversation_id
    assert conversation_store().load_key(f"acme#whatsapp#{ACME_NUMBER}#{OLD}") is None


def test_a_notice_that_comes_after_the_new_number_wrote_merges_the_two(run):
    run.advance_to(22, BOGOTA, weekday=True)
    ana = waiting(run, OLD, "Ana")
    carla = Agent(run, "carla")
    [listed] = carla.conversations()
    new_ana = WhatsAppUser(run, NEW, name="Ana")
    new_ana.says("Hola, cambié de número")  # Meta's notice is late: a bot session on the new number

    deliver(run, number_changed(OLD, NEW, ana.now()))

    [merged] = carla.conversations()
    assert merged["id"] == listed["id"] and merged["queued_at"] == listed["queued_at"]
    lines = [line["text"] for line in carla.read(merged["id"]).json()["transcript"]]
    assert "Quiero hablar con un agente" in lines and "Hola, cambié de número" in lines
    store = conversation_store()
    assert store.load_key(f"acme#whatsapp#{ACME_NUMBER}#{OLD}") is None
    assert store.load_key(f"acme#whatsapp#{ACME_NUMBER}#{NEW}").id == listed["id"]


def test_a_redelivered_notice_and_a_late_old_message_change_nothing(run):
    run.advance_to(22, BOGOTA, weekday=True)
    ana = waiting(run, OLD, "Ana")
    carla = Agent(run, "carla")
    [listed] = carla.conversations()
    first_message = payloads.whatsapp_text(OLD, "Hola", ana.now(), message_id="wamid.OLD-1")
    deliver(run, first_message)
    notice = number_changed(OLD, NEW, ana.now())
    deliver(run, notice)
    state = conversation_store().load_key(f"acme#whatsapp#{ACME_NUMBER}#{NEW}")

    deliver(run, notice)  # Meta sends it again
    deliver(run, first_message)  # and a message from before the change, late

    assert [c["id"] for c in carla.conversations()] == [listed["id"]]
    assert conversation_store().load_key(f"acme#whatsapp#{ACME_NUMBER}#{OLD}") is None
    assert conversation_store().load_key(f"acme#whatsapp#{ACME_NUMBER}#{NEW}") == state
    assert run.dead_letters() == 0


def test_a_new_bsuid_moves_the_conversation_too(run):
    run.advance_to(22, BOGOTA, weekday=True)
    old_bsuid, new_bsuid = "CO.1300000000000000001", "CO.1300000000000000002"
    hello = payloads.whatsapp_text(OLD, "Quiero hablar con un agente", WhatsAppUser(run, OLD).now())
    hello = {**hello, "from_user_id": old_bsuid}
    deliver(run, hello)
    store = conversation_store()
    before = store.load_key(f"acme#whatsapp#{ACME_NUMBER}#{old_bsuid}")
    assert before is not None

    deliver(run, user_id_changed(old_bsuid, new_bsuid, WhatsAppUser(run, OLD).now()))

    after = store.load_key(f"acme#whatsapp#{ACME_NUMBER}#{new_bsuid}")
    assert after is not None and after.id == before.id
    assert after.address.bsuid == new_bsuid and after.address.phone is None
    assert store.load_key(f"acme#whatsapp#{ACME_NUMBER}#{old_bsuid}") is None
