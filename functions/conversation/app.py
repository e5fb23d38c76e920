"""The FIFO consumer: applies each queued event to its conversation, in order per conversation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.adapters.lambda_events import QueuedEvent
from handoff.engine.model import Event
from handoff.observability import logger, metrics
from handoff.runtime.settings import settings
from handoff.runtime.wiring import conversations

# A failed record holds back its own conversation only; other conversations in the batch go on.
# The processor hands over plain records, parsed one by one in `record_handler`: given `model=`,
# Powertools 3.37 validates the records it skips behind a failed one too, outside its error
# handling, so a second bad body in a failed conversation would fail the whole batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# Meta redelivers for up to 7 days; FIFO dedupe covers only 5 minutes
idempotency = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=7 * 24 * 3600)
persistence = DynamoDBPersistenceLayer(table_name=settings().idempotency_table_name)


# the idempotency key is this function's module and name with the event's id: keep both
@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=idempotency)
def apply(event: Event, last_try: bool = True) -> dict[str, Any]:
    stored = conversations().apply(event, last_try=last_try)
    return {"state": stored.state if stored else None}


def record_handler(record: SQSRecord) -> None:
    # a body that is not an event fails its record only (ValidationError)
    queued = parse(record.raw_event, model=QueuedEvent)
    apply(event=queued.body, last_try=queued.receive_count >= settings().bot_attempts)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
