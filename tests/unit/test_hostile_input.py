"""Hostile input behind a valid signature or token (issue 12, point 6): each finding gets a 4XX, or its
message is left out and counted, and never fails the messages next to it.

Most tests go through the real handlers on the embedded run (moto, signed deliveries, the FIFO
queue, the conversation function); what reached the queue is read by wrapping `enqueue`, and the
counts of what a delivery left out from its "delivery queued" log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handoff import clock
from handoff.adapters import inbound_queue
from handoff.channels.meta import TEXT_LIMIT, read_number
from handoff.channels.whatsapp import WhatsAppAdapter
from handoff.engine.model import ConversationRef, Event, UserMessage
from handoff.observability import logger
from handoff.runtime.wiring import conversation_store
from handoff.services import webhooks as webhooks_module
from handoff.services.json_body import MAX_DEPTH, read_json
from handoff_local import payloads
from handoff_local.runtime import LocalRun
from handoff_tools.functions import ROOT

CONFIG = ROOT / "examples" / "config.yaml"
ACME_NUMBER = "200000000000001"  # acme's WhatsApp phone_number_id in examples/config.yaml
ACME_PAGE = "300000000000001"  # acme's Facebook page id
UNKNOWN_NUMBER = "209999999999999"  # no tenant's
ANA = "573001110001"
BRUNO = "573001110002"
PSID = "4000000000000001"
JSON = {"content-type": "application/json"}


@pytest.fixture
def run() -> Iterator[LocalRun]:
    with LocalRun(
        CONFIG, log_level="DEBUG"
    ) as local:  # the "delivery queued" line, DEBUG when nothing was left out
        yield local


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every event the webhooks handed to the queue (they still go to the queue)."""
    events: list[Event] = []

    def spy(queue_url: str, batch: list[Event]) -> int:
        events.extend(batch)
        return inbound_queue.enqueue(queue_url, batch)

    monkeypatch.setattr(webhooks_module, "enqueue", spy)
    return events


