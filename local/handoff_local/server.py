"""`make local`: the HTTP API on 127.0.0.1, served by the embedded run, its queue and schedule running.

Every route of template.yaml goes through `LocalRun.http` (routing and the JWT authorizer as the
HTTP API does them); a thread drains the FIFO queue continuously and another runs the minute
schedule every 60 s of real time. Routes under `/_local/` exist only here, for scripts and tests:
drain the queue, run the schedule now, move the clock, check health, issue an agent's token, keep
a file at the fake Graph API as if a user had sent it.
`/console/` serves the agents' console (the static files in `console/`) from the same origin. The push
channel's WebSocket API (`handoff_local.sockets`) listens on a port of its own, which Live's tickets name.

Environment: PORT (3000), HANDOFF_CONFIG (examples/config.yaml), GRAPH_API_URL (unset: the
built-in fake Graph API, which prints what would reach each user), LOG_LEVEL (WARNING, the
handlers' Powertools logs), EXAMPLE_BOT (unset: off; 1 also serves the example bot in Rasa's REST
format, examples/rasa_bot.py, on 127.0.0.1:EXAMPLE_BOT_PORT, 5005, for a config whose bot is
`kind: http`, e.g. examples/config.http-bot.yaml), PUSH_PORT (0: a free port; where the push
channel's WebSocket API listens).
"""

from __future__ import annotations

import base64
import binascii
import errno
import functools
import importlib.util
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from handoff_local.fake_graph import RecordedRequest, describe
from handoff_local.runtime import LocalRun
from handoff_tools import tokens
from handoff_tools.functions import ROOT

if TYPE_CHECKING:
    from handoff.config.models import TenantConfig

HOST = "127.0.0.1"  # loopback only: the local run has fake secrets and no real authentication
DEFAULT_PORT = 3000
DEFAULT_CONFIG = ROOT / "examples" / "config.yaml"
MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's cap on a webhook payload
DISCARD_LIMIT_BYTES = 32 * 1024 * 1024  # an oversized body up to this is read and dropped, so the 413 arrives
DRAIN_INTERVAL_SECONDS = 0.15
IDLE_DRAIN_INTERVAL_SECONDS = 1.0  # after IDLE_AFTER_SECONDS without events or requests
IDLE_AFTER_SECONDS = 10.0
SCHEDULE_INTERVAL_SECONDS = 60.0
HISTORY = 1000  # bus events and fake Graph API requests the run keeps (nothing reads them here)
LOCAL_PREFIX = "/_local/"
CONSOLE_PREFIX = "/console/"
CONSOLE_DIR = ROOT / "console"
CONSOLE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
MAX_ADVANCE_SECONDS = 10 * 366 * 86400  # far enough for any story, and clear of datetime's limits
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EXAMPLE_BOT_FILE = ROOT / "examples" / "rasa_bot.py"
DEFAULT_EXAMPLE_BOT_PORT = 5005  # Rasa's own port, and examples/config.http-bot.yaml's bot url
SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("", "0", "false", "no", "off")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

log = logging.getLogger("handoff_local.server")


