"""WhatsApp Cloud API webhook: Meta's GET verification and signed POST deliveries (handoff.api.webhook)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.api.webhook import webhook_resolver
from handoff.observability import logger, metrics

app = webhook_resolver("whatsapp")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