@pytest.fixture
def tallies(caplog: pytest.LogCaptureFixture) -> Callable[[], list[dict[str, int]]]:
    """The `ignored` counts of each delivery so far, from its "delivery queued" log line."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=logger.name)  # the product's own lines, not botocore's
    return lambda: [r.__dict__["ignored"] for r in caplog.records if r.getMessage() == "delivery queued"]


def now() -> datetime:
    return clock.now()


def whatsapp(*messages: dict[str, Any], contacts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return payloads.whatsapp_delivery(
        ACME_NUMBER, *messages, contacts=contacts or [payloads.whatsapp_contact(ANA, "Ana")]
    )


def text_from(wa_id: str, text: str, **changes: Any) -> dict[str, Any]:
    return {**payloads.whatsapp_text(wa_id, text, now()), **changes}


def user_texts(ref: ConversationRef) -> list[str | None]:
    conversation = conversation_store().load(ref)
    assert conversation is not None
    return [line.text for line in conversation_store().transcript(ref) if line.author == "user"]


def whatsapp_ref(user_id: str) -> ConversationRef:
    return ConversationRef(tenant_id="acme", channel="whatsapp", account_id=ACME_NUMBER, user_id=user_id)


def raw(body: dict[str, Any]) -> bytes:
    """As Meta sends it: escaped-unicode JSON, so a lone surrogate travels as `\\ud83d`."""
    return json.dumps(body).encode()


# --- an integer timestamp of 309+ digits -------------------------------------------------------------


def test_a_timestamp_of_309_digits_is_malformed_not_an_overflow(run, queued, tallies):
    huge = 10**309  # float(huge) raised OverflowError: a 500, and Meta's retries for days
    assert read_number(huge) is None

    whatsapp_response = run.webhook(
        "whatsapp", whatsapp(text_from(ANA, "huge", timestamp=huge), text_from(ANA, "fine"))
    )
    event = {**payloads.meta_platform_text(PSID, ACME_PAGE, "huge", now()), "timestamp": huge}
    messenger_response = run.webhook(
        "messenger", payloads.meta_platform_delivery("messenger", ACME_PAGE, event)
    )

    assert (whatsapp_response.status, messenger_response.status) == (200, 200)
    assert [e.text for e in queued if isinstance(e, UserMessage)] == ["fine"]
    assert [t.get("malformed") for t in tallies()] == [1, 1]


# --- deep nesting, and integers past Python's digit limit ---------------------------------------------

UNREADABLE = {
    "nested past the stack": b'{"object": "whatsapp_business_account", "entry": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
    "nested past the reader's bound": b'{"entry": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
    "an integer of 5000 digits": b'{"object": "whatsapp_business_account", "entry": [{"time": '
    + b"7" * 5000
    + b"}]}",
    "NaN": b'{"object": "whatsapp_business_account", "entry": [], "time": NaN}',
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_webhook_body_json_cannot_hold_is_a_400(run, body):
    with pytest.raises(json.JSONDecodeError):
        read_json(body)
    for channel in ("whatsapp", "messenger", "instagram"):
        response = run.webhook(channel, body)
        assert response.status == 400, response.body
        assert response.body.startswith("body is not valid JSON")


def test_a_body_nested_within_the_bound_is_read() -> None:
    nested: Any = 1
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    assert read_json(json.dumps({"a": nested})) == {"a": nested}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_live_and_admin_bodies_json_cannot_hold_are_refused_like_malformed_json(run, body):
    agent, admin = run.as_agent("acme", "carla"), run.as_admin("acme")
    requests = [
        ("PUT", "/live/presence", agent),
        ("POST", "/live/conversations/nope/reply", agent),
        ("POST", "/live/conversations/nope/template", agent),
        ("PUT", "/admin/agent-seats", admin),
        ("PUT", "/admin/config", admin),
    ]
    for method, path, headers in requests:
        malformed = run.http(method, path, body=b'{"version":', headers={**headers, **JSON})
        response = run.http(method, path, body=body, headers={**headers, **JSON})
        assert response.status == malformed.status == 422, (path, response.body)
        assert response.json()["detail"][0]["type"] == "json_invalid"


# --- lone surrogates ---------------------------------------------------------------------------------


def test_a_lone_surrogate_never_fails_the_delivery(run, queued, tallies, caplog):
    body = whatsapp(
        text_from(ANA, "\ud83d broken emoji"),  # a text: repaired
        text_from(BRUNO, "my id is broken", id="wamid.\ud83d"),  # an id: malformed, left out
        text_from(BRUNO, "and mine is fine"),
        contacts=[payloads.whatsapp_contact(ANA, "Ana \udc00"), payloads.whatsapp_contact(BRUNO, "Bruno")],
    )
    response = run.webhook("whatsapp", raw(body))

    assert response.status == 200
    assert [(e.ref.user_id, e.text, e.user_name) for e in queued if isinstance(e, UserMessage)] == [
        (ANA, "\ufffd broken emoji", "Ana \ufffd"),
        (BRUNO, "and mine is fine", "Bruno"),
    ]
    assert tallies()[0] == {"malformed": 1}
    assert all(personal not in caplog.text for personal in (ANA, BRUNO, "wamid."))  # logs name no user
    run.drain()
    assert user_texts(whatsapp_ref(ANA)) == ["\ufffd broken emoji"]
    assert user_texts(whatsapp_ref(BRUNO)) == ["and mine is fine"]
    assert run.dead_letters() == 0


def test_a_lone_surrogate_in_a_messenger_sender_or_payload(run, queued, tallies):
    bad_sender = payloads.meta_platform_text("40000\ud800", ACME_PAGE, "who am I", now())
    tap = payloads.meta_platform_quick_reply(PSID, ACME_PAGE, "PAY\udfffLOAD", "Sí", now())
    body = payloads.meta_platform_delivery("messenger", ACME_PAGE, bad_sender, tap)

    assert run.webhook("messenger", raw(body)).status == 200
    assert [(e.ref.user_id, e.payload) for e in queued if isinstance(e, UserMessage)] == [
        (PSID, "PAY\ufffdLOAD")
    ]
    assert tallies()[0] == {"malformed": 1}
    run.drain()
    assert run.dead_letters() == 0


def test_the_queue_leaves_out_an_event_it_cannot_encode_and_sends_the_rest(run):
    good = UserMessage(ref=whatsapp_ref(ANA), event_id="wamid.1", sent_at=now(), kind="text", text="ok")
    bad = good.model_copy(update={"event_id": "wamid.2", "text": "\ud83d"})
    assert inbound_queue.enqueue(run.stack.queue_url, [bad, good]) == 1
    assert run.drain() == 1


# --- contacts matched in linear time ------------------------------------------------------------------


def test_a_3_mb_whatsapp_delivery_with_many_contacts_is_read_in_linear_time(run, tallies):
    # 6000 messages whose senders no contact matches, next to 24000 contacts: every message
    # scanned every contact twice (288 million comparisons; 18.8 s for 0.87 MB on Lambda)
    messages = [
        {
            "from": f"1{i:010d}",
            "from_user_id": f"US.{i}",
            "id": f"wamid.{i}",
            "timestamp": str(int(now().timestamp())),
            "type": "text",
            "text": {"body": "hi"},
        }
        for i in range(6000)
    ]
    contacts = [{"wa_id": f"2{i:010d}", "user_id": f"ZZ.{i}", "profile": {"name": "x"}} for i in range(24000)]
    body = payloads.whatsapp_delivery(UNKNOWN_NUMBER, *messages, contacts=contacts)
    encoded = raw(body)
    assert len(encoded) > 2_500_000

    started = time.perf_counter()
    response = run.webhook("whatsapp", encoded)
    elapsed = time.perf_counter() - started

    assert response.status == 200
    assert elapsed < 5, f"{elapsed:.1f} s"  # well under the webhook's 10 s timeout
    assert tallies()[0] == {}


def test_contacts_are_still_matched_by_bsuid_then_phone_then_alone():
    adapter = WhatsAppAdapter()
    by_phone = payloads.whatsapp_contact(ANA, "Ana")
    by_bsuid = {"profile": {"name": "Bruno"}, "wa_id": "999", "user_id": "US.2"}
    body = payloads.whatsapp_delivery(
        ACME_NUMBER,
        text_from(ANA, "phone"),
        {**text_from("111", "bsuid"), "from_user_id": "US.2"},
        text_from("222", "nobody"),
        contacts=[by_phone, by_bsuid],
    )
    names = [m.user_name for m in adapter.parse(body)]
    assert names == ["Ana", "Bruno", None]
    lone = payloads.whatsapp_delivery(ACME_NUMBER, text_from("5215550001", "mx"), contacts=[by_phone])
    assert [m.user_name for m in adapter.parse(lone)] == ["Ana"]


# --- timestamps bounded -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        datetime(9999, 12, 31, tzinfo=UTC),  # went to the dead-letter queue after 5 tries
        datetime(2100, 1, 1, tzinfo=UTC),  # stretched the transcript's TTL by 74 years
        datetime(1999, 12, 31, tzinfo=UTC),
        None,  # two days ahead of the delivery
    ],
    ids=["year 9999", "year 2100", "before 2000", "two days ahead"],
)
def test_a_timestamp_out_of_range_is_malformed_and_its_neighbours_go_on(run, queued, tallies, caplog, when):
    when = when or now() + timedelta(days=2)
    body = whatsapp(
        text_from(ANA, "out of range", timestamp=str(int(when.timestamp()))),
        text_from(BRUNO, "in range"),
    )
    millis = int(when.timestamp() * 1000)
    event = {**payloads.meta_platform_text(PSID, ACME_PAGE, "out of range", now()), "timestamp": millis}

    assert run.webhook("whatsapp", body).status == 200
    assert (
        run.webhook("messenger", payloads.meta_platform_delivery("messenger", ACME_PAGE, event)).status == 200
    )
    assert [e.text for e in queued if isinstance(e, UserMessage)] == ["in range"]
    assert [t.get("malformed") for t in tallies()] == [1, 1]
    assert ANA not in caplog.text and PSID not in caplog.text  # logs name no user
    run.drain()
    assert run.dead_letters() == 0


def test_a_backlog_a_week_old_and_a_clock_an_hour_ahead_are_in_range(run, queued):
    body = whatsapp(
        text_from(ANA, "a week late", timestamp=str(int((now() - timedelta(days=7)).timestamp()))),
        text_from(BRUNO, "an hour ahead", timestamp=str(int((now() + timedelta(hours=1)).timestamp()))),
    )
    assert run.webhook("whatsapp", body).status == 200
    assert sorted(e.text or "" for e in queued if isinstance(e, UserMessage)) == [
        "a week late",
        "an hour ahead",
    ]


# --- a 3 MB text --------------------------------------------------------------------------------------


def test_a_3_mb_text_is_cut_and_queued(run, queued, tallies):
    response = run.webhook("whatsapp", whatsapp(text_from(ANA, "x" * 3_000_000), text_from(BRUNO, "short")))

    assert response.status == 200  # was BatchRequestTooLong: a 500, every message of it lost
    cut, short = (e for e in queued if isinstance(e, UserMessage))
    assert cut.text is not None and len(cut.text) == TEXT_LIMIT and cut.text.endswith("…")
    assert short.text == "short"
    assert tallies()[0] == {"truncated": 1}
    run.drain()
    assert [len(t or "") for t in user_texts(whatsapp_ref(ANA))] == [TEXT_LIMIT]
    assert run.dead_letters() == 0


class RecordingSqs:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, str]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.batches.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_batches_are_split_by_size_as_well_as_by_ten(monkeypatch):
    sqs = RecordingSqs()
    monkeypatch.setattr(inbound_queue, "client", lambda name: sqs)
    # the largest events a channel lets through: text, payload and name at the limit, each
    # character a control character that JSON escapes in six bytes (about 74 KB an event)
    longest = "\x01" * TEXT_LIMIT
    events = [
        UserMessage(
            ref=whatsapp_ref(f"57300000{n:04d}"),
            event_id=f"wamid.{n}",
            sent_at=datetime(2026, 1, 1, tzinfo=UTC),
            kind="text",
            text=longest,
            payload=longest,
            user_name=longest,
        )
        for n in range(12)
    ]

    assert inbound_queue.enqueue("queue", events) == 0

    sizes = [sum(len(e["MessageBody"].encode()) for e in batch) for batch in sqs.batches]
    assert all(size <= 256 * 1024 for size in sizes), sizes  # SQS's limit before August 2025
    assert all(len(batch) <= inbound_queue.BATCH for batch in sqs.batches)
    sent = [json.loads(e["MessageBody"])["event_id"] for batch in sqs.batches for e in batch]
    assert sent == [e.event_id for e in events]  # in order, none left out


def test_a_message_body_holds_only_what_sqs_accepts():
    odd = "\x00\x1f\x7f\u2028\ufffe\uffff\U0001f600"
    body = inbound_queue.encode(
        UserMessage(ref=whatsapp_ref(ANA), event_id="wamid.1", sent_at=now(), kind="text", text=odd)
    )
    assert all(sqs_allows(c) for c in body)
    assert json.loads(body)["text"] == odd


def sqs_allows(character: str) -> bool:
    """SQS's character set for message bodies (#x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-)."""
    return (
        character in "\t\n\r"
        or " " <= character <= "\ud7ff"
        or "\ue000" <= character <= "\ufffd"
        or character >= "\U00010000"
    )


