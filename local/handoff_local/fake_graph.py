"""A fake Graph API on loopback: records every request, answers like Meta, and fails on demand.

WhatsApp sends (`POST /{phone-number-id}/messages` with `messaging_product: whatsapp`) get
Meta's `{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}`; Messenger and
Instagram sends (`POST /me/messages` or `/{id}/messages` with a `recipient` object) get
`{"recipient_id", "message_id"}`. A leading version segment (`/v23.0/...`) is accepted and
ignored, so both `url` and `url + "/v23.0"` work as GRAPH_API_URL.

It also keeps users' files as Meta does: WhatsApp media (`add_media`: `GET /{media-id}` answers
Meta's metadata, whose `url` serves the bytes to a bearer of a token) and Messenger's and
Instagram's CDN links (`add_cdn_file`: served to anyone, as the CDN does). `forget_media` makes a
media id answer as one Meta no longer has. Both live on the fake's own origin, the only one besides
Meta's CDN the Graph client downloads from.

Failures come three ways: scripted (`fail_next`: the next requests, whatever they are), random
(`inject_faults`: a seeded share of the sends it would have accepted, answered like Meta's
failures, for `make chaos`), and a rate (`limit_rate`: past so many sends a second from one sending
account, 130429 as Meta answers past a number's throughput, for `make bench-scale`). Every answer is
kept in `answers`, with whether the message reached the user (the latest `history` of them only,
when given: `make local` runs for days).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

_VERSION = re.compile(r"^/v\d+(\.\d+)?(?=/)")
_MESSAGES = re.compile(r"^/(?P<sender>[^/]+)/messages$")
_MEDIA_ID = re.compile(r"^/(?P<media_id>\d+)$")
_MEDIA_DOWNLOAD = re.compile(r"^/media-download/(?P<media_id>\d+)$")
_CDN_FILE = re.compile(r"^/cdn/(?P<name>[^/]+)$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: `path` without the version segment nor the query string."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    json: Any
    query: dict[str, str] = field(default_factory=dict)
    raw_path: str = ""

    @property
    def channel(self) -> str:
        if isinstance(self.json, dict) and self.json.get("messaging_product") == "whatsapp":
            return "whatsapp"
        return "messenger"


@dataclass(frozen=True)
class RecordedAnswer:
    """What the fake did with one request: `accepted` when the message reached the user (a 200, or a
    `timeout` fault: taken, then left unanswered); `fault` names the injected fault, if any."""

    request: RecordedRequest
    status: int | None  # None: the connection was closed without an answer
    accepted: bool
    fault: str | None = None


RATE_LIMITED = "rate_limited"
"""The `fault` of an answer refused by `limit_rate`: a send past its account's rate."""

FAULT_KINDS = ("server_error", "throttled_429", "throttled_400", "timeout", "refused")
"""The random faults, in `Faults`' order: what Meta answers, and what the Graph client makes of it."""


@dataclass(frozen=True)
class Faults:
    """Shares (0 to 1) of the sends the fake would accept that get a fault instead, drawn with a
    random generator seeded by `seed` (the same requests in the same order draw the same faults).

    - `server_error`: HTTP 500 with code 2, retryable.
    - `throttled_429`, `throttled_400`: code 130429 (Cloud API throughput reached) with HTTP 429,
      and with HTTP 400 as Meta mostly sends it; retryable.
    - `timeout`: the message is accepted (it reaches the user) but no answer comes back: the
      connection is closed without a response, which the client sees as it sees a read timeout
      (no answer, `maybe_sent`), without waiting its timeout out.
    - `refused`: HTTP 400 with code 100, a permanent refusal.
    """

    server_error: float = 0.0
    throttled_429: float = 0.0
    throttled_400: float = 0.0
    timeout: float = 0.0
    refused: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        shares = [getattr(self, kind) for kind in FAULT_KINDS]
        if any(share < 0 for share in shares) or sum(shares) > 1:
            raise ValueError("fault shares must be at least 0 and add up to at most 1")


@dataclass(frozen=True)
class FileAnswer:
    """A file the fake answers (not JSON): its bytes and the Content-Type it says."""

    content: bytes
    content_type: str


@dataclass(frozen=True)
class _MediaFile:
    content: bytes
    mime_type: str
    file_size: int  # what the metadata declares (a test may make it differ from the bytes)


@dataclass(frozen=True)
class _ScriptedFailure:
    status: int
    body: Any


