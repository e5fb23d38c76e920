"""WhatsApp deliveries parsed into channel messages: every kind, batching, BSUIDs, what is left out."""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import any_json
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.channels.whatsapp import WhatsAppAdapter
from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD

TESTS = Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "fixtures" / "whatsapp"
EVENTS = TESTS.parent / "events" / "whatsapp_webhook"
PHONE = "15550002222"
BSUID = "US.13000000000000000001"
ACCOUNT = "200000000000001"

adapter = WhatsAppAdapter()


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# fixture -> (kind, text, payload) of its one message
ONE_MESSAGE = {
    "text": ("text", "Hi, is my order shipped?", None),
    "text_unicode": ("text", "¿Puedo hablar con una persona? ñandú 👍", None),
    "text_extra_keys": ("text", "Forwarded question", None),
    "interactive_button_reply_yes": ("choice", "Sí, espero", YES_PAYLOAD),
    "interactive_button_reply_no": ("choice", "No, gracias", NO_PAYLOAD),
    "interactive_list_reply": ("choice", "Express shipping", "ship_express"),
    "interactive_nfm_reply": ("other", None, None),
    "template_button": ("choice", "Talk to an agent", "TALK_TO_AGENT"),
    "template_button_default_payload": ("choice", "Talk to an agent", "Talk to an agent"),
    "image": ("image", "Damaged box", None),
    "video": ("video", None, None),
    "audio_voice": ("audio", None, None),
    "document": ("document", "My invoice", None),
    "sticker": ("sticker", None, None),
    "location": ("location", "Example Venue — 1 Example Way, Springfield", None),
    "location_pin": ("location", None, None),
    "contacts": ("contacts", "Ana Example", None),
    "order": ("order", "Please deliver before noon", None),
    "unsupported": ("unsupported", None, None),
    "unknown_type": ("other", None, None),
    "bsuid_only_text": ("text", "Hello", None),
    "bsuid_and_phone_text": ("text", "Hello again", None),
    "dashboard_test": ("text", "this is a text message", None),
}

# fixture -> what it holds instead of user messages
NO_MESSAGE = {
    "reaction": {"reaction": 1},
    "reaction_removed": {"reaction": 1},
    "request_welcome": {"request_welcome": 1},
    "group_text": {"group": 1},
    "status_sent": {"status": 1},
    "statuses_delivered_read": {"status": 2},
    "status_failed": {"status": 1},
    "value_errors": {"error": 1},
    "other_field": {"other_field": 1},
}

SPECIAL = {"batched", "malformed_mixed", "system_user_changed_user_id"}


def test_every_fixture_is_covered() -> None:
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert names == set(ONE_MESSAGE) | set(NO_MESSAGE) | SPECIAL


@pytest.mark.parametrize("name", sorted(ONE_MESSAGE))
def test_each_kind_becomes_one_message(name: str) -> None:
    delivery = adapter.parse_delivery(fixture(name))
    assert delivery.ignored == {}
    [message] = delivery.messages
    assert (message.kind, message.text, message.payload) == ONE_MESSAGE[name]
    assert message.channel == "whatsapp"
    assert message.event_id == fixture(name)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]


@pytest.mark.parametrize("name", sorted(NO_MESSAGE))
def test_what_is_not_a_user_message_is_left_out_and_counted(name: str) -> None:
    delivery = adapter.parse_delivery(fixture(name))
    assert delivery.messages == []
    assert delivery.ignored == NO_MESSAGE[name]
    assert adapter.parse(fixture(name)) == []


def test_a_changed_user_id_is_an_id_change_not_a_message() -> None:
    delivery = adapter.parse_delivery(fixture("system_user_changed_user_id"))
    assert (delivery.messages, delivery.ignored) == ([], {})
    [change] = delivery.id_changes
    assert (change.account_id, change.user_id, change.new_user_id) == (
        ACCOUNT, "US.13000000000000000001", "US.13000000000000000099",
    )  # fmt: skip
    assert change.address.bsuid == "US.13000000000000000099" and change.address.phone is None
    assert change.sent_at == datetime.fromtimestamp(1760001320, tz=UTC)


def test_a_changed_number_names_the_old_number_and_the_new_one() -> None:
    body = fixture("text")
    [raw] = body["entry"][0]["changes"][0]["value"]["messages"]
    raw.pop("text")
    raw.update(
        type="system", system={"body": "changed", "type": "user_changed_number", "wa_id": "15550009999"}
    )
    [change] = adapter.parse_delivery(body).id_changes
    assert (change.user_id, change.new_user_id, change.address.phone) == (PHONE, "15550009999", "15550009999")
    # with Meta's BSUIDs (since August 2026) both sides are keyed by them
    raw["system"].update(previous_user_id="US.1", user_id="US.2")
    [change] = adapter.parse_delivery(body).id_changes
    assert (change.user_id, change.new_user_id, change.address.phone) == ("US.1", "US.2", "15550009999")