# --- Meta's delivery statuses: counted, not logged one by one ------------------------------------------


def test_statuses_are_one_metric_and_a_plain_delivery_logs_nothing_at_info(run, caplog, monkeypatch):
    """Every reply brings three status webhooks (sent, delivered, read): at scale they are most of
    the webhook's traffic, so they add to `StatusUpdates` and write no line above DEBUG."""
    counted: list[tuple[str, float]] = []
    monkeypatch.setattr(
        webhooks_module.metrics, "add_metric", lambda name, unit, value: counted.append((name, value))
    )
    statuses = whatsapp()
    statuses["entry"][0]["changes"][0]["value"]["statuses"] = [
        {
            "id": f"wamid.OURS{n}",
            "status": status,
            "timestamp": str(int(now().timestamp())),
            "recipient_id": ANA,
        }
        for n, status in enumerate(("sent", "delivered", "read"))
    ]
    caplog.set_level(logging.DEBUG, logger=logger.name)

    assert run.webhook("whatsapp", raw(statuses)).status == 200
    assert run.webhook("whatsapp", raw(whatsapp(text_from(ANA, "Hola")))).status == 200

    assert counted == [("StatusUpdates", 3)]
    lines = [r for r in caplog.records if r.getMessage() == "delivery queued"]
    assert [(r.levelno, r.__dict__["ignored"], r.__dict__["messages"]) for r in lines] == [
        (logging.DEBUG, {}, 0),
        (logging.DEBUG, {}, 1),
    ]
    # something left out is still worth a line at INFO
    assert run.webhook("whatsapp", raw(whatsapp(text_from(ANA, "x", timestamp="9" * 309)))).status == 200
    last = [r for r in caplog.records if r.getMessage() == "delivery queued"][-1]
    assert (last.levelno, last.__dict__["ignored"]) == (logging.INFO, {"malformed": 1})