class FakeGraphApi:
    """`with FakeGraphApi() as graph:` serves on `graph.url` (127.0.0.1 only) until the block ends.

    `history`: how many of the latest requests and answers to keep (None: all of them).
    """

    def __init__(
        self,
        port: int = 0,
        printer: Callable[[RecordedRequest], None] | None = None,
        *,
        history: int | None = None,
    ) -> None:
        self._requested_port = port
        self.printer = printer
        self._lock = threading.Lock()
        self._requests: deque[RecordedRequest] = deque(maxlen=history)
        self._answers: deque[RecordedAnswer] = deque(maxlen=history)
        self._failures: deque[_ScriptedFailure] = deque()
        self._faults: Faults | None = None
        self._rate: float | None = None  # sends a second per sending account, over a sliding second
        self._accepted_at: dict[str, deque[float]] = {}  # sending account -> when its last sends came
        self._random = random.Random(0)
        self._ids = itertools.count(1)
        self._media: dict[str, _MediaFile] = {}
        self._cdn: dict[str, FileAnswer] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeGraphApi:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-graph-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake Graph API is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what the tests look at and script ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def answers(self) -> list[RecordedAnswer]:
        """Every request with what the fake did with it, in the order they came."""
        with self._lock:
            return list(self._answers)

    def clear(self) -> None:
        """Forget the recorded requests and any failures still scripted."""
        with self._lock:
            self._requests.clear()
            self._answers.clear()
            self._failures.clear()

    def inject_faults(self, faults: Faults | None) -> None:
        """From now on answer a random share of sends with faults (None: no more faults)."""
        with self._lock:
            self._faults = faults
            if faults is not None:
                self._random = random.Random(faults.seed)

    def faults_injected(self) -> Counter[str]:
        """How many of each random fault (`FAULT_KINDS`) were injected so far."""
        with self._lock:
            return Counter(a.fault for a in self._answers if a.fault is not None)

    def limit_rate(self, per_second: int | None) -> None:
        """From now on, refuse a send when its sending account (the phone number, or the token for
        Messenger's and Instagram's `me`) already had `per_second` sends accepted within the last
        second, as Meta does past a number's throughput: HTTP 400, code 130429 (None: no limit).
        A refused send does not count."""
        with self._lock:
            self._rate = per_second
            self._accepted_at.clear()

    def rate_limited(self) -> int:
        """How many sends `limit_rate` refused so far."""
        with self._lock:
            return sum(a.fault == RATE_LIMITED for a in self._answers)

    def fail_next(self, status: int, error_body: Any = None, times: int = 1) -> None:
        """Answer the next `times` requests with `status` and `error_body` (JSON; None: an empty body)."""
        with self._lock:
            self._failures.extend(_ScriptedFailure(status, error_body) for _ in range(times))

    def add_media(
        self, content: bytes, mime_type: str, *, declared_size: int | None = None, media_id: str | None = None
    ) -> str:
        """Keep a file a WhatsApp user sent; returns its media id, for the webhook's `{type}.id`."""
        with self._lock:
            media_id = media_id or f"9{next(self._ids):014d}"
            size = len(content) if declared_size is None else declared_size
            self._media[media_id] = _MediaFile(content, mime_type, size)
        return media_id

    def forget_media(self, media_id: str) -> None:
        """From now on answer for `media_id` as Meta does for a media it no longer has."""
        with self._lock:
            self._media.pop(media_id, None)

    def add_cdn_file(self, content: bytes, content_type: str) -> str:
        """Keep a file a Messenger or Instagram user sent; returns its CDN link (`payload.url`)."""
        with self._lock:
            name = f"{next(self._ids):012d}"
            self._cdn[name] = FileAnswer(content, content_type)
        return f"{self.url}/cdn/{name}?oh=fake-signature"

    # --- serving --------------------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int | None, Any]:
        """The status and body to answer; a None status: close the connection without an answer."""
        with self._lock:
            self._requests.append(request)
            failure = self._failures.popleft() if self._failures else None
            if failure is not None:
                self._answers.append(RecordedAnswer(request, failure.status, accepted=False))
                return failure.status, failure.body
            answered: tuple[int | None, Any] = self._answer(request)
            fault = self._draw_fault() if answered[0] == 200 and _is_send(request) else None
            if fault is not None:
                answered = _fault_answer(fault)
            elif answered[0] == 200 and _is_send(request) and self._past_the_rate(request):
                fault = RATE_LIMITED
                answered = 400, _graph_error(130429, "(#130429) Rate limit hit", "OAuthException")
            accepted = answered[0] == 200 or fault == "timeout"
            if accepted and self._rate is not None:
                self._accepted_at.setdefault(_sender(request), deque()).append(time.monotonic())
            self._answers.append(RecordedAnswer(request, answered[0], accepted=accepted, fault=fault))
        if accepted and self.printer is not None and request.method == "POST":  # sends only
            self.printer(request)
        return answered

    def _past_the_rate(self, request: RecordedRequest) -> bool:
        """Whether the request's sending account had its rate's worth of sends in the last second
        (called under the lock)."""
        if self._rate is None:
            return False
        recent = self._accepted_at.setdefault(_sender(request), deque())
        now = time.monotonic()
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        return len(recent) >= self._rate

    def _draw_fault(self) -> str | None:
        """A fault kind for the next send, or None (called under the lock)."""
        if self._faults is None:
            return None
        draw = self._random.random()
        for kind in FAULT_KINDS:
            share = float(getattr(self._faults, kind))
            if draw < share:
                return kind
            draw -= share
        return None

    def _answer(self, request: RecordedRequest) -> tuple[int, Any]:
        if request.method == "GET":
            return self._files(request)
        if request.method != "POST":
            return 400, _graph_error(100, "Unsupported get request.", "GraphMethodException")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token and not request.query.get("access_token"):
            return 401, _graph_error(190, "An active access token must be used.", "OAuthException")
        match = _MESSAGES.match(request.path)
        if match is None:
            return 400, _graph_error(100, f"Unknown path components: {request.path}", "OAuthException")
        body = request.json
        if not isinstance(body, dict):
            return 400, _graph_error(100, "The request body is not a JSON object.", "OAuthException")
        n = next(self._ids)
        if body.get("messaging_product") == "whatsapp" and match["sender"] != "me":
            if body.get("status") == "read":
                return 200, {"success": True}
            return 200, _whatsapp_accepted(body, n)
        recipient = body.get("recipient")
        if isinstance(recipient, dict) and recipient.get("id"):
            return 200, {"recipient_id": str(recipient["id"]), "message_id": f"m_FAKE{n:012d}"}
        return 400, _graph_error(100, "(#100) The parameter recipient is required", "OAuthException")

    def _files(self, request: RecordedRequest) -> tuple[int, Any]:
        """A WhatsApp media's metadata or bytes (a token needed), or a CDN file (none needed)."""
        if (cdn := _CDN_FILE.match(request.path)) is not None:
            found = self._cdn.get(cdn["name"])
            return (200, found) if found is not None else (404, None)
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return 401, _graph_error(190, "An active access token must be used.", "OAuthException")
        if (download := _MEDIA_DOWNLOAD.match(request.path)) is not None:
            media = self._media.get(download["media_id"])
            return (200, FileAnswer(media.content, media.mime_type)) if media is not None else (404, None)
        if (metadata := _MEDIA_ID.match(request.path)) is not None:
            media_id = metadata["media_id"]
            media = self._media.get(media_id)
            if media is None:
                message = (
                    f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation."
                )
                error = _graph_error(100, message, "GraphMethodException")
                error["error"]["error_subcode"] = 33
                return 400, error
            return 200, {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/media-download/{media_id}?ext=1&hash=fake",
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.content).hexdigest(),
                "file_size": str(media.file_size),
                "id": media_id,
            }
        return 400, _graph_error(100, "Unsupported get request.", "GraphMethodException")


