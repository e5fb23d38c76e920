"""The FIFO consumer: applies each queued event to its conversation, in order per conversation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.observability import logger, metrics
from handoff.runtime.wiring import queued_events

# A failed record holds back its own conversation only; other conversations in the batch go on.
# The processor hands over plain records, parsed one by one in `record_handler`: given `model=`,
# Powertools 3.37 validates the records it skips behind a failed one too, outside its error
# handling, so a second bad body in a failed conversation would fail the whole batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> bool:
    """Apply one queued event; True when its record is put back for later, because some of what it
    owes had to wait (Lambda must not delete it). Applying it again changes nothing, so a
    redelivery needs no record of its own here: a channel message's marker (`APPLIED#`, 8 days) is
    written in its step's own transaction, and every other event is recognised by the
    conversation's recent event ids or is a check whose answer does not change (docs/data-model.md,
    "Duplicates")."""
    # the queue's record model (every engine event) is loaded with the first record, as the
    # services that apply it are (runtime.wiring)
    from handoff.adapters.inbound_queue import QueuedEvent

    # a body that is not an event fails its record only (ValidationError)
    queued = parse(record.raw_event, model=QueuedEvent)
    remaining = timedelta(milliseconds=lambda_context.get_remaining_time_in_millis())
    return queued_events().apply(
        queued.body,
        receipt_handle=record.receipt_handle,
        receive_count=queued.receive_count,
        remaining=remaining,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    from handoff.adapters.inbound_queue import with_returns

    with processor(records=event["Records"], handler=record_handler, lambda_context=context):
        outcomes = processor.process()
    return with_returns(processor.response(), outcomes)
