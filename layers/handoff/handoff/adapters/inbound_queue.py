"""The inbound FIFO queue: one message group per conversation, deduplicated on the event id."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import TypeAdapter

from handoff.adapters.clients import client
from handoff.engine.model import Event

_events: TypeAdapter[Event] = TypeAdapter(Event)
BATCH = 10  # SQS SendMessageBatch's limit


def group_id(conversation_key: str) -> str:
    """The FIFO message group: hashed, since keys hold user ids and may pass SQS's 128 characters."""
    return hashlib.sha256(conversation_key.encode()).hexdigest()


def deduplication_id(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()


def encode(event: Event) -> str:
    return _events.dump_json(event).decode()


class QueueFailure(Exception):
    """SQS refused some events: the delivery must fail so Meta sends it again."""


def enqueue(queue_url: str, events: Sequence[Event]) -> None:
    """Send events in order, ten at a time; raises QueueFailure if any was not accepted."""
    sqs = client("sqs")
    for start in range(0, len(events), BATCH):
        batch = events[start : start + BATCH]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": encode(event),
                    "MessageGroupId": group_id(event.ref.key),
                    "MessageDeduplicationId": deduplication_id(event.event_id),
                }
                for n, event in enumerate(batch)
            ],
        )
        if response.get("Failed"):
            codes = sorted({failure.get("Code", "?") for failure in response["Failed"]})
            raise QueueFailure(f"{len(response['Failed'])} events not queued ({', '.join(codes)})")
