"""A small RFC 6455 WebSocket client for tests (Python 3 standard library only).

What it does: the opening handshake (a random Sec-WebSocket-Key, the 101 answer checked,
including Sec-WebSocket-Accept), masked frames out, unmasked frames in (fragmented messages
reassembled from continuation frames, text checked as UTF-8), pings answered with pongs, and
both ways of leaving: the closing handshake (close()) or cutting the TCP connection (abort(),
optionally with a RST). No extensions, no subprotocols, ws:// only.

    ws = WebSocket.connect("127.0.0.1", port, "/live/v1/stream")
    ws.send_text('{"op": "watch", ...}')
    text = ws.recv(timeout=5)      # str; raises Timeout, or Closed when the peer closed
    ws.close()

Not thread-safe for concurrent recv(); send_text() may be called from another thread.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(Exception):
    """The server did not accept the upgrade: `status`, `headers` (lower-case names), `body`."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, why: str):
        super().__init__(f"handshake refused ({status}): {why}: {body[:300]!r}")
        self.status = status
        self.headers = headers
        self.body = body


class ProtocolError(Exception):
    """The server broke RFC 6455 (a masked frame, a bad length, reserved bits...)."""


class Closed(Exception):
    """The connection is closed: `code`/`reason` from the server's close frame, or None when
    the TCP connection ended without one."""

    def __init__(self, code: int | None, reason: str):
        super().__init__(f"closed ({code}) {reason}")
        self.code = code
        self.reason = reason


class Timeout(Exception):
    pass


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def mask(payload: bytes, key: bytes) -> bytes:
    # XOR through one big integer: fast enough for test-sized messages without numpy.
    n = len(payload)
    if n == 0:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One client frame (always masked, as RFC 6455 5.3 requires)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    return head + key + mask(payload, key)