def _fault_answer(kind: str) -> tuple[int | None, Any]:
    """What Meta answers for a fault of `kind` (`FAULT_KINDS`); a None status: no answer at all."""
    if kind == "server_error":
        error = _graph_error(
            2, "An unexpected error has occurred. Please retry your request later.", "OAuthException"
        )
        return 500, {"error": {**error["error"], "is_transient": True}}
    if kind in ("throttled_429", "throttled_400"):
        error = _graph_error(130429, "(#130429) Rate limit hit", "OAuthException")
        return (429 if kind == "throttled_429" else 400), error
    if kind == "timeout":
        return None, None
    return 400, _graph_error(100, "(#100) Invalid parameter", "OAuthException")


def _sender(request: RecordedRequest) -> str:
    """The sending account of a request: the phone number in WhatsApp's path; for Messenger's and
    Instagram's `me`, the access token (it names the page or account)."""
    match = _MESSAGES.match(request.path)
    sender = match["sender"] if match else request.path
    if sender == "me":
        return request.headers.get("authorization", "") or request.query.get("access_token", "")
    return sender


def _is_send(request: RecordedRequest) -> bool:
    """A message to a user (not a read receipt): what the random faults apply to."""
    body = request.json
    return isinstance(body, dict) and body.get("status") != "read" and request.method == "POST"