@pytest.mark.parametrize(
    "system",
    [{"type": "customer_identity_changed", "body": "x"}, {"type": "user_changed_number"}, "not an object"],
)
def test_other_system_messages_are_counted_and_an_id_change_without_ids_is_malformed(system: Any) -> None:
    body = fixture("text")
    [raw] = body["entry"][0]["changes"][0]["value"]["messages"]
    raw.pop("text")
    raw.update(type="system", system=system)
    delivery = adapter.parse_delivery(body)
    assert delivery.messages == [] and delivery.id_changes == []
    named_type = isinstance(system, dict) and system["type"] == "user_changed_number"
    assert delivery.ignored == ({"malformed": 1} if named_type else {"system": 1})


def test_a_text_message_in_full() -> None:
    [message] = adapter.parse(fixture("text"))
    assert message.account_id == ACCOUNT
    assert message.user_id == PHONE
    assert message.user_name == "Test User"
    assert message.address.phone == PHONE
    assert message.address.bsuid is None
    assert message.sent_at == datetime(2025, 10, 9, 8, 54, 20, tzinfo=UTC)
    assert message.sent_at.tzinfo is not None
    assert message.sent_at.timestamp() == 1760000060


def test_unicode_display_name_is_kept() -> None:
    [message] = adapter.parse(fixture("text_unicode"))
    assert message.user_name == "José Ñúñez ~"


def test_bsuid_only_user_is_identified_by_bsuid() -> None:
    [message] = adapter.parse(fixture("bsuid_only_text"))
    assert message.user_id == BSUID
    assert message.address.bsuid == BSUID
    assert message.address.phone is None
    assert message.user_name == "Test User"


def test_bsuid_wins_over_phone_and_both_are_kept_in_the_address() -> None:
    [message] = adapter.parse(fixture("bsuid_and_phone_text"))
    assert message.user_id == BSUID
    assert message.address.phone == PHONE
    assert message.address.bsuid == BSUID


def test_bsuid_only_in_contacts_is_used() -> None:
    body = fixture("bsuid_and_phone_text")
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from_user_id"]
    [message] = adapter.parse(body)
    assert message.user_id == BSUID
    assert message.address.phone == PHONE


def test_phone_only_in_contacts_is_used() -> None:
    body = fixture("bsuid_only_text")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = PHONE
    [message] = adapter.parse(body)
    assert (message.user_id, message.address.phone) == (BSUID, PHONE)


def test_a_lone_contact_matches_even_when_from_and_wa_id_differ() -> None:
    body = fixture("text")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "5215550002222"
    [message] = adapter.parse(body)
    assert message.user_name == "Test User"
    assert message.user_id == PHONE, "the message's own `from` stays the id"


def test_batched_entries_changes_and_messages_are_all_parsed_in_order() -> None:
    delivery = adapter.parse_delivery(fixture("batched"))
    got = [(m.account_id, m.user_id, m.user_name, m.text) for m in delivery.messages]
    assert got == [
        ("200000000000001", PHONE, "User A", "First from A"),
        ("200000000000001", "15550004444", "User B", "First from B"),
        ("200000000000002", "BR.13000000000000000003", "User C", "From C"),
        ("200000000000002", PHONE, "User A", "Second from A"),
    ]
    assert delivery.ignored == {"status": 1}
    assert len({m.event_id for m in delivery.messages}) == 4


def test_contacts_are_matched_to_their_messages_by_bsuid() -> None:
    body = fixture("batched")
    value = body["entry"][1]["changes"][0]["value"]
    value["contacts"].reverse()
    names = {m.user_id: m.user_name for m in adapter.parse(body)}
    assert names["BR.13000000000000000003"] == "User C"


@pytest.mark.parametrize(
    "body",
    [
        {"object": "page", "entry": fixture("text")["entry"]},
        {"object": "instagram", "entry": []},
        {"entry": fixture("text")["entry"]},
        {},
        [],
        "whatsapp_business_account",
        None,
    ],
)
def test_a_body_that_is_not_a_whatsapp_delivery_yields_nothing(body: Any) -> None:
    delivery = adapter.parse_delivery(body)
    assert delivery.messages == []
    assert delivery.ignored == {"not_whatsapp": 1}


def test_an_empty_delivery_yields_nothing() -> None:
    assert adapter.parse_delivery({"object": "whatsapp_business_account", "entry": []}).ignored == {}


