"""The server's side of the WebSocket protocol (RFC 6455), as much as the local push channel needs:
the opening handshake's answer, and text, ping, pong and close frames over a connected socket.

Browsers send small text messages (the console's ping) and read small ones (a push), so there is no
extension (no compression) and no subprotocol; a message bigger than API Gateway takes is refused
with the close code RFC 6455 has for it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import struct
import threading
from dataclasses import dataclass

ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's limit on a WebSocket message

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL = (CLOSE, PING, PONG)

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009


class ProtocolError(Exception):
    """The client broke the protocol: the connection is closed with `code`."""

    def __init__(self, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + ACCEPT_GUID).encode()).digest()).decode()


def valid_key(key: str | None) -> bool:
    """A Sec-WebSocket-Key is 16 random bytes, base64-encoded."""
    if not key:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False


def frame(opcode: int, payload: bytes = b"") -> bytes:
    """One whole, unmasked frame (a server never masks)."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([length])
    elif length < 1 << 16:
        head += bytes([126]) + struct.pack("!H", length)
    else:
        head += bytes([127]) + struct.pack("!Q", length)
    return head + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason.encode()[:120])


@dataclass(frozen=True)
class Message:
    """What the client sent: a whole text or binary message, a ping, a pong, or a close."""

    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return (
            struct.unpack("!H", self.payload[:2])[0]
            if self.opcode == CLOSE and len(self.payload) >= 2
            else None
        )


class Connection:
    """A socket past the handshake: `receive` reads the client's messages, `send_text` and `close`
    write frames (one writer at a time: the reader answers pings while a push may be written)."""

    def __init__(self, reader: io.BufferedIOBase, writer: io.BufferedIOBase) -> None:
        self._reader = reader
        self._writer = writer
        self._writing = threading.Lock()
        self.closed = False

    def writing(self) -> threading.Lock:
        """Held, nothing else is written to the socket (the handshake's answer goes first)."""
        return self._writing

    def send_text(self, text: str | bytes) -> None:
        self._write(frame(TEXT, text.encode() if isinstance(text, str) else text))

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame (once); the caller then stops reading and drops the socket."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):  # the client went first
                self._write(close_frame(code, reason), force=True)

    def receive(self) -> Message:
        """The next message, pings answered on the way; a close from the client is returned (and
        answered). Raises ProtocolError, or EOFError when the socket ends without a close."""
        fragments: list[bytes] = []
        opcode: int | None = None
        while True:
            fin, frame_opcode, payload = self._read_frame()
            if frame_opcode in CONTROL:
                if frame_opcode == PING:
                    self._write(frame(PONG, payload))
                    continue
                if frame_opcode == PONG:
                    continue
                message = Message(CLOSE, payload)
                self.close(message.close_code or NORMAL_CLOSURE)
                return message
            if frame_opcode == CONTINUATION:
                if opcode is None:
                    raise ProtocolError("a continuation frame with no message begun")
            elif opcode is not None:
                raise ProtocolError("a new message began before the last one ended")
            else:
                opcode = frame_opcode
            fragments.append(payload)
            if sum(map(len, fragments)) > MAX_MESSAGE_BYTES:
                raise ProtocolError("message too big", MESSAGE_TOO_BIG)
            if fin:
                if opcode not in (TEXT, BINARY):
                    raise ProtocolError(f"unknown opcode {opcode:#x}")
                data = b"".join(fragments)
                if opcode == TEXT:
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise ProtocolError("a text message that is not UTF-8", INVALID_DATA) from error
                return Message(opcode, data)

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exactly(2)
        if first & 0x70:
            raise ProtocolError("reserved bits set: no extension was agreed")
        fin, opcode = bool(first & 0x80), first & 0x0F
        if not second & 0x80:
            raise ProtocolError("a client's frame must be masked")
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8))
        if opcode in CONTROL and (length > 125 or not fin):
            raise ProtocolError("a control frame must be whole and at most 125 bytes")
        if length > MAX_MESSAGE_BYTES:
            raise ProtocolError("message too big", MESSAGE_TOO_BIG)
        mask = self._read_exactly(4)
        masked = self._read_exactly(length)
        return fin, opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(masked))

    def _read_exactly(self, count: int) -> bytes:
        data = self._reader.read(count) if count else b""
        if len(data) != count:
            raise EOFError("the socket ended")
        return data

    def _write(self, data: bytes, *, force: bool = False) -> None:
        with self._writing:
            if self.closed and not force:
                raise OSError("the socket is closing")
            try:
                self._writer.write(data)
                self._writer.flush()
            except ValueError as error:  # the reader's side ended the socket meanwhile
                raise OSError("the socket is closed") from error