def read_http_head(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    """Reads a response head; returns (status, headers with lower-case names, bytes after it)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed before a response head ({buf[:200]!r})")
        buf += data
        if len(buf) > 65536:
            raise ProtocolError("response head longer than 64 KiB")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


class WebSocket:
    def __init__(self, sock: socket.socket, rest: bytes):
        self.sock = sock
        self._buf = bytearray(rest)
        self._send_lock = threading.Lock()
        self._fragments: list[bytes] = []
        self._fragment_op: int | None = None
        self._close_sent = False
        self.closed: Closed | None = None  # set once the connection is over
        self.pings_answered = 0
        self.pongs_received: list[bytes] = []

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def connect(cls, host: str, port: int, target: str,
                headers: list[tuple[str, str]] | None = None, timeout: float = 30,
                key: str | None = None) -> "WebSocket":
        """Opens a connection and performs the handshake; raises HandshakeError when the
        answer is not a valid 101 (with the server's status and body). `key` overrides the
        random Sec-WebSocket-Key (to test a server's refusal of a bad one)."""
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        deadline = time.monotonic() + timeout
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
            status, hdrs, rest = read_http_head(sock, deadline)
            if status != 101:
                body = rest
                length = int(hdrs.get("content-length", "0") or 0)
                while len(body) < length:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    data = sock.recv(65536)
                    if not data:
                        break
                    body += data
                raise HandshakeError(status, hdrs, body[:length] if length else body, "not 101")
            if hdrs.get("upgrade", "").lower() != "websocket":
                raise HandshakeError(status, hdrs, b"", "no 'Upgrade: websocket' in the answer")
            if "upgrade" not in [t.strip().lower() for t in hdrs.get("connection", "").split(",")]:
                raise HandshakeError(status, hdrs, b"", "no 'Connection: upgrade' in the answer")
            if hdrs.get("sec-websocket-accept") != accept_for(key):
                raise HandshakeError(status, hdrs, b"", "wrong Sec-WebSocket-Accept")
            if hdrs.get("sec-websocket-extensions"):
                raise HandshakeError(status, hdrs, b"", "an extension nobody asked for")
        except BaseException:
            sock.close()
            raise
        return cls(sock, rest)

    # ---- sending ---------------------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        data = frame(opcode, payload)
        with self._send_lock:
            if self._close_sent and opcode != OP_CLOSE:
                raise Closed(None, "close already sent")
            self.sock.sendall(data)

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_fragmented_text(self, text: str, pieces: int) -> None:
        """One text message as `pieces` frames (a first frame, then continuations)."""
        data = text.encode("utf-8")
        step = max(1, -(-len(data) // pieces))
        chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
        with self._send_lock:
            for i, chunk in enumerate(chunks):
                self.sock.sendall(frame(OP_TEXT if i == 0 else OP_CONT, chunk,
                                        fin=i == len(chunks) - 1))

    def ping(self, payload: bytes = b"") -> None:
        self._send_frame(OP_PING, payload)

    # ---- receiving -------------------------------------------------------------------------

    def _fill(self, n: int, deadline: float | None) -> None:
        """Until the buffer holds n bytes. Bytes already read stay buffered on a timeout, so a
        recv() that timed out half-way through a frame loses nothing."""
        while len(self._buf) < n:
            if deadline is None:
                self.sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout()
                self.sock.settimeout(left)
            try:
                data = self.sock.recv(max(65536, n - len(self._buf)))
            except socket.timeout:
                raise Timeout() from None
            except (ConnectionResetError, BrokenPipeError) as e:
                self.closed = Closed(None, f"connection reset ({e})")
                raise self.closed from None
            if not data:
                self.closed = Closed(None, "connection ended without a close frame")
                raise self.closed
            self._buf += data

    def _next_frame(self, deadline: float | None) -> tuple[bool, int, bytes]:
        self._fill(2, deadline)
        b0, b1 = self._buf[0], self._buf[1]
        if b0 & 0x70:
            raise ProtocolError(f"reserved bits set ({b0:#x}) without an extension")
        if b1 & 0x80:
            raise ProtocolError("a masked frame from the server")
        n = b1 & 0x7F
        at = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack_from("!H", self._buf, 2)[0]
            at = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack_from("!Q", self._buf, 2)[0]
            if n >> 63:
                raise ProtocolError("64-bit length with the top bit set")
            at = 10
        self._fill(at + n, deadline)
        payload = bytes(self._buf[at:at + n])
        del self._buf[:at + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv(self, timeout: float | None = None) -> str:
        """The next text message. Pings are answered on the way. Raises Timeout (nothing lost),
        Closed (after answering the server's close frame), ProtocolError."""
        if self.closed:
            raise self.closed
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fin, op, payload = self._next_frame(deadline)
            if op >= 0x8:  # control frames: never fragmented, at most 125 bytes
                if not fin or len(payload) > 125:
                    raise ProtocolError(f"bad control frame (op {op}, {len(payload)} bytes)")
                if op == OP_PING:
                    try:
                        self._send_frame(OP_PONG, payload)
                        self.pings_answered += 1
                    except (OSError, Closed):
                        pass
                    continue
                if op == OP_PONG:
                    self.pongs_received.append(payload)
                    continue
                if op == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    reason = payload[2:].decode("utf-8", "replace")
                    self._answer_close(payload[:2])
                    self.closed = Closed(code, reason)
                    raise self.closed
                raise ProtocolError(f"unknown control opcode {op}")
            if op == OP_CONT:
                if self._fragment_op is None:
                    raise ProtocolError("a continuation frame without a message to continue")
                self._fragments.append(payload)
            elif op in (OP_TEXT, OP_BINARY):
                if self._fragment_op is not None:
                    raise ProtocolError("a new message inside a fragmented one")
                self._fragment_op = op
                self._fragments = [payload]
            else:
                raise ProtocolError(f"unknown data opcode {op}")
            if not fin:
                continue
            data, op = b"".join(self._fragments), self._fragment_op
            self._fragments, self._fragment_op = [], None
            if op == OP_BINARY:
                raise ProtocolError("a binary message (this protocol sends text)")
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ProtocolError(f"a text message that is not UTF-8: {e}") from None

    # ---- closing ---------------------------------------------------------------------------

    def _answer_close(self, code: bytes) -> None:
        with self._send_lock:
            if self._close_sent:
                return
            self._close_sent = True
            try:
                self.sock.sendall(frame(OP_CLOSE, code))
            except OSError:
                pass

    def close(self, code: int = 1000, reason: str = "", timeout: float = 10) -> Closed:
        """The closing handshake: sends a close frame, reads until the server's close frame (or
        the end of the connection), then closes the socket. Returns what the server said."""
        if self.closed is None:
            with self._send_lock:
                if not self._close_sent:
                    self._close_sent = True
                    try:
                        self.sock.sendall(frame(OP_CLOSE,
                                                struct.pack("!H", code) + reason.encode()[:123]))
                    except OSError:
                        pass
            deadline = time.monotonic() + timeout
            try:
                while True:
                    self.recv(timeout=max(0.01, deadline - time.monotonic()))
            except (Closed, Timeout, ProtocolError, OSError) as e:
                self.closed = e if isinstance(e, Closed) else Closed(None, repr(e))
        self.sock.close()
        return self.closed

    def abort(self, reset: bool = False) -> None:
        """Cuts the connection without a close frame: a FIN, or with reset=True a RST."""
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.closed = self.closed or Closed(None, "aborted by the client")
        self.sock.close()