def test_malformed_messages_are_skipped_and_logged_without_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = fixture("malformed_mixed")
    with caplog.at_level(logging.WARNING, logger="handoff.channels.whatsapp"):
        delivery = adapter.parse_delivery(body)
    assert [m.text for m in delivery.messages] == ["A good one"]
    assert delivery.ignored == {"malformed": 4}
    reasons = " | ".join(record.getMessage() for record in caplog.records)
    assert "no id" in reasons and "timestamp" in reasons and "text without body" in reasons
    assert PHONE not in caplog.text and "wamid." not in caplog.text


def test_numbers_where_strings_are_expected_are_accepted() -> None:
    body = fixture("text")
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = int(ACCOUNT)
    value["messages"][0]["timestamp"] = 1760000060
    value["messages"][0]["from"] = int(PHONE)
    value["contacts"][0]["wa_id"] = int(PHONE)
    [message] = adapter.parse(body)
    assert (message.account_id, message.user_id, message.user_name) == (ACCOUNT, PHONE, "Test User")
    assert message.sent_at.timestamp() == 1760000060


def test_a_change_without_phone_number_id_skips_its_messages_only() -> None:
    body = fixture("batched")
    del body["entry"][0]["changes"][0]["value"]["metadata"]
    delivery = adapter.parse_delivery(body)
    assert [m.text for m in delivery.messages] == ["From C", "Second from A"]
    assert delivery.ignored == {"status": 1, "malformed": 2}


def test_a_message_without_any_sender_is_skipped() -> None:
    body = fixture("bsuid_only_text")
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from_user_id"]
    value["contacts"] = []
    assert adapter.parse_delivery(body).ignored == {"malformed": 1}


def test_wrong_shapes_at_every_level_are_counted_not_raised() -> None:
    body: dict[str, Any] = {
        "object": "whatsapp_business_account",
        "entry": [
            "not an entry",
            {"id": "1", "changes": "not a list"},
            {"id": "2", "changes": [{"field": "messages", "value": "not an object"}]},
            {"id": "3", "changes": [{"field": "messages", "value": {"messages": {"not": "a list"}}}]},
        ],
    }
    delivery = adapter.parse_delivery(body)
    assert delivery.messages == []
    assert delivery.ignored == {"malformed": 4}


# Any JSON at all where a message, a value or a contact should be: never an exception.
json_values = any_json.json_values(max_leaves=12)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "from": json_values | st.just(PHONE),
        "from_user_id": json_values | st.just(BSUID),
        "id": json_values | st.just("wamid.X"),
        "timestamp": json_values | st.just("1760000000"),
        "type": json_values
        | st.sampled_from(["text", "interactive", "button", "image", "location", "contacts", "reaction"]),
        "text": json_values,
        "interactive": json_values,
        "button": json_values,
        "image": json_values,
        "location": json_values,
        "contacts": json_values,
        "group_id": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(message_like | json_values, max_size=4),
    contacts=json_values
    | st.lists(
        st.fixed_dictionaries(
            {}, optional={"wa_id": json_values, "user_id": json_values, "profile": json_values}
        ),
        max_size=2,
    ),
    metadata=json_values | st.just({"phone_number_id": ACCOUNT}),
)
def test_parse_never_raises(messages: list[Any], contacts: Any, metadata: Any) -> None:
    value = {"messages": messages, "contacts": contacts, "metadata": metadata}
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": value}]}],
    }
    delivery = adapter.parse_delivery(body)
    assert len(delivery.messages) + delivery.ignored.get("malformed", 0) <= len(messages) + 1


# --- the committed samples ----------------------------------------------------------------------


def _make_events() -> Any:
    spec = importlib.util.spec_from_file_location("make_events", TESTS / "fixtures" / "make_events.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_fixtures_and_events_match_their_generator() -> None:
    assert _make_events().main(["--check"]) == 0, "run: python tests/fixtures/make_events.py"


@pytest.mark.parametrize(
    ("event", "count"),
    [
        ("post_text", 1),
        ("post_button_yes", 1),
        ("post_bsuid_text", 1),
        ("post_status_only", 0),
        ("post_batched", 4),
    ],
)
def test_sample_event_bodies_parse(event: str, count: int) -> None:
    body = json.loads((EVENTS / f"{event}.json").read_text(encoding="utf-8"))["body"]
    assert len(adapter.parse(json.loads(body))) == count


def test_parse_does_not_modify_the_body() -> None:
    body = fixture("batched")
    before = copy.deepcopy(body)
    adapter.parse(body)
    assert body == before
