"""The inbound FIFO queue: one message group per conversation, deduplicated on the event id.

Events are sent in order, in batches that respect both of SendMessageBatch's limits: ten entries,
and `MAX_BATCH_BYTES` for the bodies together (SQS refuses the whole request with
BatchRequestTooLong otherwise). The byte budget is 256 KiB, SQS's limit for a message and a batch
before August 2025; queues now default to 1 MiB, but a queue created with the old default keeps
it, and the channels keep every event far smaller anyway (`channels/meta.py`). An event that could
never be sent (not valid Unicode, or alone over the budget) is left out and counted by `enqueue`,
so it never takes the rest of its delivery down with it.

The consumer puts a record back for later (`return_later`) by its visibility timeout: a record whose
sends had to wait comes back when they may be tried again, and its conversation's later events
wait behind it in their FIFO group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ConfigDict, Json, TypeAdapter
from pydantic_core import PydanticSerializationError

from handoff.adapters.clients import client
from handoff.engine.model import Event
from handoff.observability import logger, pseudonym

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse, PartialItemFailures

_events: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(defer_build=True))
BATCH = 10  # SQS SendMessageBatch's limit
MAX_BATCH_BYTES = 256 * 1024
"""The most bytes of message bodies in one SendMessageBatch (and so in one message)."""
_SQS_ESCAPES = {0xFFFE: "\\ufffe", 0xFFFF: "\\uffff"}
"""The only characters JSON may hold raw that SQS refuses in a body (InvalidMessageContents)."""


def group_id(conversation_key: str) -> str:
    """The FIFO message group: the conversation's pseudonym (a keyed HMAC), since keys hold user
    ids (SQS shows group ids in its console and its records) and may pass SQS's 128 characters."""
    return pseudonym(conversation_key)


def deduplication_id(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()


def encode(event: Event) -> str:
    """The event as a message body: JSON in UTF-8, with what SQS refuses escaped.

    Raises UnencodableEvent when a string holds a lone surrogate (UTF-8 cannot carry it).
    """
    try:
        body = _events.dump_json(event).decode()
    except PydanticSerializationError as exc:
        raise UnencodableEvent("the event is not valid Unicode") from exc
    return body.translate(_SQS_ESCAPES)


class QueuedEvent(SqsRecordModel, defer_build=True):
    """A record of the inbound queue, as Lambda hands it to the consumer: its body is one engine
    event, as `encode` wrote it."""

    body: Json[Event]

    @property
    def receive_count(self) -> int:
        """How many times SQS has handed this message out, this time included."""
        return int(self.attributes.ApproximateReceiveCount)


class UnencodableEvent(ValueError):
    """An event that cannot be written as a message body."""


class QueueFailure(Exception):
    """SQS refused some events: the delivery must fail so Meta sends it again."""


def enqueue(queue_url: str, events: Sequence[Event]) -> int:
    """Send events in order; returns how many were left out because no queue could take them.

    Raises QueueFailure if SQS did not accept one it was sent (the caller fails, to be retried).
    """
    entries: list[tuple[Event, str, int]] = []
    left_out = 0
    for event in events:
        try:
            body = encode(event)
        except UnencodableEvent:
            left_out += 1
            logger.warning(
                "an event was left out of the queue: not valid Unicode", extra={"event_type": event.type}
            )
            continue
        size = len(body.encode())
        if size > MAX_BATCH_BYTES:
            left_out += 1
            logger.warning(
                "an event was left out of the queue: too large",
                extra={"event_type": event.type, "bytes": size},
            )
            continue
        entries.append((event, body, size))
    sqs = client("sqs")
    for batch in _batches(entries):
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": body,
                    "MessageGroupId": group_id(event.ref.key),
                    "MessageDeduplicationId": deduplication_id(event.event_id),
                }
                for n, (event, body, _) in enumerate(batch)
            ],
        )
        if response.get("Failed"):
            codes = sorted({failure.get("Code", "?") for failure in response["Failed"]})
            raise QueueFailure(f"{len(response['Failed'])} events not queued ({', '.join(codes)})")
    return left_out


def _batches(entries: Sequence[tuple[Event, str, int]]) -> Iterator[list[tuple[Event, str, int]]]:
    """Consecutive runs of at most `BATCH` entries and `MAX_BATCH_BYTES` of bodies, in order."""
    batch: list[tuple[Event, str, int]] = []
    total = 0
    for entry in entries:
        size = entry[2]
        if batch and (len(batch) == BATCH or total + size > MAX_BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(entry)
        total += size
    if batch:
        yield batch


def return_later(queue_url: str, returns: Mapping[str, int]) -> set[str]:
    """Make received messages visible again only after their seconds (by receipt handle), so the
    consumer gets each back then; returns the receipt handles SQS took. One that SQS refused comes
    back after the queue's own visibility timeout instead: later, never lost."""
    taken: set[str] = set()
    entries = list(returns.items())
    sqs = client("sqs")
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        try:
            answer = sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": seconds}
                    for n, (receipt, seconds) in enumerate(batch)
                ],
            )
        except (BotoCoreError, ClientError) as error:
            logger.warning("records not returned with a delay", extra={"error": str(error)})
            continue
        taken.update(batch[int(entry["Id"])][0] for entry in answer.get("Successful", []))
        if answer.get("Failed"):
            codes = sorted({failure.get("Code", "?") for failure in answer["Failed"]})
            logger.warning("records not returned with a delay", extra={"codes": codes})
    return taken


def with_returns(
    response: PartialItemFailureResponse, outcomes: Iterable[tuple[str, Any, dict[str, Any]]]
) -> PartialItemFailureResponse:
    """The batch's answer to Lambda, with the records put back for later (a record handler's result
    True: applied, but some of their sends wait, and their visibility set already) among the failed
    items, so that Lambda does not delete them."""
    returned: list[PartialItemFailures] = [
        {"itemIdentifier": record["messageId"]}
        for status, later, record in outcomes
        if status == "success" and later
    ]
    return {"batchItemFailures": [*response["batchItemFailures"], *returned]}
