"""Messenger and Instagram deliveries parsed into channel messages: every kind, batching, what is left out."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import any_json
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.channels import adapter_for
from handoff.channels.meta import verify_signature
from handoff.channels.meta_platform import InstagramAdapter, MessengerAdapter
from handoff.channels.whatsapp import WhatsAppAdapter
from handoff.engine.choice import understand_choice
from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD

TESTS = Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "fixtures"
EVENTS = TESTS.parent / "events"
PAGE_ID, PSID = "300000000000001", "4000000000000001"
IG_ACCOUNT_ID, IGSID = "17841400000000001", "6000000000000001"

messenger = MessengerAdapter()
instagram = InstagramAdapter()
ADAPTERS = {"messenger": messenger, "instagram": instagram}


def fixture(channel: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))


# (channel, fixture) -> (kind, text, payload) of its one message
ONE_MESSAGE = {
    ("messenger", "text"): ("text", "Hi, where is my order?", None),
    ("messenger", "text_unicode"): ("text", "¿Puedo hablar con una persona? 👍", None),
    ("messenger", "reply_to"): ("text", "This one", None),
    ("messenger", "quick_reply"): ("choice", "Track order", "TRACK_ORDER"),
    ("messenger", "quick_reply_yes"): ("choice", "Sí, quiero esperar", YES_PAYLOAD),
    ("messenger", "quick_reply_no"): ("choice", "No, gracias", NO_PAYLOAD),
    ("messenger", "image"): ("image", None, None),
    ("messenger", "sticker"): ("sticker", None, None),
    ("messenger", "audio"): ("audio", None, None),
    ("messenger", "video"): ("video", None, None),
    ("messenger", "file"): ("document", None, None),
    ("messenger", "reel"): ("share", None, None),
    ("messenger", "fallback_share"): ("share", None, None),
    ("messenger", "postback"): ("choice", "Talk to a human", "HANDOFF_REQUEST"),
    ("messenger", "postback_get_started"): ("choice", "Get Started", "GET_STARTED"),
    ("instagram", "text"): ("text", "Do you ship to Canada?", None),
    ("instagram", "quick_reply"): ("choice", "Canada", "SHIP_CA"),
    ("instagram", "quick_reply_yes"): ("choice", "Sí, esperar", YES_PAYLOAD),
    ("instagram", "postback"): ("choice", "Talk to support", "HANDOFF_REQUEST"),
    ("instagram", "story_reply"): ("story_reply", "Love this colour!", None),
    ("instagram", "story_mention"): ("story_mention", None, None),
    ("instagram", "image"): ("image", None, None),
    ("instagram", "ig_post_share"): ("share", None, None),
    ("instagram", "unsupported"): ("unsupported", None, None),
}

# (channel, fixture) -> what the delivery held instead of a user message
NO_MESSAGE = {
    ("messenger", "echo"): {"echo": 1},
    ("messenger", "echo_page_inbox"): {"echo": 1},
    ("messenger", "delivery"): {"receipt": 1},
    ("messenger", "read"): {"receipt": 1},
    ("messenger", "reaction"): {"reaction": 1},
    ("messenger", "unreaction"): {"reaction": 1},
    ("messenger", "message_edit"): {"edit": 1},
    ("messenger", "pass_thread_control"): {"handover": 1},
    ("messenger", "take_thread_control"): {"handover": 1},
    ("messenger", "request_thread_control"): {"handover": 1},
    ("messenger", "app_roles"): {"handover": 1},
    ("messenger", "referral"): {"other_event": 1},
    ("messenger", "optin"): {"other_event": 1},
    ("messenger", "standby_text"): {"standby": 1},
    ("messenger", "standby_echo"): {"standby": 1},
    ("messenger", "standby_postback"): {"standby": 1},
    ("instagram", "echo"): {"echo": 1},
    ("instagram", "echo_self"): {"echo": 1},
    ("instagram", "reaction"): {"reaction": 1},
    ("instagram", "unreaction"): {"reaction": 1},
    ("instagram", "seen"): {"receipt": 1},
    ("instagram", "unsend"): {"unsend": 1},
    ("instagram", "message_edit"): {"edit": 1},
    ("instagram", "referral"): {"other_event": 1},
    ("instagram", "standby_text"): {"standby": 1},
    ("instagram", "comment_change"): {"other_field": 1},
}


def test_every_fixture_is_covered() -> None:
    for channel in ADAPTERS:
        names = {path.stem for path in (FIXTURES / channel).glob("*.json")}
        covered = {name for ch, name in (*ONE_MESSAGE, *NO_MESSAGE) if ch == channel}
        assert names - covered <= {"batched", "malformed_mixed", "dashboard_test"}, channel


@pytest.mark.parametrize(("channel", "name"), sorted(ONE_MESSAGE), ids="-".join)
def test_each_kind_of_message(channel: str, name: str) -> None:
    delivery = ADAPTERS[channel].parse_delivery(fixture(channel, name))
    [message] = delivery.messages
    assert delivery.ignored == {}
    assert (message.kind, message.text, message.payload) == ONE_MESSAGE[(channel, name)]
    account, user = (PAGE_ID, PSID) if channel == "messenger" else (IG_ACCOUNT_ID, IGSID)
    assert (message.channel, message.account_id, message.user_id) == (channel, account, user)
    assert message.address.scoped_id == user and message.address.phone is None
    assert message.event_id and message.user_name is None


@pytest.mark.parametrize(("channel", "name"), sorted(NO_MESSAGE), ids="-".join)
def test_what_is_not_a_user_message_is_counted_and_left_out(channel: str, name: str) -> None:
    delivery = ADAPTERS[channel].parse_delivery(fixture(channel, name))
    assert delivery.messages == []
    assert delivery.ignored == NO_MESSAGE[(channel, name)]


def test_the_mid_is_the_event_id() -> None:
    [message] = messenger.parse(fixture("messenger", "text"))
    assert message.event_id == "m_SYNTHETICmid0001" + "A" * 44


def test_timestamps_are_milliseconds_and_compare_with_whatsapp_seconds() -> None:
    body = fixture("messenger", "text")
    body["entry"][0]["messaging"][0]["timestamp"] = 1760000000250
    [message] = messenger.parse(body)
    assert message.sent_at == datetime(2025, 10, 9, 8, 53, 20, 250_000, tzinfo=UTC)
    whatsapp = json.loads((FIXTURES / "whatsapp" / "text.json").read_text(encoding="utf-8"))
    whatsapp["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "1760000000"
    [on_whatsapp] = WhatsAppAdapter().parse(whatsapp)
    assert on_whatsapp.sent_at < message.sent_at  # the same second, 250 ms later
    assert (message.sent_at - on_whatsapp.sent_at).total_seconds() == 0.25


def test_the_dashboard_test_event_in_seconds_as_a_string_is_read() -> None:
    [message] = instagram.parse(fixture("instagram", "dashboard_test"))
    assert message.sent_at == datetime(2018, 5, 27, 22, 23, 44, tzinfo=UTC)
    assert (message.account_id, message.text) == ("0", "random_text")  # no tenant owns account "0"


def test_a_quick_reply_is_decided_by_its_payload_not_its_title() -> None:
    body = fixture("messenger", "quick_reply_yes")
    body["entry"][0]["messaging"][0]["message"]["text"] = "No, gracias"
    [message] = messenger.parse(body)
    assert message.payload == YES_PAYLOAD
    assert understand_choice(message.text, message.payload) == "yes"


def test_a_postback_without_mid_keeps_a_stable_event_id() -> None:
    body = fixture("messenger", "postback_get_started")
    [first] = messenger.parse(body)
    [again] = messenger.parse(copy.deepcopy(body))
    assert first.event_id == again.event_id
    assert first.event_id.startswith("postback#")


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
def test_a_batched_delivery_yields_every_event_of_every_entry(channel: str) -> None:
    delivery = ADAPTERS[channel].parse_delivery(fixture(channel, "batched"))
    texts = [m.text for m in delivery.messages]
    if channel == "messenger":
        assert texts == ["second", "first", "other page"]
        assert [m.account_id for m in delivery.messages] == [PAGE_ID, PAGE_ID, "300000000000002"]
        assert delivery.ignored == {"echo": 1, "receipt": 1}
    else:
        assert texts == ["first", "hi", "second"]
        assert {m.user_id for m in delivery.messages} == {IGSID, "6000000000000002"}
        assert delivery.ignored == {"echo": 1}


def test_an_echo_is_recognised_by_its_sender_even_without_the_flag() -> None:
    body = fixture("instagram", "echo")
    del body["entry"][0]["messaging"][0]["message"]["is_echo"]
    assert instagram.parse_delivery(body).ignored == {"echo": 1}


def test_a_delivery_for_the_other_channel_is_not_read() -> None:
    assert instagram.parse_delivery(fixture("messenger", "text")).ignored == {"not_instagram": 1}
    assert messenger.parse_delivery(fixture("instagram", "text")).ignored == {"not_messenger": 1}
    assert messenger.parse_delivery({"object": "page", "entry": []}).ignored == {}


def test_malformed_events_are_skipped_and_logged_without_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        delivery = messenger.parse_delivery(fixture("messenger", "malformed_mixed"))
    assert [m.text for m in delivery.messages] == ["A good one", "timed by its entry"]
    assert delivery.messages[1].sent_at == datetime.fromtimestamp(1760000000.123, tz=UTC)
    assert delivery.ignored == {"malformed": 4}
    reasons = " | ".join(record.getMessage() for record in caplog.records)
    assert "without mid" in reasons and "no sender.id" in reasons and "not an object" in reasons
    assert PSID not in caplog.text and "m_SYNTHETIC" not in caplog.text


def test_numbers_where_strings_are_expected_are_accepted() -> None:
    body = fixture("messenger", "text")
    body["entry"][0]["id"] = int(PAGE_ID)
    body["entry"][0]["messaging"][0]["sender"]["id"] = int(PSID)
    body["entry"][0]["messaging"][0]["timestamp"] = "1760000060000"
    [message] = messenger.parse(body)
    assert (message.account_id, message.user_id) == (PAGE_ID, PSID)
    assert message.sent_at.timestamp() == 1760000060


def test_an_entry_without_id_is_routed_by_the_recipient() -> None:
    body = fixture("messenger", "text")
    del body["entry"][0]["id"]
    [message] = messenger.parse(body)
    assert message.account_id == PAGE_ID


def test_wrong_shapes_at_every_level_are_counted_not_raised() -> None:
    body: dict[str, Any] = {
        "object": "page",
        "entry": [
            "not an entry",
            {"id": "1", "messaging": "not a list"},
            {
                "id": "2",
                "messaging": [{"sender": {"id": "9"}, "timestamp": "yesterday", "message": {"mid": "x"}}],
            },
            {"id": "3", "standby": {"not": "a list"}},
        ],
    }
    delivery = messenger.parse_delivery(body)
    assert delivery.messages == []
    assert delivery.ignored == {"malformed": 4}


json_values = any_json.json_values(max_leaves=8)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "sender": json_values | st.fixed_dictionaries({"id": json_values}),
        "recipient": json_values | st.fixed_dictionaries({"id": json_values}),
        "timestamp": json_values | st.integers(min_value=-(10**20), max_value=10**20),
        "message": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "mid": json_values,
                "text": json_values,
                "is_echo": json_values,
                "quick_reply": json_values,
                "attachments": json_values,
                "reply_to": json_values,
            },
        ),
        "postback": json_values,
        "read": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(event_like | json_values, max_size=4),
    entry_id=json_values,
    channel=st.sampled_from(["messenger", "instagram"]),
)
def test_parse_never_raises(events: list[Any], entry_id: Any, channel: str) -> None:
    adapter = ADAPTERS[channel]
    body = {"object": adapter.webhook_object, "entry": [{"id": entry_id, "time": 1, "messaging": events}]}
    delivery = adapter.parse_delivery(body)
    assert len(delivery.messages) + sum(delivery.ignored.values()) == len(events)


def test_parse_does_not_modify_the_body() -> None:
    body = fixture("messenger", "batched")
    before = copy.deepcopy(body)
    messenger.parse(body)
    assert body == before


def test_adapters_are_registered_by_channel() -> None:
    assert isinstance(adapter_for("messenger"), MessengerAdapter)
    assert isinstance(adapter_for("instagram"), InstagramAdapter)
    assert isinstance(adapter_for("whatsapp"), WhatsAppAdapter)
    with pytest.raises(ValueError, match="web"):
        adapter_for("web")


# --- the signature Meta computes on its escaped-unicode body --------------------------------------

SIGNED_BODY = (
    b'{"object":"page","entry":[{"id":"300000000000001","time":1760000000123,"messaging":[{"sender":'
    b'{"id":"4000000000000001"},"recipient":{"id":"300000000000001"},"timestamp":1760000000000,'
    b'"message":{"mid":"m_synthetic0001","text":"h\\u00e9llo"}}]}]}'
)


def test_the_reference_signature_vector() -> None:
    header = "sha256=52bff3fce7739538dd9b75db62882bf079174aa3b6b2a5fb095bd03ea6b919c4"
    assert verify_signature(SIGNED_BODY, header, "test_app_secret")
    reserialised = json.dumps(json.loads(SIGNED_BODY), ensure_ascii=False, separators=(",", ":")).encode()
    assert not verify_signature(reserialised, header, "test_app_secret"), "the decoded body must not match"
    [message] = messenger.parse(json.loads(SIGNED_BODY))
    assert message.text == "héllo"


# --- the committed sample events -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "event", "count"),
    [
        ("messenger", "post_text", 1),
        ("messenger", "post_quick_reply_yes", 1),
        ("messenger", "post_postback", 1),
        ("messenger", "post_image", 1),
        ("messenger", "post_echo", 0),
        ("messenger", "post_receipts", 0),
        ("messenger", "post_standby", 0),
        ("messenger", "post_batched", 3),
        ("instagram", "post_text", 1),
        ("instagram", "post_quick_reply_yes", 1),
        ("instagram", "post_story_reply", 1),
        ("instagram", "post_story_mention", 1),
        ("instagram", "post_echo", 0),
        ("instagram", "post_seen", 0),
        ("instagram", "post_batched", 3),
    ],
)
def test_sample_event_bodies_parse(channel: str, event: str, count: int) -> None:
    body = json.loads((EVENTS / f"{channel}_webhook" / f"{event}.json").read_text(encoding="utf-8"))["body"]
    assert len(ADAPTERS[channel].parse(json.loads(body))) == count
