"""The FIFO consumer: applies each queued event to its conversation, in order per conversation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.adapters.lambda_events import QueuedEvent
from handoff.observability import logger, metrics
from handoff.runtime.settings import settings
from handoff.runtime.wiring import conversations

# A failed record holds back its own conversation only; other conversations in the batch go on.
# The processor hands over plain records, parsed one by one in `record_handler`: given `model=`,
# Powertools 3.37 validates the records it skips behind a failed one too, outside its error
# handling, so a second bad body in a failed conversation would fail the whole batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def record_handler(record: SQSRecord) -> None:
    """Apply one queued event. Applying it again changes nothing, so a redelivery needs no record of
    its own here: a channel message's marker (`APPLIED#`, 8 days) is written in its step's own
    transaction, and every other event is recognised by the conversation's recent event ids or is a
    check whose answer does not change (docs/data-model.md, "Duplicates")."""
    # a body that is not an event fails its record only (ValidationError)
    queued = parse(record.raw_event, model=QueuedEvent)
    conversations().apply(queued.body, last_try=queued.receive_count >= settings().bot_attempts)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
