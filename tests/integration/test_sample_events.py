"""The sample events in events/ (for `sam local invoke`) run through the real handlers as shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handoff import clock
from handoff.engine.model import ConversationRef
from handoff.wiring import conversation_store
from handoff_local.runtime import ROOT, LocalRun

EVENTS = ROOT / "events"
FUNCTIONS = {
    "whatsapp_webhook": "WhatsappWebhookFunction",
    "conversation": "ConversationFunction",
    "wake": "WakeFunction",
    "live_api": "LiveApiFunction",
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


@pytest.mark.parametrize("path", sorted((EVENTS / "whatsapp_webhook").glob("*.json")), ids=lambda p: p.stem)
def test_webhook_events(run, path):
    response = run.invoke("WhatsappWebhookFunction", load(path))
    assert response["statusCode"] == WEBHOOK_STATUS.get(path.stem, 200), response.get("body")


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
