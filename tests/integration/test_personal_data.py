"""Personal data as a security reviewer reads it: what logs, report rows, bus events, Live's ids and
errors give away about who the user is."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import boto3
import pytest

from conftest import ACME_NUMBER, BOGOTA, Agent, WhatsAppUser, table_items, taken_after_a_night_of_waiting
from handoff.adapters.inbound_queue import group_id
from handoff.api import refusals
from handoff.engine.model import YES_PAYLOAD
from handoff.observability import NoPseudonymKey, pseudonym, use_pseudonym_key
from handoff.runtime.settings import settings
from handoff.runtime.wiring import conversation_store
from handoff.store.conversation_store import StaleConversation
from handoff_local.runtime import LocalRun

PHONE = "573009876543"
KEY = f"acme#whatsapp#{ACME_NUMBER}#{PHONE}"


def give_aways() -> list[str]:
    """Every form in which the user's phone number could be read back: as written, and the
    encodings an id could carry it in (base64 of the key, as conversation ids once were)."""
    b64 = base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("=")
    return [PHONE, b64, base64.b64encode(KEY.encode()).decode().rstrip("=")]


def assert_gives_nothing_away(text: str, where: str) -> None:
    for form in give_aways():
        assert form not in text, f"{where} holds the user's phone number ({form})"


def a_whole_story(run: LocalRun) -> tuple[WhatsAppUser, Agent, str]:
    """A user waits at night, is taken, answered and closed; later a bot session of theirs lapses."""
    user, carla, conversation_id = taken_after_a_night_of_waiting(run, PHONE, "Eva")
    user.says("Hola, sigo aquí")
    assert carla.reply(conversation_id, "Hola Eva, te ayudo").status == 200
    assert carla.close(conversation_id).status == 200
    user.says("Gracias")  # a new bot session, never finished: the minute's schedule closes it
    run.advance(25 * 3600)
    run.tick()
    return user, carla, conversation_id


def test_only_the_conversations_own_items_hold_the_phone_number(loud_run, logs):
    _, carla, conversation_id = a_whole_story(loud_run)

    holders = set()
    for item in table_items():
        text = json.dumps(item)
        if any(form in text for form in give_aways()):
            holders.add(item["pk"]["S"].split("#", 1)[0])
    # the conversation's state and transcript, and the lookup from its id to it: nothing else
    assert holders == {"CONV", "ID"}

    rows = [i for i in table_items() if i["pk"]["S"] == "REPORT#acme"]
    assert {r["sk"]["S"].split("#", 1)[0] for r in rows} >= {"SESSION", "WAIT", "CHAT"}
    for row in rows:
        assert_gives_nothing_away(json.dumps(row), "a report item")
        assert conversation_id in row["sk"]["S"]

    assert loud_run.published, "the story publishes bus events"
    for event in loud_run.published:
        assert_gives_nothing_away(json.dumps(event.detail), f"the bus event {event.detail_type}")
        assert event.detail["conversation_id"] == conversation_id

    assert_gives_nothing_away(json.dumps(carla.read(conversation_id).json()), "Live's conversation")
    written = logs.getvalue()
    assert '"conversation":' in written, "the logs were captured, with their correlation id"
    assert_gives_nothing_away(written, "the logs")


def test_a_conversation_id_is_random_and_opens_only_its_tenants_conversation(run):
    user = WhatsAppUser(run, PHONE, name="Eva")
    run.advance_to(22, BOGOTA, weekday=True)
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    [listed] = Agent(run, "carla").conversations()
    conversation_id = listed["id"]
    assert len(conversation_id) == 22
    assert conversation_id not in (base64.urlsafe_b64encode(KEY.encode()).decode(), KEY)
    # nothing in it is derived from the user: another user's is unrelated, and so is a hash of the key
    assert conversation_id != hashlib.sha256(KEY.encode()).hexdigest()[:22]
    assert Agent(run, "carla").read(conversation_id).status == 200
    assert Agent(run, "nora", tenant_id="globex").read(conversation_id).status == 404


def test_a_conversation_stored_before_ids_existed_gets_one_when_read(run):
    user = WhatsAppUser(run, PHONE, name="Eva")
    user.says("Hola")
    store = conversation_store()
    stored = store.load_key(KEY)
    assert stored is not None
    # as an earlier version stored it: no id in its data, no lookup item
    table = boto3.client("dynamodb")
    item = table.get_item(
        TableName=settings().table_name, Key={"pk": {"S": f"CONV#{KEY}"}, "sk": {"S": "STATE"}}
    )
    data = json.loads(item["Item"]["data"]["S"])
    data["id"] = ""
    data["id_kept_until"] = None
    table.put_item(TableName=settings().table_name, Item={**item["Item"], "data": {"S": json.dumps(data)}})
    table.delete_item(
        TableName=settings().table_name, Key={"pk": {"S": f"ID#{stored.id}"}, "sk": {"S": "KEY"}}
    )

    upgraded = store.load_key(KEY)
    assert upgraded is not None and upgraded.id and upgraded.id != stored.id
    assert store.load_id(upgraded.id) == upgraded
    user.says("¿Sigues ahí?")  # and it goes on as before
    again = store.load_key(KEY)
    assert again is not None and again.id == upgraded.id


def test_pseudonyms_are_keyed_and_refused_without_a_key():
    import handoff.observability as observability

    saved = observability._pseudonym_key
    try:
        use_pseudonym_key("k" * 40)
        first = pseudonym(KEY)
        use_pseudonym_key("j" * 40)
        assert pseudonym(KEY) != first, "another key gives another pseudonym"
        # the unkeyed hash anyone could recompute from a guessed number is not what is logged,
        # nor the FIFO message group SQS shows
        assert pseudonym(KEY) not in hashlib.sha256(KEY.encode()).hexdigest()
        assert group_id(KEY) == pseudonym(KEY)
        with pytest.raises(ValueError, match="at least 32"):
            use_pseudonym_key("short")
        observability._pseudonym_key = None
        with pytest.raises(NoPseudonymKey):
            pseudonym(KEY)
    finally:
        observability._pseudonym_key = saved


def test_a_conversation_changed_at_every_try_is_a_409_without_the_key(run, monkeypatch, logs):
    user = WhatsAppUser(run, PHONE, name="Eva")
    run.advance_to(22, BOGOTA, weekday=True)
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    carla = Agent(run, "carla")
    [listed] = carla.conversations()

    def always_stale(conversation, *args, **kwargs):
        raise StaleConversation(pseudonym(conversation.ref.key))

    counted: list[str] = []
    monkeypatch.setattr(conversation_store(), "commit", always_stale)
    monkeypatch.setattr(refusals.metrics, "add_metric", lambda name, **_: counted.append(name))
    response = carla.take(listed["id"])
    assert response.status == 409
    assert response.json() == {"message": "the conversation changed while this was applied; try again"}
    assert counted == [refusals.CONVERSATION_CONTENDED]
    assert "conversation changed at every try" in logs.getvalue()
    assert_gives_nothing_away(logs.getvalue() + response.body, "the refusal and its logs")


def test_the_report_keeps_its_rows_for_the_day_after(run):
    """A session's row names its conversation by the id Live shows, never by the key."""
    user = WhatsAppUser(run, PHONE, name="Eva")
    user.says("Hola")
    run.advance(timedelta(hours=25).total_seconds())
    run.tick()
    [row] = conversation_store().report_rows("acme")
    stored = conversation_store().load_key(KEY)
    assert stored is not None and row.conversation_id == stored.id


@pytest.mark.parametrize("claimed", ["acme#whatsapp", "acme#", "ACME", "acme ", "", "a" * 64])
def test_a_token_whose_tenant_is_not_a_tenant_id_reads_nothing(run, claimed):
    run.advance_to(22, BOGOTA, weekday=True)
    user = WhatsAppUser(run, PHONE, name="Eva")
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    [listed] = Agent(run, "carla").conversations()

    intruder = Agent(run, "mallory", tenant_id=claimed)
    for response in (intruder.call("GET", "/live/conversations"), intruder.read(listed["id"])):
        assert response.status in (401, 403), response.body
        assert "Eva" not in response.body
