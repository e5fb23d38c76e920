"""A small Graph API client over urllib3 (already in the Lambda runtime, through botocore).

It makes one attempt per call and never sleeps: a failure is raised as `GraphError`, whose
`retryable` says whether the caller should try again, and the caller (the outbox flush, driven
by SQS redelivery and the sweep) owns when. A read timeout or a connection dropped after the
request went out is retryable but `maybe_sent`: Meta may have accepted it, so a retry can deliver
the message twice (at-least-once, as everywhere in the outbox).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from handoff.channels.base import GraphRequest
from handoff.channels.meta import is_outside_window, is_retryable, is_token_error
from handoff.observability import logger as log


@dataclass(frozen=True, slots=True)
class GraphResult:
    """An accepted send: the channel's id for the message (WhatsApp wamid, Messenger/IG mid)."""

    message_id: str | None
    http_status: int
    body: dict[str, Any] = field(default_factory=dict)


class GraphError(Exception):
    """A Graph API call that failed: a Graph error body, a bare HTTP failure, or no connection at all.

    `code`/`subcode` come from the body's `error` object (None when there was none); `http_status`
    is None when no response came back.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        error_type: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.error_type = error_type
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.maybe_sent = maybe_sent

    @property
    def retryable(self) -> bool:
        return is_retryable(self.code, self.http_status)

    @property
    def is_token_error(self) -> bool:
        """Refused because of the account's access token: all its sends fail until it is replaced."""
        return is_token_error(self.code, self.http_status)

    @property
    def outside_window(self) -> bool:
        """Refused because the user's messaging window is closed (WhatsApp 131047, Messenger/IG 10)."""
        return is_outside_window(self.code, self.subcode)

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code={self.code}" + (f"/{self.subcode}" if self.subcode is not None else ""))
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        parts.append("retryable" if self.retryable else "permanent")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"GraphError({self.message!r}, code={self.code!r}, subcode={self.subcode!r}, "
            f"http_status={self.http_status!r})"
        )


class GraphClient:
    """POSTs `GraphRequest`s to `{base_url}/{path}` with a Bearer token; one instance per process."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._pool = urllib3.PoolManager(
            retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
        )

    def url_for(self, request: GraphRequest) -> str:
        return f"{self.base_url}/{request.path.lstrip('/')}"

    def post(self, request: GraphRequest, access_token: str) -> GraphResult:
        """Send one request; return the accepted message's id, or raise `GraphError`."""
        payload = json.dumps(request.body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            response = self._pool.request(
                "POST", self.url_for(request), body=payload, headers=headers, retries=False
            )
        except (NewConnectionError, ConnectTimeoutError) as exc:
            raise self._connection_error(request, exc, maybe_sent=False) from exc
        except (ReadTimeoutError, ProtocolError) as exc:
            raise self._connection_error(request, exc, maybe_sent=True) from exc
        except HTTPError as exc:
            raise self._connection_error(request, exc, maybe_sent=False) from exc

        body = _json_object(response.data)
        if 200 <= response.status < 300:
            return GraphResult(message_id=_message_id(body), http_status=response.status, body=body)
        error = _graph_error(body, response.status)
        log.warning(
            "graph request failed",
            extra={
                "graph_path": request.path,
                "http_status": error.http_status,
                "graph_code": error.code,
                "graph_subcode": error.subcode,
                "retryable": error.retryable,
                "fbtrace_id": error.fbtrace_id,
            },
        )
        raise error

    @staticmethod
    def _connection_error(request: GraphRequest, exc: Exception, *, maybe_sent: bool) -> GraphError:
        log.warning(
            "graph request got no response",
            extra={"graph_path": request.path, "error": type(exc).__name__, "maybe_sent": maybe_sent},
        )
        return GraphError(f"no response from the Graph API ({type(exc).__name__})", maybe_sent=maybe_sent)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data) if data else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _message_id(body: dict[str, Any]) -> str | None:
    """WhatsApp answers `messages[0].id`; Messenger and Instagram answer `message_id`."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = _str(messages[0].get("id"))
        if wamid:
            return wamid
    return _str(body.get("message_id"))


def _graph_error(body: dict[str, Any], http_status: int) -> GraphError:
    error = body.get("error")
    if not isinstance(error, dict):
        return GraphError(f"HTTP {http_status} without a Graph error body", http_status=http_status)
    error_data = error.get("error_data")
    details = _str(error_data.get("details")) if isinstance(error_data, dict) else _str(error_data)
    return GraphError(
        _str(error.get("message")) or f"HTTP {http_status}",
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        http_status=http_status,
        error_type=_str(error.get("type")),
        details=details,
        fbtrace_id=_str(error.get("fbtrace_id")),
    )
