"""The HTTP side of a Meta webhook, the same for every channel: GET verification, signed POST deliveries.

Each `functions/<channel>_webhook/app.py` builds its resolver here, so the three webhook functions
share one implementation and differ only in the channel they serve.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from handoff.runtime.wiring import webhooks
from handoff.services.errors import SignatureInvalid, UnreadableDelivery, VerificationRefused

if TYPE_CHECKING:
    from handoff.config.models import Channel

SIGNATURE_HEADER = "x-hub-signature-256"  # API Gateway HTTP APIs lower-case header names


def webhook_path(channel: Channel) -> str:
    return f"/webhooks/{channel}"


def webhook_resolver(channel: Channel) -> APIGatewayHttpResolver:
    """`GET` and `POST /webhooks/{channel}`: Meta's handshake, and deliveries verified on the raw bytes."""
    app = APIGatewayHttpResolver()
    path = webhook_path(channel)

    @app.get(path)
    def verify() -> Response[str]:
        return _text(200, webhooks().handshake(app.current_event.query_string_parameters or {}))

    @app.post(path)
    def deliver() -> Response[str]:
        event = app.current_event
        raw = _raw_body(event.body, base64_encoded=bool(event.is_base64_encoded))
        webhooks().delivery(channel, raw, event.headers.get(SIGNATURE_HEADER))
        return _text(200, "EVENT_RECEIVED")

    @app.exception_handler(VerificationRefused)
    def _refused(error: VerificationRefused) -> Response[str]:
        return _text(403, str(error))

    @app.exception_handler(SignatureInvalid)
    def _unsigned(error: SignatureInvalid) -> Response[str]:
        return _text(401, str(error))

    @app.exception_handler(UnreadableDelivery)
    def _unreadable(error: UnreadableDelivery) -> Response[str]:
        return _text(400, str(error))

    return app


def _raw_body(body: str | None, *, base64_encoded: bool) -> bytes:
    """The bytes Meta signed: API Gateway passes a text body as is, a binary one base64-encoded."""
    if not body:
        return b""
    if base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise UnreadableDelivery("the body is not valid base64") from exc
    return body.encode()


def _text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type="text/plain", body=body)
