"""A small Graph API client over urllib3 (already in the Lambda runtime, through botocore).

It sends (`post`), reads a Graph object (`get`: WhatsApp's media metadata) and downloads a user's
file (`download`). It makes one attempt per call and never sleeps: a failure is raised as
`GraphError`, whose `retryable` says whether the caller should try again (`throttled`: because we
send too fast), and the caller (the outbox flush, driven by the record's return after a backoff and
by the sweep) owns when. A read timeout or a connection dropped after the request went out is
retryable but `maybe_sent`: Meta may have accepted it, so a retry can deliver the message twice
(at-least-once, as everywhere in the outbox).

A send takes at most `CONNECT_TIMEOUT` + `READ_TIMEOUT` seconds (`LONGEST_CALL`): the senders
start a send only when that much time is left in their invocation (`services/pacing.py`), and a
test holds it against the functions' timeouts in template.yaml.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from handoff.channels.base import GraphRequest
from handoff.channels.media import on_meta_cdn, same_origin
from handoff.channels.meta import (
    PAIR_RATE_LIMIT,
    is_outside_window,
    is_retryable,
    is_throttling,
    is_token_error,
)
from handoff.observability import logger as log

CONNECT_TIMEOUT = 2.0
"""Seconds to open a connection to the Graph API: a few round trips; longer means it is unreachable."""
READ_TIMEOUT = 4.0
"""Seconds to wait for Meta's answer once the request is out (Meta answers in well under a second)."""
LONGEST_CALL = timedelta(seconds=CONNECT_TIMEOUT + READ_TIMEOUT)
"""The longest one call may take (urllib3 applies the read timeout to each wait for data, within a
total of both; Meta answers in one piece)."""


@dataclass(frozen=True, slots=True)
class GraphResult:
    """An accepted send: the channel's id for the message (WhatsApp wamid, Messenger/IG mid)."""

    message_id: str | None
    http_status: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Download:
    """A file downloaded whole: its bytes and the type its server declared (None: none declared)."""

    content: bytes
    content_type: str | None


class NotMetaUrl(ValueError):
    """A URL the client will not request: neither on Meta's CDN nor on the Graph API's own origin."""


class FileTooLarge(Exception):
    """A download larger than its limit: `size` is the size declared, or the bytes read when it passed."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


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
    def throttled(self) -> bool:
        """Meta asked us to send more slowly (the account's or the user's rate): paced back, never refused."""
        return is_throttling(self.code, self.http_status)

    @property
    def pair_rate_limited(self) -> bool:
        """WhatsApp's limit on messages to this one user (131056): Meta asks to wait 4^X seconds."""
        return self.code == PAIR_RATE_LIMIT

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
        parts.append("throttled" if self.throttled else "retryable" if self.retryable else "permanent")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"GraphError({self.message!r}, code={self.code!r}, subcode={self.subcode!r}, "
            f"http_status={self.http_status!r})"
        )


class GraphClient:
    """POSTs `GraphRequest`s to `{base_url}/{path}` with a Bearer token; one instance per process."""

    def __init__(
        self, base_url: str, *, connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.longest_call = timedelta(seconds=connect_timeout + read_timeout)
        timeout = urllib3.Timeout(
            connect=connect_timeout, read=read_timeout, total=connect_timeout + read_timeout
        )
        self._pool = urllib3.PoolManager(retries=False, timeout=timeout)

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
                "throttled": error.throttled,
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

    def get(
        self,
        path: str,
        access_token: str,
        query: Mapping[str, str] | None = None,
        *,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """GET `{base_url}/{path}` (a Graph object, e.g. WhatsApp's media metadata); the JSON object
        Meta answered, or `GraphError`. `deadline` (`time.monotonic()`) bounds the whole request."""
        url = f"{self.base_url}/{path.lstrip('/')}" + (f"?{urlencode(query)}" if query else "")
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        try:
            response = self._pool.request(
                "GET", url, headers=headers, retries=False, redirect=False, timeout=self._until(deadline)
            )
        except HTTPError as exc:
            log.warning("graph read got no response", extra={"error": type(exc).__name__})
            raise GraphError(f"no response from the Graph API ({type(exc).__name__})") from exc
        body = _json_object(response.data)
        if 200 <= response.status < 300:
            return body
        error = _graph_error(body, response.status)
        log.warning(
            "graph read failed",
            extra={
                "http_status": error.http_status,
                "graph_code": error.code,
                "fbtrace_id": error.fbtrace_id,
            },
        )
        raise error

    def download(
        self, url: str, *, limit: int, access_token: str | None = None, deadline: float | None = None
    ) -> Download:
        """The file at `url`, whole, if it is at most `limit` bytes.

        Only a URL on Meta's CDN (`channels.media.on_meta_cdn`) or on the Graph API's own origin is
        requested (`NotMetaUrl` otherwise), and no redirect is followed: a link in a webhook cannot
        send the server, or the account's token, anywhere else. A size over `limit`, declared
        (`Content-Length`) or read, raises `FileTooLarge` before more is read; any answer but a 2XX,
        or none, raises `GraphError`, and so does a download not done by `deadline`
        (`time.monotonic()`; without one, the client's longest call from now).
        """
        if deadline is None:
            deadline = time.monotonic() + self.longest_call.total_seconds()
        if not (on_meta_cdn(url) or same_origin(url, self.base_url)):
            raise NotMetaUrl("not a URL of Meta's CDN nor of the Graph API")
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        host = urlsplit(url).hostname  # logged instead of the URL, whose signature opens the file
        try:
            response = self._pool.request(
                "GET",
                url,
                headers=headers,
                retries=False,
                redirect=False,
                preload_content=False,
                timeout=self._until(deadline),
            )
        except HTTPError as exc:
            log.warning("download got no response", extra={"host": host, "error": type(exc).__name__})
            raise GraphError(f"no response from Meta ({type(exc).__name__})") from exc
        try:
            if not 200 <= response.status < 300:
                error = _graph_error(_json_object(response.read(64 * 1024)), response.status)
                log.warning(
                    "download failed",
                    extra={"host": host, "http_status": error.http_status, "graph_code": error.code},
                )
                raise error
            declared = _int(response.headers.get("Content-Length"))
            if declared is not None and declared > limit:
                raise FileTooLarge(declared, limit)
            content = self._read_within(response, limit, host, deadline)
            return Download(content=content, content_type=_str(response.headers.get("Content-Type")))
        finally:
            response.release_conn()

    def _until(self, deadline: float | None) -> urllib3.Timeout:
        """The client's timeouts, each cut to what is left before `deadline`."""
        if deadline is None:
            return urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout)
        left = max(0.001, deadline - time.monotonic())
        return urllib3.Timeout(connect=min(self.connect_timeout, left), read=min(self.read_timeout, left))

    def _read_within(self, response: Any, limit: int, host: str | None, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            # read1: what has arrived, at most 64 KiB (stream() would wait for 64 KiB whatever the time)
            while chunk := response.read1(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(size, limit)
                if time.monotonic() > deadline:
                    raise GraphError("Meta sent the file too slowly")
                chunks.append(chunk)
        except HTTPError as exc:
            log.warning("download broke off", extra={"host": host, "error": type(exc).__name__})
            raise GraphError(f"the download from Meta broke off ({type(exc).__name__})") from exc
        return b"".join(chunks)


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
