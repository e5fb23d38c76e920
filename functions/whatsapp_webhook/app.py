"""WhatsApp Cloud API webhook: Meta's GET verification and signed POST deliveries."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.observability import logger, metrics, tracer
from handoff.webhooks import WebhookResponse
from handoff.wiring import webhooks

app = APIGatewayHttpResolver()


@app.get("/webhooks/whatsapp")
def verify() -> Response[str]:
    return _http(webhooks().handshake(app.current_event.query_string_parameters or {}))


@app.post("/webhooks/whatsapp")
def deliver() -> Response[str]:
    event = app.current_event
    raw = event.decoded_body.encode() if event.is_base64_encoded else (event.body or "").encode()
    return _http(webhooks().delivery("whatsapp", raw, event.headers.get("x-hub-signature-256")))


def _http(response: WebhookResponse) -> Response[str]:
    return Response(status_code=response.status, content_type="text/plain", body=response.body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
