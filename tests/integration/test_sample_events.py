"""The sample events in events/ (for `sam local invoke`) run through the real handlers as shipped."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from handoff import clock
from handoff.engine.model import ConversationRef
from handoff.runtime.wiring import conversation_store
from handoff_local.runtime import LocalRun
from handoff_tools.functions import ROOT

EVENTS = ROOT / "events"
FUNCTIONS = {
    "whatsapp_webhook": "WhatsappWebhookFunction",
    "messenger_webhook": "MessengerWebhookFunction",
    "instagram_webhook": "InstagramWebhookFunction",
    "conversation": "ConversationFunction",
    "wake": "WakeFunction",
    "live_api": "LiveApiFunction",
    "live_push": "LivePushFunction",
}
WEBHOOK_STATUS = {
    "get_handshake": 200,
    "get_handshake_wrong_token": 403,
    "post_bad_signature": 401,
}


@pytest.fixture(scope="module")
def run():
    """One run for the module: each event is independent of the others."""
    with LocalRun(ROOT / "examples" / "config.yaml") as local:
        yield local


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_function_has_sample_events():
    assert {p.name for p in EVENTS.iterdir() if p.is_dir()} == set(FUNCTIONS)
    for folder in FUNCTIONS:
        assert list((EVENTS / folder).glob("*.json")), folder


WEBHOOKS = ("whatsapp_webhook", "messenger_webhook", "instagram_webhook")


@pytest.mark.parametrize(
    "path",
    sorted(path for folder in WEBHOOKS for path in (EVENTS / folder).glob("*.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_webhook_events(run, path):
    response = run.invoke(FUNCTIONS[path.parent.name], load(path))
    assert response["statusCode"] == WEBHOOK_STATUS.get(path.stem, 200), response.get("body")


def queued(run) -> int:
    import boto3

    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=run.stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.mark.parametrize(
    ("folder", "event", "count"),
    [
        ("messenger_webhook", "post_text", 1),
        ("messenger_webhook", "post_quick_reply_yes", 1),
        ("messenger_webhook", "post_echo", 0),
        ("messenger_webhook", "post_receipts", 0),
        ("messenger_webhook", "post_standby", 0),
        ("messenger_webhook", "post_batched", 2),  # the other page belongs to no tenant
        ("instagram_webhook", "post_story_reply", 1),
        ("instagram_webhook", "post_echo", 0),
        ("instagram_webhook", "post_seen", 0),
        ("instagram_webhook", "post_batched", 3),
    ],
)
def test_meta_platform_events_queue_only_acmes_user_messages(run, folder, event, count):
    sample = load(EVENTS / folder / f"{event}.json")
    # a delivery of its own (the sample itself was queued above: FIFO would drop it as a duplicate)
    delivery = json.loads(sample["body"])
    for entry in delivery["entry"]:
        for message in entry.get("messaging", []):
            if isinstance(message.get("message"), dict):
                message["message"]["mid"] += f"-{event}"
    before = queued(run)
    assert run.webhook(folder.removesuffix("_webhook"), json.dumps(delivery).encode()).status == 200
    assert queued(run) - before == count


def test_the_conversation_event_is_applied(run):
    event = load(EVENTS / "conversation" / "user_message.json")
    body = json.loads(event["Records"][0]["body"])
    body["sent_at"] = clock.now().isoformat()  # a fresh message: one days old is kept but not answered
    event["Records"][0]["body"] = json.dumps(body)
    run.graph.clear()
    assert run.invoke("ConversationFunction", event) == {"batchItemFailures": []}
    ref = ConversationRef.model_validate(body["ref"])
    assert conversation_store().transcript(ref)[0].text == body["text"]
    assert len(run.graph.requests) == 1


@pytest.mark.parametrize("name", ["schedule", "agent_available"])
def test_wake_events(run, name):
    summary = run.invoke("WakeFunction", load(EVENTS / "wake" / f"{name}.json"))
    assert summary["tenants"] == (2 if name == "schedule" else 1)


@pytest.mark.parametrize("name", ["presence_online", "list_conversations"])
def test_live_api_events(run, name):
    response = run.invoke("LiveApiFunction", load(EVENTS / "live_api" / f"{name}.json"))
    assert response["statusCode"] == 200, response.get("body")


def test_live_push_events(run):
    # a ticket nobody issued opens no socket; a ping keeps one; an event reaches the tenant's sockets
    refused = run.invoke("LivePushFunction", load(EVENTS / "live_push" / "authorize_unknown_ticket.json"))
    assert refused["policyDocument"]["Statement"][0]["Effect"] == "Deny" and "context" not in refused
    assert run.invoke("LivePushFunction", load(EVENTS / "live_push" / "ping.json")) == {"statusCode": 200}
    pushed = run.invoke("LivePushFunction", load(EVENTS / "live_push" / "user_message_received.json"))
    assert pushed == {"sockets": 0, "sent": 0, "gone": 0, "failed": 0}


@pytest.mark.parametrize("folder", ["messenger_webhook", "instagram_webhook", "whatsapp_webhook"])
def test_a_base64_body_is_verified_on_its_decoded_bytes(run, folder):
    event = load(EVENTS / folder / "post_text.json")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert run.invoke(FUNCTIONS[folder], event)["statusCode"] == 200
    event["body"] = "not base64!"
    response = run.invoke(FUNCTIONS[folder], event)
    assert (response["statusCode"], response["body"]) == (400, "the body is not valid base64")
