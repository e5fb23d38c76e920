"""The push channel's WebSocket API, played on loopback as API Gateway runs it on AWS.

`LocalSockets` serves the template's WebSocket API (`aws.socket_api`) at `ws://127.0.0.1:<port>/<stage>`:
an upgrade request is checked by the `$connect` route's authorizer (its identity source first: no
ticket in the query is a 401 with nothing invoked), then the route's own integration; a client's
message goes to the route its `action` names, else `$default`; a socket that closes runs
`$disconnect`, and one silent for API Gateway's idle timeout is closed. The authorizer's `context`
reaches every route of the connection as `requestContext.authorizer`.

The same address answers API Gateway's @connections API over plain HTTP
(`POST|GET|DELETE /<stage>/@connections/<id>`): the push function posts there with boto3, as on AWS,
and a socket that is not open is a 410 `GoneException`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from handoff_local import websocket
from handoff_local.aws import LOCAL_SOCKET_API_ID, SocketApi, SocketRoute

HOST = "127.0.0.1"
ACCOUNT = "123456789012"  # moto's account, as the rest of the local run says
REGION = "us-east-1"
IDLE_TIMEOUT_SECONDS = 10 * 60  # API Gateway closes a WebSocket silent for 10 minutes (real time)
CONNECTION_LIMIT = timedelta(hours=2)  # and any WebSocket 2 hours after it opened (the run's clock)
MAX_POST_BYTES = websocket.MAX_MESSAGE_BYTES
CONNECTIONS_PATH = "/@connections/"

log = logging.getLogger("handoff_local.sockets")

Invoke = Callable[[str, Mapping[str, Any]], Any]


class Refused(Exception):
    """The upgrade is answered with `status` and API Gateway's `{"message": ...}`, not a socket."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class OpenSocket:
    connection_id: str
    connection: websocket.Connection
    authorizer: dict[str, Any]
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)
    raw: socket.socket | None = None
    opened_at: datetime | None = None  # on the run's clock: API Gateway's 2-hour limit runs from it
    disconnect: bool = True  # run $disconnect when it ends (False: dropped without API Gateway knowing)


