"""HTTP for a user's file in Live: the bytes with safe headers, and Meta's refusals as 4XX answers.

A file is answered whole, base64-encoded in the Lambda answer (Powertools encodes a `bytes` body
and sets `isBase64Encoded`; the HTTP API decodes it for the client). Meta's refusals are never a
5XX: the API's 5XX alarm is for this stack's own failures, and a file Meta lost or will not give is
neither.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from handoff.api.refusals import ERRORS, refusal, refused
from handoff.services.media import (
    ALLOWED_TYPES,
    MEDIA_LIMIT,
    MediaFile,
    MediaGone,
    MediaLinkRefused,
    MediaRefused,
    MediaTooLarge,
    MediaTypeRefused,
    MetaUnavailable,
)

STATUS: dict[type[MediaRefused], int] = {
    MediaLinkRefused: 403,
    MediaGone: 410,
    MediaTooLarge: 413,
    MediaTypeRefused: 415,
    MetaUnavailable: 424,
}

MEDIA_ERRORS: dict[int, Any] = {
    **ERRORS,
    200: {
        "description": f"the file, of one of the allowed types, at most {MEDIA_LIMIT} bytes; "
        "`Content-Disposition` inline for images, audio and video, attachment (with a file name) "
        "for the rest; `X-Content-Type-Options: nosniff`, `Cache-Control: private, no-store`",
        "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in ALLOWED_TYPES},
    },
    403: refused("the token's caller may not do this, or the file's link is not on Meta's CDN (not fetched)"),
    404: refused("no such conversation in your tenant, or no file on that line"),
    410: refused("the file is no longer available at Meta (deleted, or its link expired)"),
    413: refused(f"the file is larger than {MEDIA_LIMIT} bytes"),
    415: refused("the file's type is not one Live answers"),
    424: refused("Meta refused or did not answer (the account's token refused, throttled, unavailable)"),
}


def answer_media_refusals(app: APIGatewayHttpResolver) -> None:
    """Each `MediaRefused` as its 4XX, with the reason for the agent."""

    @app.exception_handler(MediaRefused)
    def _media_refused(error: MediaRefused) -> Response[dict[str, str]]:
        return refusal(STATUS[type(error)], str(error))


def media_response(file: MediaFile) -> Response[bytes]:
    return Response(
        status_code=200,
        content_type=file.content_type,
        body=file.content,
        headers={
            "Content-Disposition": file.disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