def _whatsapp_accepted(body: dict[str, Any], n: int) -> dict[str, Any]:
    to = body.get("to")
    if isinstance(to, str) and to:
        contact = {"input": to, "wa_id": to.lstrip("+")}
    else:
        contact = {"input": str(body.get("recipient", "")), "user_id": str(body.get("recipient", ""))}
    return {
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": f"wamid.FAKE{n:012d}"}],
    }


def _graph_error(code: int, message: str, error_type: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "code": code, "fbtrace_id": "AFakeTraceId"}}


def _handler_for(fake: FakeGraphApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeGraphApi/1"
        # the headers and the body go out in two writes: with Nagle's algorithm the body waits for
        # the client's delayed ACK of the headers, some 40 ms per request on loopback
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            request = RecordedRequest(
                method=self.command,
                path=_VERSION.sub("", split.path),
                headers={name.lower(): value for name, value in self.headers.items()},
                json=body,
                query={key: values[-1] for key, values in parse_qs(split.query).items()},
                raw_path=self.path,
            )
            status, answer = fake._handle(request)
            if status is None:  # taken, never answered: the client sees the connection close
                self.close_connection = True
                return
            content_type = "application/json"
            if isinstance(answer, FileAnswer):
                payload, content_type = answer.content, answer.content_type
            else:
                payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def describe(request: RecordedRequest) -> str:
    """One line saying what would reach the user, recipient masked: for the local run's printer."""
    body = request.json if isinstance(request.json, dict) else {}
    if request.channel == "whatsapp":
        who = _mask(str(body.get("to") or body.get("recipient") or "?"))
        kind = body.get("type")
        content = body.get(kind) if isinstance(kind, str) else None
        content = content if isinstance(content, dict) else {}
        if kind == "text":
            what = str(content.get("body", ""))
        elif kind == "interactive":
            inner = content.get("body")
            buttons = content.get("action", {}).get("buttons", [])
            titles = " | ".join(f"[{b.get('reply', {}).get('title', '')}]" for b in buttons)
            what = f"{inner.get('text', '') if isinstance(inner, dict) else ''} {titles}".strip()
        elif kind == "template":
            params = [
                p.get("text", "")
                for c in content.get("components", [])
                for p in c.get("parameters", [])
                if isinstance(p, dict)
            ]
            what = f"template {content.get('name')} {params}" if params else f"template {content.get('name')}"
        else:
            what = f"({kind})"
        return f"WhatsApp → {who}: {what}"
    recipient = body.get("recipient")
    who = _mask(str(recipient.get("id", "?")) if isinstance(recipient, dict) else "?")
    message = body.get("message")
    message = message if isinstance(message, dict) else {}
    replies = " | ".join(f"[{q.get('title', '')}]" for q in message.get("quick_replies", []))
    what = f"{message.get('text', '')} {replies}".strip() or str(body.get("sender_action", ""))
    if body.get("messaging_type") == "MESSAGE_TAG":
        what = f"{what}  (tag {body.get('tag')})"
    return f"Messenger/Instagram → {who}: {what}"


def _mask(identifier: str) -> str:
    return f"…{identifier[-4:]}" if len(identifier) > 4 else identifier


def whatsapp_sent_to(requests: list[RecordedRequest], phone: str) -> list[dict[str, Any]]:
    """The WhatsApp message bodies sent to `phone` (digits, no `+`), oldest first."""
    return [r.json for r in requests if isinstance(r.json, dict) and r.json.get("to") == f"+{phone}"]


def meta_platform_sent_to(requests: list[RecordedRequest], scoped_id: str) -> list[dict[str, Any]]:
    """The Messenger/Instagram Send API bodies sent to a PSID or IGSID, oldest first."""
    return [
        r.json
        for r in requests
        if isinstance(r.json, dict)
        and isinstance(r.json.get("recipient"), dict)
        and r.json["recipient"].get("id") == scoped_id
    ]


def shown_text(body: dict[str, Any]) -> str:
    """What the user reads of a message body: its text, its question, or the template's name
    (WhatsApp, Messenger and Instagram bodies alike)."""
    message = body.get("message")
    if isinstance(message, dict):
        return str(message.get("text", ""))
    kind = body.get("type")
    if kind == "text":
        return str(body["text"]["body"])
    if kind == "interactive":
        return str(body["interactive"]["body"]["text"])
    if kind == "template":
        return f"template:{body['template']['name']}"
    return f"({kind})"
