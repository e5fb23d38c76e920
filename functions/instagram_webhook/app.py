"""Instagram webhook: Meta's GET verification and signed POST deliveries (handoff.webhook_http)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.observability import logger, metrics
from handoff.webhook_http import webhook_resolver

app = webhook_resolver("instagram")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