class HttpError(Exception):
    """A request the local server refuses: answered with `status` and `{"message": ...}`."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Settings:
    port: int
    config_path: Path
    graph_api_url: str | None
    log_level: str
    example_bot_port: int | None = None  # None: the example bot is not started
    push_port: int = 0  # the push channel's WebSocket API (0: a free port)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        port = _port(environ, "PORT", DEFAULT_PORT)
        switch = environ.get("EXAMPLE_BOT", "").strip().lower()
        if switch not in SWITCH_ON + SWITCH_OFF:
            raise ValueError(f"EXAMPLE_BOT must be 1 (serve the example bot) or 0, not {switch!r}")
        on = switch in SWITCH_ON
        example_bot_port = _port(environ, "EXAMPLE_BOT_PORT", DEFAULT_EXAMPLE_BOT_PORT) if on else None
        log_level = environ.get("LOG_LEVEL", "").strip().upper() or "WARNING"
        if log_level not in LOG_LEVELS:
            raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        config = environ.get("HANDOFF_CONFIG", "").strip()
        return cls(
            port=port,
            config_path=Path(config) if config else DEFAULT_CONFIG,
            graph_api_url=environ.get("GRAPH_API_URL", "").strip().rstrip("/") or None,
            log_level=log_level,
            example_bot_port=example_bot_port,
            push_port=_port(environ, "PUSH_PORT", 0),
        )


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ValueError(f"{name} must be a port number (0-65535), not {raw!r}")
    return int(raw)


# --- the parts AWS runs on its own: the SQS event source and the minute schedule ---------------------


class Background:
    """The queue consumer and the schedule, each on its own thread, until `stop`."""

    def __init__(self, run: LocalRun) -> None:
        self.run = run
        self._stopping = threading.Event()
        self._kicked = threading.Event()
        self._threads = [
            threading.Thread(target=self._consume, name="queue-consumer", daemon=True),
            threading.Thread(target=self._schedule, name="schedule", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def kick(self) -> None:
        """Something may have been queued: drain now rather than at the next poll."""
        self._kicked.set()

    def stop(self) -> None:
        self._stopping.set()
        self._kicked.set()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=10)

    def _consume(self) -> None:
        # everything that queues events is an HTTP request (which kicks) or the schedule (which
        # drains itself), so an idle consumer can poll slowly without delaying anything
        last_activity = time.monotonic()
        while not self._stopping.is_set():
            self._kicked.clear()
            try:
                if self.run.drain():
                    last_activity = time.monotonic()
            except Exception:
                log.exception("the queue consumer failed; it goes on polling")
            idle = time.monotonic() - last_activity > IDLE_AFTER_SECONDS
            if self._kicked.wait(IDLE_DRAIN_INTERVAL_SECONDS if idle else DRAIN_INTERVAL_SECONDS):
                last_activity = time.monotonic()

    def _schedule(self) -> None:
        while not self._stopping.wait(SCHEDULE_INTERVAL_SECONDS):
            try:
                summary = self.run.tick()
            except Exception:
                log.exception("the scheduled wake pass failed")
                continue
            if summary.get("to_wake") or summary.get("to_expire") or summary.get("outbox_sent"):
                log.info("schedule: %s", _compact(summary))


# --- the routes that exist only locally ---------------------------------------------------------------

LocalRoute = Callable[["LocalRoutes", bytes], tuple[int, Any]]


class LocalRoutes:
    """`/_local/...`: what a script or a test needs to drive the run without waiting for real time."""

    def __init__(self, run: LocalRun) -> None:
        self.run = run
        self.table: dict[str, dict[str, LocalRoute]] = {
            "/_local/health": {"GET": LocalRoutes.health},
            "/_local/drain": {"POST": LocalRoutes.drain},
            "/_local/tick": {"POST": LocalRoutes.tick},
            "/_local/clock": {"GET": LocalRoutes.get_clock, "POST": LocalRoutes.advance_clock},
            "/_local/token": {"POST": LocalRoutes.token},
            "/_local/push": {"GET": LocalRoutes.push_status, "POST": LocalRoutes.push_control},
            "/_local/media": {"POST": LocalRoutes.media},
        }

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        methods = self.table.get(path.rstrip("/"))
        if methods is None:
            raise HttpError(404, f"no local route {path}; there are: {', '.join(sorted(self.table))}")
        route = methods.get("GET" if method == "HEAD" else method)
        if route is None:
            allowed = ", ".join(methods)
            raise HttpError(405, f"{path} answers {allowed}", {"Allow": allowed})
        return route(self, body)

    def health(self, body: bytes) -> tuple[int, Any]:
        return 200, {"status": "ok"}  # requests are served only once the run has started

    def drain(self, body: bytes) -> tuple[int, Any]:
        processed = self.run.drain()
        return 200, {
            "processed": processed,
            "pending_outbox": self.run.pending_outbox(),
            "dead_letters": self.run.dead_letters(),
        }

    def tick(self, body: bytes) -> tuple[int, Any]:
        return 200, self.run.tick()

    def get_clock(self, body: bytes) -> tuple[int, Any]:
        return 200, {"now": _now().isoformat()}

    def advance_clock(self, body: bytes) -> tuple[int, Any]:
        request = _json_object(body, '{"advance_seconds": N}')
        seconds = request.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
            raise HttpError(
                400,
                f'"advance_seconds" must be a number of seconds >= 0 (the clock only moves forward),'
                f" not {seconds!r}",
            )
        if seconds > MAX_ADVANCE_SECONDS:
            raise HttpError(400, f'"advance_seconds" is at most {MAX_ADVANCE_SECONDS} (ten years) at a time')
        self.run.advance(float(seconds))
        return 200, {"now": _now().isoformat()}

    def token(self, body: bytes) -> tuple[int, Any]:
        request = _json_object(body, '{"tenant_id": "acme", "agent_id": "agent-1"}')
        values = {name: request.get(name) for name in ("tenant_id", "agent_id")}
        wrong = [name for name, value in values.items() if not isinstance(value, str) or not value.strip()]
        if wrong:
            raise HttpError(400, f"{' and '.join(wrong)} must be non-empty strings")
        seats = request.get("seats")
        if seats is not None and (
            not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= 100
        ):
            raise HttpError(400, '"seats" must be a whole number from 1 to 100')
        name = request.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise HttpError(400, '"name" must be a non-empty string (the agent\'s display name)')
        tenant_id, agent_id = str(values["tenant_id"]), str(values["agent_id"])
        return 200, {"token": tokens.issue(tenant_id, agent_id, seats=seats, name=name)}

    def media(self, body: bytes) -> tuple[int, Any]:
        """Keep a file at the fake Graph API as if a user had sent it: its WhatsApp media id and its
        Messenger/Instagram CDN link, to put in a delivery."""
        request = _json_object(body, '{"mime_type": "image/png", "content_base64": "iVBORw0KGgo..."}')
        if self.run.graph is None:
            raise HttpError(
                409, "this run sends to GRAPH_API_URL, not to the built-in fake: files are kept there"
            )
        mime_type, encoded = request.get("mime_type"), request.get("content_base64")
        if not isinstance(mime_type, str) or not mime_type.strip() or not isinstance(encoded, str):
            raise HttpError(400, '"mime_type" and "content_base64" must be strings')
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HttpError(400, f'"content_base64" is not base64 ({exc})') from exc
        graph = self.run.graph
        return 200, {
            "media_id": graph.add_media(content, mime_type),
            "cdn_url": graph.add_cdn_file(content, mime_type),
        }

    def push_status(self, body: bytes) -> tuple[int, Any]:
        sockets = self.run.sockets
        assert sockets is not None
        return 200, {"url": sockets.url, "sockets": sockets.count(), "opened": sockets.opened,
                     "accepting": sockets.accepting}  # fmt: skip

    def push_control(self, body: bytes) -> tuple[int, Any]:
        """`{"close": true}` closes every socket from the server's side; `{"accepting": false}` answers
        new ones 503 (an outage) until `{"accepting": true}`."""
        request = _json_object(body, '{"close": true, "accepting": false}')
        unknown = set(request) - {"close", "accepting"}
        wrong = [name for name in ("close", "accepting") if not isinstance(request.get(name, False), bool)]
        if unknown or wrong or not request:
            raise HttpError(400, 'send {"close": true|false, "accepting": true|false} (either or both)')
        sockets = self.run.sockets
        assert sockets is not None
        if "accepting" in request:
            sockets.accepting = request["accepting"]
        closed = sockets.close_all() if request.get("close") else 0
        status = self.push_status(b"")[1]
        return 200, {**status, "closed": closed}


def console_file(path: str) -> tuple[bytes, str]:
    """The console's file for `/console/<name>`: only files directly in `console/`, of known types."""
    name = path.removeprefix(CONSOLE_PREFIX) or "index.html"
    candidate = CONSOLE_DIR / name
    content_type = CONSOLE_TYPES.get(candidate.suffix)
    if "/" in name or name.startswith(".") or content_type is None or not candidate.is_file():
        raise HttpError(404, f"no console file {path}")
    return candidate.read_bytes(), content_type


