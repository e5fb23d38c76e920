"""The event bus (EventBridge): what the application announces, to itself and to other systems."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handoff.adapters.clients import client

CONVERSATIONS_SOURCE = "async-handoff.conversations"
"""Source of the events other systems subscribe to: ConversationTaken, ConversationClosed, WaitExpired."""

LIVE_SOURCE = "async-handoff.live"
WAKE_SOURCE = "async-handoff.wake"
"""Source of AgentAvailable, which the wake function's rule listens for."""


class EventBusUnavailable(Exception):
    """EventBridge did not take the event; whoever owes it keeps it and tries again."""


def publish(bus_name: str, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "EventBusName": bus_name,
    }
    try:
        response = client("events").put_events(Entries=[entry])
    except (BotoCoreError, ClientError) as exc:
        raise EventBusUnavailable(type(exc).__name__) from exc
    if response.get("FailedEntryCount"):
        failed = response["Entries"][0]
        raise EventBusUnavailable(f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")
