"""The FIFO consumer: applies each queued event to its conversation, in order per conversation."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.adapters.inbound_queue import decode
from handoff.observability import logger, metrics
from handoff.runtime.settings import settings
from handoff.runtime.wiring import conversations

# a failed record holds back its own conversation only; other conversations in the batch go on
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# Meta redelivers for up to 7 days; FIFO dedupe covers only 5 minutes
idempotency = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=7 * 24 * 3600)
persistence = DynamoDBPersistenceLayer(table_name=settings().idempotency_table_name)


@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=idempotency)
def apply(event: dict[str, Any]) -> dict[str, Any]:
    stored = conversations().apply(decode(event))
    return {"state": stored.state if stored else None}


def record_handler(record: SQSRecord) -> None:
    apply(event=json.loads(record.body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