def _now() -> datetime:
    from handoff import clock

    return clock.now()


def _json_object(body: bytes, example: str) -> dict[str, Any]:
    try:
        value = json.loads(body) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"the body is not valid JSON ({exc}); send e.g. {example}") from exc
    if not isinstance(value, dict):
        raise HttpError(400, f"send a JSON object, e.g. {example}")
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), default=str)


# --- HTTP -----------------------------------------------------------------------------------------


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, run: LocalRun, background: Background, local_routes: LocalRoutes) -> None:
        super().__init__((HOST, port), RequestHandler)
        self.run = run
        self.background = background
        self.local_routes = local_routes

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class RequestHandler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"
    server_version = "async-handoff-local/1"
    # the headers and the body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers, some 40 ms per request on loopback
    disable_nagle_algorithm = True
    timeout = 60  # a client that stops sending mid-request frees its thread

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def __getattr__(self, name: str) -> Any:
        # any other method (TRACE, QUERY, ...) matches no route: a 404 as the HTTP API gives, not a 501
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.perf_counter()
        self._responded = False
        split = urlsplit(self.path)
        path = split.path or "/"
        status = 500
        try:
            status = self._dispatch(path, split.query)
        except HttpError as error:
            status = self._send_json(error.status, {"message": error.message}, error.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            status = 499  # the client went away; nothing to answer
        except Exception as exc:
            log.exception("%s %s failed", self.command, path)
            if self._responded:
                self.close_connection = True
            else:
                message = (
                    f"internal error: {type(exc).__name__}: {exc} (the traceback is in the server's log)"
                )
                status = self._send_json(500, {"message": message})
        finally:
            # the path only: a query string may carry a secret (hub.verify_token)
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.0f ms", self.command, path, status, elapsed)

    def _dispatch(self, path: str, query: str) -> int:
        body = self._read_body()
        if path.startswith(LOCAL_PREFIX) or path == LOCAL_PREFIX.rstrip("/"):
            status, payload = self.server.local_routes.handle(self.command, path, body)
            return self._send_json(status, payload)
        if path == CONSOLE_PREFIX.rstrip("/"):
            return self._send(301, b"", {"Location": CONSOLE_PREFIX})
        if path.startswith(CONSOLE_PREFIX):
            if self.command not in ("GET", "HEAD"):
                raise HttpError(405, "the console's files answer GET", {"Allow": "GET, HEAD"})
            content, content_type = console_file(path)
            return self._send(200, content, {"Content-Type": content_type, "Cache-Control": "no-cache"})
        try:
            body.decode("utf-8")  # what is passed on is `body` itself, unchanged
        except UnicodeDecodeError as exc:
            raise HttpError(
                400, "the body is not UTF-8 text; the local run passes bodies on as text"
            ) from exc
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        result = self.server.run.http(
            self.command, path, body=body or None, headers=headers, query=parameters
        )
        self.server.background.kick()  # the request may have queued events
        response_headers = {
            name: value
            for name, value in result.headers.items()
            if name.lower() not in ("content-length", "connection", "transfer-encoding")
        }
        if not any(name.lower() == "content-type" for name in response_headers):
            response_headers["Content-Type"] = "application/json"
        return self._send(result.status, result.content, response_headers)

    def _read_body(self) -> bytes:
        """Exactly Content-Length bytes, unchanged: the webhook's signature is over these bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise HttpError(411, "send the body with a Content-Length (chunked bodies are not supported)")
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise HttpError(400, f"Content-Length is not a byte count: {declared!r}")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._discard(length)
            raise HttpError(
                413, f"the body is {length} bytes; Meta's payloads are at most 3 MB ({MAX_BODY_BYTES} bytes)"
            )
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise HttpError(400, f"the body ended after {len(body)} of {length} bytes (Content-Length)")
        return body

    def _discard(self, length: int) -> None:
        """Read an oversized body away, so the client sees the 413 rather than a reset connection."""
        if length > DISCARD_LIMIT_BYTES:
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 64 * 1024))
            if not chunk:
                return
            remaining -= len(chunk)

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> int:
        body = json.dumps(payload, default=str).encode()
        return self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> int:
        self._responded = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # `_serve` writes one line per request, with its duration

    def log_error(self, format: str, *args: Any) -> None:
        if not format.startswith("Request timed out"):  # an idle keep-alive connection closing
            super().log_error(format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("%s: %s", self.address_string(), format % args)


# --- the example bot (EXAMPLE_BOT=1) ---------------------------------------------------------------


@functools.cache
def example_bot() -> ModuleType:
    """examples/rasa_bot.py, loaded by its path (examples/ is no package)."""
    spec = importlib.util.spec_from_file_location("rasa_bot_example", EXAMPLE_BOT_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_example_bot(port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """The example bot on 127.0.0.1:`port` (0: a free one), served from a daemon thread: the server
    (stop it with `shutdown()` then `server_close()`) and the url a config's `bot.http.url` names."""
    module = example_bot()
    server, bound = module.start(port=port)
    return server, f"http://{HOST}:{bound}{module.PATH}"


def http_bot_urls(tenants: list[TenantConfig]) -> list[tuple[str, str]]:
    """(tenant id, url) of every bot of kind http in the config, a channel's own bot included."""
    found: list[tuple[str, str]] = []
    for tenant in tenants:
        for bot in (tenant.bot, *tenant.channel_bots.values()):
            if bot.kind == "http" and bot.http is not None and (tenant.tenant_id, bot.http.url) not in found:
                found.append((tenant.tenant_id, bot.http.url))
    return found


def same_place(url: str, other: str) -> bool:
    """Whether two urls name the same loopback port and path (localhost and 127.0.0.1 alike)."""
    a, b = urlsplit(url), urlsplit(other)
    loopback = a.hostname in LOOPBACK_HOSTS and b.hostname in LOOPBACK_HOSTS
    return (loopback or a.hostname == b.hostname) and (a.port, a.path) == (b.port, b.path)


def unreachable_loopback_bot(url: str) -> bool:
    """A bot on this machine that refuses connections: nothing listens at its port."""
    split = urlsplit(url)
    if split.hostname not in LOOPBACK_HOSTS:
        return False  # not ours to check: a remote bot may be reachable from Lambda only
    port = split.port or (443 if split.scheme == "https" else 80)
    try:
        with socket.create_connection((split.hostname, port), timeout=0.5):
            return False
    except OSError:
        return True


def bot_lines(tenants: list[TenantConfig], example_bot_url: str | None) -> list[str]:
    """The banner's lines on the tenants' own bots over HTTP, and on the example bot when it runs."""
    lines: list[str] = []
    http_bots = http_bot_urls(tenants)
    for index, (tenant_id, url) in enumerate(http_bots):
        label = "bots" if index == 0 else ""
        lines.append(f"  {label:<11}{tenant_id}: its own bot over HTTP, POST {url}")
        if unreachable_loopback_bot(url):
            lines.append("             (nothing answers there: start the bot, or set EXAMPLE_BOT=1)")
    if example_bot_url is not None:
        lines.append(
            f"  {'example':<11}the example bot (examples/rasa_bot.py) answers POST {example_bot_url}"
        )
        if not any(same_place(url, example_bot_url) for _, url in http_bots):
            lines.append(
                "             (no tenant's bot is there: set a tenant's bot to kind http with this url)"
            )
    return lines


# --- the process --------------------------------------------------------------------------------------


def print_line(text: str = "") -> None:
    print(text, flush=True)


def what_reaches_the_user(request: RecordedRequest) -> None:
    body = request.json if isinstance(request.json, dict) else {}
    if body.get("status") == "read":
        return  # a read receipt: nothing the user reads
    print_line(f"  {describe(request)}")


def banner(
    server: LocalServer,
    run: LocalRun,
    settings: Settings,
    tenants: list[TenantConfig],
    example_bot_url: str | None = None,
) -> str:
    assert run.stack is not None
    url = server.url
    if settings.graph_api_url is None:
        outbound = (
            f"the built-in fake Graph API ({run.graph.url}); what would reach each user is printed below"
        )
    else:
        outbound = f"GRAPH_API_URL={settings.graph_api_url} (nothing is printed here)"
    token_body = '{"tenant_id": "acme", "agent_id": "agent-1"}'
    return "\n".join(
        [
            f"async-handoff, local run: {url}",
            f"  config     {settings.config_path} (tenants: {', '.join(t.tenant_id for t in tenants)})",
            *bot_lines(tenants, example_bot_url),
            f"  webhooks   {url}/webhooks/whatsapp, /webhooks/messenger, /webhooks/instagram",
            f"             (app secret {run.stack.app_secret!r}, verify token {run.stack.verify_token!r})",
            f"  Live API   {url}/live/conversations, /live/presence ...  (Authorization: Bearer <token>)",
            f"  console    {url}/console/ (the agents' console; sign in with any tenant and agent)",
            f"  push       {run.sockets.url if run.sockets else 'off'}"
            " (Live updates; tickets from POST /live/push-ticket)",
            f"  token      make token TENANT=acme AGENT=agent-1, or POST /_local/token {token_body}",
            f"  outbound   {outbound}",
            "  local      POST /_local/drain, POST /_local/tick, GET /_local/clock,",
            '             POST /_local/clock {"advance_seconds": N}, GET /_local/health, POST /_local/token,',
            '             GET /_local/push, POST /_local/push {"close": true, "accepting": false}',
            f"  the queue is drained continuously, the schedule runs every {SCHEDULE_INTERVAL_SECONDS:.0f} s;"
            " Ctrl-C stops",
        ]
    )


def serve(settings: Settings) -> int:
    from handoff_tools.config_file import ConfigError, load_config

    try:
        tenants = load_config(settings.config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            print("stopping anyway", file=sys.stderr, flush=True)
            os._exit(1)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    run = LocalRun(
        settings.config_path,
        graph_api_url=settings.graph_api_url,
        graph_printer=what_reaches_the_user,
        log_level=settings.log_level,
        history=HISTORY,
        push_port=settings.push_port,
    )
    background = Background(run)
    local_routes = LocalRoutes(run)
    try:  # bound first: a port in use fails before moto starts
        server = LocalServer(settings.port, run, background, local_routes)
    except OSError as exc:
        hint = "; set PORT to another one" if exc.errno == errno.EADDRINUSE else ""
        print(f"cannot listen on {HOST}:{settings.port}: {exc.strerror}{hint}", file=sys.stderr)
        return 1
    example: ThreadingHTTPServer | None = None
    example_url: str | None = None
    if settings.example_bot_port is not None:
        try:
            example, example_url = start_example_bot(settings.example_bot_port)
        except OSError as exc:
            server.server_close()
            hint = "; set EXAMPLE_BOT_PORT to another one" if exc.errno == errno.EADDRINUSE else ""
            print(
                f"cannot start the example bot on {HOST}:{settings.example_bot_port}: {exc.strerror}{hint}",
                file=sys.stderr,
            )
            return 1
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http")
    try:
        run.start()
        background.start()
        serving.start()
        print_line(banner(server, run, settings, tenants, example_url))
        stopping.wait()
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        if serving.is_alive():
            server.shutdown()
        server.server_close()
        background.stop()
        if example is not None:
            example.shutdown()
            example.server_close()
        with run.lock:  # after any invocation still running
            run.stop()
    return 0


def main() -> int:
    log.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        settings = Settings.from_environment(os.environ)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