class LocalSockets:
    """`start()` it, give its `url` to the functions (PUSH_URL), `stop()` it.

    `accepting` False answers every new socket 503, as an outage would (the sockets open stay);
    `close_all()` closes every socket from the server's side. Both are for tests and the bench.
    """

    def __init__(
        self,
        api: SocketApi,
        invoke: Invoke,
        now: Callable[[], datetime],
        *,
        port: int = 0,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
    ) -> None:
        self.api = api
        self.invoke = invoke
        self.now = now
        self.port = port
        self.idle_timeout = idle_timeout
        self.accepting = True
        self.stopping = False  # no function is invoked once the run goes away
        self.opened = 0  # sockets opened since the start: the bench counts reconnections
        self._sockets: dict[str, OpenSocket] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LocalSockets:
        self._server = _Server((HOST, self.port), self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="local-sockets",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every socket without running `$disconnect` (the run is going away), then the server."""
        self.stopping = True
        for open_socket in self._take_all():
            open_socket.disconnect = False
            self._end(open_socket, websocket.GOING_AWAY)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """What clients open (the template's PUSH_URL, locally)."""
        return f"ws://{HOST}:{self.port}/{self.api.stage}"

    # --- what tests and the bench do to it ------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return len(self._sockets)

    def close_all(self) -> int:
        """Close every socket from the server's side ($disconnect runs for each); how many."""
        closed = self._take_all()
        for open_socket in closed:
            self._end(open_socket, websocket.GOING_AWAY)
        return len(closed)

    def close_expired(self) -> int:
        """Close the sockets open for API Gateway's 2 hours on the run's clock (moved by a test or
        the bench: a real socket would not have lived through the jump); how many."""
        now = self.now()
        with self._lock:
            expired = [
                s for s in self._sockets.values() if s.opened_at and now - s.opened_at >= CONNECTION_LIMIT
            ]
            for open_socket in expired:
                del self._sockets[open_socket.connection_id]
        for open_socket in expired:
            self._end(open_socket, websocket.GOING_AWAY)
        return len(expired)

    def drop(self, connection_id: str) -> bool:
        """End a socket as a network failure would: its $disconnect never runs (on AWS it is best
        effort), so the push function finds it gone at its next post."""
        with self._lock:
            open_socket = self._sockets.pop(connection_id, None)
        if open_socket is None:
            return False
        open_socket.disconnect = False
        self._end(open_socket, websocket.GOING_AWAY)
        return True

    def connection_ids(self) -> list[str]:
        with self._lock:
            return list(self._sockets)

    # --- @connections ---------------------------------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        with self._lock:
            open_socket = self._sockets.get(connection_id)
        if open_socket is None:
            return False
        try:
            open_socket.connection.send_text(data)
        except OSError:
            return False
        return True

    def info(self, connection_id: str) -> dict[str, Any] | None:
        with self._lock:
            open_socket = self._sockets.get(connection_id)
        if open_socket is None:
            return None
        return {
            "connectedAt": _iso(open_socket.connected_at),
            "lastActiveAt": _iso(open_socket.last_active_at),
            "identity": {"sourceIp": HOST, "userAgent": ""},
        }

    def delete(self, connection_id: str) -> bool:
        """DeleteConnection: the server closes the socket; $disconnect runs."""
        with self._lock:
            open_socket = self._sockets.pop(connection_id, None)
        if open_socket is None:
            return False
        self._end(open_socket, websocket.NORMAL_CLOSURE)
        return True

    # --- a socket's life --------------------------------------------------------------------------------

    def admit(self, handler: _Handler, query: dict[str, str], connection_id: str) -> dict[str, Any]:
        """The `$connect` route's authorizer and integration; what the authorizer answered (its
        context and principal), or Refused."""
        if not self.accepting:
            raise Refused(503, "Service Unavailable")
        route = self.api.route("$connect")
        headers = dict(handler.headers.items())
        context = self._request_context("$connect", "CONNECT", connection_id)
        authorized: dict[str, Any] = {}
        if route is not None and route.authorizer is not None:
            authorized = self._authorize(route, headers, query, context)
            context = {**context, "authorizer": authorized}
        if route is not None and route.function is not None:
            event = {
                "headers": headers,
                "multiValueHeaders": {name: [value] for name, value in headers.items()},
                "queryStringParameters": query or None,
                "requestContext": context,
                "isBase64Encoded": False,
            }
            status = self._route_status(route, event)
            if not 200 <= status < 300:
                raise Refused(status, "Forbidden" if status == 403 else "Connection refused")
        return authorized

    def _authorize(
        self,
        route: SocketRoute,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        lowered = {name.lower(): value for name, value in headers.items()}
        for source in route.identity_source:
            kind, _, name = source.removeprefix("route.request.").partition(".")
            value = query.get(name) if kind == "querystring" else lowered.get(name.lower())
            if not value:
                raise Refused(401, "Unauthorized")  # API Gateway invokes no authorizer without it
        assert route.authorizer is not None
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{LOCAL_SOCKET_API_ID}/{self.api.stage}/$connect"
        event = {
            "type": "REQUEST",
            "methodArn": method_arn,
            "headers": dict(headers),
            "queryStringParameters": dict(query),
            "stageVariables": {},
            "requestContext": context,
        }
        try:
            answer = self.invoke(route.authorizer, event)
        except Exception:
            log.exception("the push channel's authorizer failed")
            raise Refused(500, "Internal Server Error") from None
        statements = (answer or {}).get("policyDocument", {}).get("Statement", [])
        allowed = any(
            statement.get("Effect") == "Allow"
            and fnmatch.fnmatchcase(method_arn, str(statement.get("Resource")))
            for statement in statements
        )
        denied = any(
            statement.get("Effect") == "Deny"
            and fnmatch.fnmatchcase(method_arn, str(statement.get("Resource")))
            for statement in statements
        )
        if denied or not allowed:
            raise Refused(403, "Forbidden")
        return {"principalId": answer.get("principalId"), **(answer.get("context") or {})}

    def opened_socket(self, open_socket: OpenSocket) -> None:
        open_socket.opened_at = self.now()
        with self._lock:
            self._sockets[open_socket.connection_id] = open_socket
            self.opened += 1

    def serve(self, open_socket: OpenSocket) -> None:
        """Read the client's messages until the socket ends, then run $disconnect."""
        connection = open_socket.connection
        try:
            while True:
                try:
                    message = connection.receive()
                except TimeoutError:
                    connection.close(websocket.GOING_AWAY, "idle")
                    break
                except websocket.ProtocolError as error:
                    connection.close(error.code, str(error))
                    break
                if message.opcode == websocket.CLOSE:
                    break
                open_socket.last_active_at = time.time()
                self._message(open_socket, message.payload)
        except (EOFError, OSError):
            pass  # the client went away without a close frame
        with self._lock:
            self._sockets.pop(open_socket.connection_id, None)
        self._disconnected(open_socket)

    def _message(self, open_socket: OpenSocket, body: bytes) -> None:
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError):
            action = None
        route = (self.api.route(action) if isinstance(action, str) else None) or self.api.route("$default")
        if route is None or route.function is None:
            return
        event = {
            "requestContext": {
                **self._request_context(route.route_key, "MESSAGE", open_socket.connection_id),
                "authorizer": open_socket.authorizer,
                "messageId": uuid.uuid4().hex,
            },
            "body": body.decode(errors="replace"),
            "isBase64Encoded": False,
        }
        self._route_status(route, event)

    def _disconnected(self, open_socket: OpenSocket) -> None:
        with self._lock:  # the client and the server may end a socket at the same moment: once
            if not open_socket.disconnect:
                return
            open_socket.disconnect = False
        route = self.api.route("$disconnect")
        if route is None or route.function is None:
            return
        event = {
            "requestContext": {
                **self._request_context("$disconnect", "DISCONNECT", open_socket.connection_id),
                "authorizer": open_socket.authorizer,
            },
            "isBase64Encoded": False,
        }
        self._route_status(route, event)

    def _route_status(self, route: SocketRoute, event: Mapping[str, Any]) -> int:
        assert route.function is not None
        if self.stopping:
            return 410
        try:
            answer = self.invoke(route.function, event)
        except Exception:
            log.exception("the push channel's %s route failed", route.route_key)
            return 500
        status = (answer or {}).get("statusCode", 200) if isinstance(answer, Mapping) else 200
        return int(status)

    def _end(self, open_socket: OpenSocket, code: int) -> None:
        """Close from the server's side: the close frame, then the TCP connection (its reader ends)."""
        open_socket.connection.close(code)
        if open_socket.raw is not None:
            with contextlib.suppress(OSError):  # the client went first
                open_socket.raw.shutdown(socket.SHUT_RDWR)
        if open_socket.disconnect:
            self._disconnected(open_socket)

    def _take_all(self) -> list[OpenSocket]:
        with self._lock:
            taken = list(self._sockets.values())
            self._sockets.clear()
        return taken

    def _request_context(self, route_key: str, event_type: str, connection_id: str) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "messageDirection": "IN",
            "stage": self.api.stage,
            "connectionId": connection_id,
            "connectedAt": int(now * 1000),
            "requestTimeEpoch": int(now * 1000),
            "requestId": uuid.uuid4().hex,
            "domainName": HOST,
            "apiId": LOCAL_SOCKET_API_ID,
            "identity": {"sourceIp": HOST},
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def new_connection_id() -> str:
    """Like API Gateway's: 12 random bytes, base64 (a `=` at the end)."""
    return secrets.token_urlsafe(12)[:15] + "="


# --- HTTP ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sockets: LocalSockets) -> None:
        super().__init__(address, _Handler)
        self.sockets = sockets


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "async-handoff-local-sockets/1"
    disable_nagle_algorithm = True  # a push is one small write: no waiting for an ACK

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        sockets = self.server.sockets
        split = urlsplit(self.path)
        stage_path = f"/{sockets.api.stage}"
        if split.path.startswith(stage_path + CONNECTIONS_PATH):
            self._connections(unquote(split.path.removeprefix(stage_path + CONNECTIONS_PATH)))
        elif split.path.rstrip("/") == stage_path and self.command == "GET":
            self._upgrade(dict(parse_qsl(split.query, keep_blank_values=True)))
        else:
            self._json(404, {"message": f"no route {split.path} here: the push channel is at {stage_path}"})

    # --- the socket ---------------------------------------------------------------------------------------

    def _upgrade(self, query: dict[str, str]) -> None:
        sockets = self.server.sockets
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
        if not upgrade or self.headers.get("Sec-WebSocket-Version") != "13" or not websocket.valid_key(key):
            self._json(
                426, {"message": "open a WebSocket (version 13) here"}, {"Sec-WebSocket-Version": "13"}
            )
            return
        connection_id = new_connection_id()
        try:
            authorizer = sockets.admit(self, query, connection_id)
        except Refused as refused:
            self._json(refused.status, {"message": refused.message})
            return
        assert key is not None
        open_socket = OpenSocket(
            connection_id=connection_id,
            connection=websocket.Connection(self.rfile, self.wfile),
            authorizer=authorizer,
            raw=self.connection,
        )
        with open_socket.connection.writing():  # a push waits for the handshake's answer to go first
            sockets.opened_socket(open_socket)  # from $connect's success on, posts reach it
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", websocket.accept_key(key))
            self.end_headers()
            self.wfile.flush()
        self.close_connection = True  # after the socket ends, no HTTP request follows on it
        self.connection.settimeout(sockets.idle_timeout)
        sockets.serve(open_socket)

    # --- @connections -----------------------------------------------------------------------------------

    def _connections(self, connection_id: str) -> None:
        sockets = self.server.sockets
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_POST_BYTES:
            self._json(413, {"message": "Message too long"}, {"x-amzn-ErrorType": "PayloadTooLargeException"})
            return
        body = self.rfile.read(length) if length else b""
        match self.command:
            case "POST":
                done = sockets.post(connection_id, body)
                found: Any = {} if done else None
            case "GET":
                found = sockets.info(connection_id)
            case _:
                found = {} if sockets.delete(connection_id) else None
        if found is None:
            self._json(410, {"message": None}, {"x-amzn-ErrorType": "GoneException"})
        else:
            self._json(200, found)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the query string holds a ticket: nothing of a request is logged here
