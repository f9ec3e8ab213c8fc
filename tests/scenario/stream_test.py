#!/usr/bin/env python3
"""Screen streams end to end (docs/STREAMS.md): real `cityroom serve`, real sockets, the REST
API as the writer, and clients that rebuild their state from snapshot + deltas exactly as the
document's "client's algorithm" says. The oracle is always the hub itself: a client's state for
a query must equal `GET /ngsi-ld/v1/entities` with the same parameters (keyValues).

1. errors: a bad watch (bad JSON, bad q, unknown member, non-string value, unwatch of an unknown
   name) → an `error` message, and the connection still serves a good watch afterwards; SSE
   with an unknown or repeated parameter → 400 ProblemDetails, with a bad q → 400 or (today)
   200 and an `error` event without an id; a plain GET that carries `Upgrade: websocket`
   without a Sec-WebSocket-Key → 400, a handshake with a bad key → 400.
2. websocket: two watches on one connection (one sent as a fragmented frame), snapshots, then
   creates, PATCHes that move entities into and out of q, DELETEs; deltas converge to the hub.
   `unwatch` stops the query (checked against a later delta of the other query, not a clock).
3. sse: snapshot and deltas with `id:` lines; a disconnect, changes meanwhile, a reconnect
   with Last-Event-ID → the missed changes as one delta (no snapshot); `since` as a URL
   parameter; another epoch / a malformed / a future position → a snapshot with a reason.
4. random (seeded; --seed): 6 clients (WebSocket and SSE, 1–3 random queries each over three
   types, q / attrs / georel filters, in tenant "chaos") against a writer doing random
   creates, PATCHes, attribute appends and deletes, entity deletes, batch upserts and batch
   deletes. Clients disconnect at random moments (RST, FIN, or the closing handshake), stay
   away a random time and resume from their last position (`since` / Last-Event-ID). Every
   resume must be answered with a delta (the writer stays well inside the ring). After the
   writer stops, every client's state must equal the hub's answer for each of its queries.
5. ring: a WebSocket and an SSE client go away, 17,000 changes (more than the 16,384-change
   ring) happen, they come back with their old positions → a snapshot with a "too old"
   reason, and convergence.
Invariants checked on every message: snapshot/heartbeat epoch is the server's; per query and
connection the seq never goes back (deltas strictly forward); an SSE event carries `id:
<epoch>:<seq>` exactly when it is a snapshot or a delta (or a heartbeat of a current client).
No timing asserts: "eventually" waits with generous deadlines.
Usage: stream_test.py --binary PATH [--seed N] [--writer-seconds S] [--only PART,...]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
sys.path.insert(0, str(HERE))
import run_cases  # noqa: E402
import wsclient  # noqa: E402

STREAM = "/live/v1/stream"
ENTITIES = "/ngsi-ld/v1/entities"
DEADLINE_S = 90          # for anything "eventually"; generous for a loaded 2-core machine
RING = 16_384            # live::kFeedCapacityDefault
RANDOM_CHANGES_MAX = 9_000  # keeps the random part well inside the ring: every resume is a delta


# ---- REST helpers ----------------------------------------------------------------------------


def request(port: int, method: str, path: str, body=None, tenant: str | None = None,
            headers: list[tuple[str, str]] | None = None) -> run_cases.Reply:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = list(headers or [])
    if body is not None:
        hdrs.append(("Content-Type", "application/json"))
    if tenant:
        hdrs.append(("NGSILD-Tenant", tenant))
    return run_cases.http_request(port, method, path, hdrs, data)


def must(reply: run_cases.Reply, *statuses: int) -> run_cases.Reply:
    assert reply.status in statuses, (reply.status, reply.text()[:500])
    return reply


def query_string(params: dict[str, str]) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def hub_answer(port: int, params: dict[str, str], tenant: str | None = None) -> dict[str, dict]:
    """The oracle: GET /entities with the watch's parameters, keyValues, by id."""
    p = dict(params)
    p["options"] = "keyValues"
    p["limit"] = "1000"
    p["count"] = "true"
    r = must(request(port, "GET", f"{ENTITIES}?{query_string(p)}", tenant=tenant), 200)
    entities = r.json()
    assert int(r.header("NGSILD-Results-Count")) == len(entities), "more than one page"
    return {e["id"]: e for e in entities}


def eventually(check, what: str, deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.05)


def prop(value) -> dict:
    return {"type": "Property", "value": value}


def point(lon: float, lat: float) -> dict:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


# ---- transports ------------------------------------------------------------------------------


class SseStream:
    """An event stream read from a raw socket, as EventSource parses it (`id:`, `data:`,
    comments, blank line = dispatch). `last_event_id` keeps the last id seen, as a browser's
    does, for Last-Event-ID on reconnection."""

    def __init__(self, port: int, target: str, headers: list[tuple[str, str]] | None = None,
                 timeout: float = 30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status, self.headers, rest = wsclient.read_http_head(
            self.sock, time.monotonic() + timeout)
        self.buf = bytearray(rest)
        self.last_event_id: str | None = None
        self.body = b""
        if self.status != 200:  # a plain answer (ProblemDetails)
            length = int(self.headers.get("content-length", "0") or 0)
            self.body = bytes(self.buf)
            while len(self.body) < length:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.body += data
            self.sock.close()

    def recv(self, timeout: float) -> tuple[dict, str | None]:
        """The next event: (its data as JSON, its own id or None). Raises wsclient.Timeout
        (nothing lost) or wsclient.Closed."""
        deadline = time.monotonic() + timeout
        data: list[str] = []
        own_id = None
        pos = 0
        while True:
            nl = self.buf.find(b"\n", pos)
            if nl < 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise wsclient.Timeout()
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    raise wsclient.Timeout() from None
                except (ConnectionResetError, BrokenPipeError) as e:
                    raise wsclient.Closed(None, str(e)) from None
                if not chunk:
                    raise wsclient.Closed(None, "the event stream ended")
                self.buf += chunk
                # Parse again from the event's start: fields are consumed only on dispatch,
                # so a timeout in the middle of an event loses nothing.
                data, own_id, pos = [], None, 0
                continue
            line = self.buf[pos:nl].rstrip(b"\r").decode("utf-8")
            pos = nl + 1
            if line == "":
                if not data:
                    continue  # e.g. the blank line after a keep-alive comment
                del self.buf[:pos]
                if own_id is not None:
                    self.last_event_id = own_id
                return json.loads("\n".join(data)), own_id
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "id":
                own_id = value

    def close(self, reset: bool = False) -> None:
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.sock.close()


class WsStream:
    """A WebSocket stream connection; recv() returns (message, None) like SseStream's."""

    def __init__(self, port: int, headers: list[tuple[str, str]] | None = None,
                 target: str = STREAM):
        self.ws = wsclient.WebSocket.connect("127.0.0.1", port, target, headers)

    def send(self, message: dict) -> None:
        self.ws.send_text(json.dumps(message))

    def recv(self, timeout: float) -> tuple[dict, None]:
        return json.loads(self.ws.recv(timeout)), None


# ---- the client's algorithm (docs/STREAMS.md) --------------------------------------------------


class Violation(AssertionError):
    pass


class View:
    """What a client holds for one query. `valid`: `entities` are exactly the result at
    `position` (a resume from it is sound); `current`: as in the document (heartbeats may
    advance it)."""

    def __init__(self, name: str, params: dict[str, str]):
        self.name = name
        self.params = params
        self.entities: dict[str, dict] = {}
        self.position = 0
        self.epoch: str | None = None
        self.valid = False
        self.current = False
        self.resuming_from: int | None = None  # a resume was asked; its answer is outstanding
        self.conn_seq: int | None = None       # last seq of this query on this connection
        self.resume_answers: list[tuple[str, str]] = []  # (kind, snapshot reason)
        self.snapshots = self.deltas = self.resyncs = 0
        self.removed_seen: set[str] = set()

    def since(self) -> str | None:
        return f"{self.epoch}:{self.position}" if self.valid else None

    def connecting(self, resume: bool) -> None:
        self.current = False
        self.conn_seq = None
        self.resuming_from = self.position if resume else None

    def apply(self, msg: dict, epoch: str | None) -> None:
        kind = msg["kind"]
        if kind == "snapshot":
            if epoch and msg["epoch"] != epoch:
                raise Violation(f"{self.name}: snapshot of epoch {msg['epoch']}, "
                                f"server has {epoch}")
            if self.conn_seq is not None and msg["seq"] < self.conn_seq:
                raise Violation(f"{self.name}: snapshot seq {msg['seq']} < {self.conn_seq}")
            if self.resuming_from is not None:
                self.resume_answers.append(("snapshot", msg.get("reason", "")))
                self.resuming_from = None
            ids = [e["id"] for e in msg["entities"]]
            if ids != sorted(ids):
                raise Violation(f"{self.name}: snapshot not ordered by id")
            self.entities = {e["id"]: e for e in msg["entities"]}
            self.position = msg["seq"]
            self.epoch = msg["epoch"]
            self.valid = self.current = True
            self.conn_seq = msg["seq"]
            self.snapshots += 1
        elif kind == "delta":
            if self.resuming_from is not None:
                if msg["seq"] < self.resuming_from:
                    raise Violation(f"{self.name}: resume from {self.resuming_from} answered by "
                                    f"a delta to {msg['seq']}")
                self.resume_answers.append(("delta", ""))
                self.resuming_from = None
            elif self.conn_seq is None:
                raise Violation(f"{self.name}: a delta before any snapshot on this connection")
            elif msg["seq"] <= self.conn_seq:
                raise Violation(f"{self.name}: delta seq {msg['seq']} after {self.conn_seq}")
            ids = [e["id"] for e in msg["upsert"]] + msg["remove"]
            if len(ids) != len(set(ids)):
                raise Violation(f"{self.name}: an id twice in one delta: {ids}")
            for e in msg["upsert"]:
                self.entities[e["id"]] = e
            for i in msg["remove"]:
                self.entities.pop(i, None)
                self.removed_seen.add(i)
            self.position = msg["seq"]
            self.valid = self.current = True
            self.conn_seq = msg["seq"]
            self.deltas += 1
        elif kind == "resync":
            self.current = self.valid = False
            self.resyncs += 1
            if self.resuming_from is not None:
                self.resume_answers.append(("resync", msg.get("reason", "")))
                self.resuming_from = None
        elif kind == "error":
            raise Violation(f"{self.name}: unexpected error {msg}")
        else:
            raise Violation(f"{self.name}: unknown message {msg}")

    def heartbeat(self, msg: dict, epoch: str | None) -> None:
        if epoch and msg["epoch"] != epoch:
            raise Violation(f"heartbeat of epoch {msg['epoch']}, server has {epoch}")
        if self.current:
            self.position = max(self.position, msg["seq"])


def check_sse_id(msg: dict, own_id: str | None, view: View) -> None:
    """SSE: snapshots and deltas carry `id: <epoch>:<seq>`; resync and error never an id; a
    heartbeat only when the query is current."""
    kind = msg["kind"]
    if kind in ("snapshot", "delta"):
        epoch = msg.get("epoch", view.epoch)
        if own_id != f"{epoch}:{msg['seq']}":
            raise Violation(f"SSE {kind} with id {own_id!r}, want {epoch}:{msg['seq']}")
    elif kind in ("resync", "error"):
        if own_id is not None:
            raise Violation(f"SSE {kind} with an id ({own_id})")
    elif kind == "heartbeat" and own_id is not None:
        if not view.current:
            raise Violation(f"SSE heartbeat id {own_id} while the query is not current")
        if own_id != f"{msg['epoch']}:{msg['seq']}":
            raise Violation(f"SSE heartbeat id {own_id} for seq {msg['seq']}")


def watch_message(view: View, resume: bool) -> dict:
    m = {"op": "watch", "query": view.name, **view.params}
    if resume and view.since():
        m["since"] = view.since()
    return m


def pump(conn, views: dict[str, View], epoch: str | None, sse: bool, until, what: str,
         deadline_s: float = DEADLINE_S) -> list[dict]:
    """Reads and applies messages until `until()` holds; returns what was read."""
    seen = []
    deadline = time.monotonic() + deadline_s
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        try:
            msg, own_id = conn.recv(min(left, 1.0))
        except wsclient.Timeout:
            continue
        seen.append(msg)
        dispatch(msg, own_id, views, epoch, sse)
    return seen


def dispatch(msg: dict, own_id, views: dict[str, View], epoch, sse: bool) -> None:
    if msg["kind"] == "heartbeat":
        for v in views.values():
            if sse:
                check_sse_id(msg, own_id, v)
            v.heartbeat(msg, epoch)
        return
    view = views.get(msg.get("query"))
    if view is None:
        raise Violation(f"a message for an unknown query: {msg}")
    if sse:
        check_sse_id(msg, own_id, view)
    view.apply(msg, epoch)


def converged(port: int, view: View, tenant: str | None = None) -> bool:
    return view.current and view.entities == hub_answer(port, view.params, tenant)


# ---- 1. errors -------------------------------------------------------------------------------


def errors_part(port: int) -> None:
    ws = WsStream(port)

    def next_error() -> dict:
        while True:
            msg, _ = ws.recv(DEADLINE_S)
            if msg["kind"] != "heartbeat":
                assert msg["kind"] == "error", msg
                return msg

    ws.ws.send_text("{not json")
    e = next_error()
    assert e["query"] is None and e["error"]["status"] == 400, e
    ws.send({"op": "watch", "query": "badq", "type": "Bridge", "q": "tilt>>0.5"})
    e = next_error()
    assert e["query"] == "badq" and e["error"]["status"] == 400, e
    assert e["error"]["type"].endswith("/InvalidRequest") and "q" in e["error"]["detail"], e
    ws.send({"op": "watch", "query": "odd", "type": "Bridge", "colour": "red"})
    e = next_error()
    assert e["query"] == "odd" and "colour" in e["error"]["detail"], e
    ws.send({"op": "watch", "query": "typed", "type": "Bridge", "limit": 5})
    e = next_error()
    assert e["query"] == "typed" and e["error"]["status"] == 400, e
    ws.send({"op": "unwatch", "query": "nobody"})
    e = next_error()
    assert e["query"] == "nobody" and e["error"]["status"] == 404, e
    ws.ws.send_text(json.dumps([1, 2]))
    assert next_error()["query"] is None
    # the connection is still usable: a good watch gets its snapshot
    views = {"ok": View("ok", {"type": "ErrorProbe", "options": "keyValues"})}
    ws.send(watch_message(views["ok"], False))
    pump(ws, views, None, False, lambda: views["ok"].current, "a snapshot after the errors")
    assert views["ok"].entities == {}
    ws.ws.close()

    # SSE: what the URL cannot express is refused before the stream starts
    s = SseStream(port, f"{STREAM}?type=Bridge&colour=red")
    assert s.status == 400, (s.status, s.body)
    assert json.loads(s.body)["type"].endswith("/BadRequestData"), s.body
    s = SseStream(port, f"{STREAM}?type=Bridge&type=Market")
    assert s.status == 400, (s.status, s.body)
    # A bad q is found only when the watch is planned, after the stream has started: the answer
    # is 200 and an `error` event (no id) instead of 400. Accepted both ways until the server
    # validates before answering; each is checked exactly.
    s = SseStream(port, f"{STREAM}?{query_string({'type': 'Bridge', 'q': 'tilt>>0.5'})}")
    try:
        if s.status == 400:
            problem = json.loads(s.body)
            assert problem["status"] == 400 and "q" in problem["detail"], problem
        else:
            assert s.status == 200, (s.status, s.body)
            msg, own_id = s.recv(DEADLINE_S)
            assert msg["kind"] == "error" and own_id is None, (msg, own_id)
            assert msg["query"] == "default" and msg["error"]["status"] == 400, msg
            assert "q" in msg["error"]["detail"], msg
            print("  note: SSE with a bad q is answered 200 + an error event, not 400")
    finally:
        s.close()
    # a plain request that asks for a WebSocket but is no valid handshake: 400, not a stream
    r = run_cases.http_request(port, "GET", f"{STREAM}?type=Bridge",
                               [("Connection", "Upgrade"), ("Upgrade", "websocket")],
                               timeout_s=10)
    assert r.status == 400 and r.json()["status"] == 400, (r.status, r.text()[:300])
    # and a handshake with a bad key is refused too (the client sees the problem)
    try:
        wsclient.WebSocket.connect("127.0.0.1", port, STREAM, key="c2hvcnQ=")
        raise AssertionError("a handshake with a 5-byte key was accepted")
    except wsclient.HandshakeError as e:
        assert e.status == 400, e
    print("PASS errors")


# ---- 2. WebSocket: two queries on one connection ---------------------------------------------


def bridge(i: int, tilt: float, **attrs) -> dict:
    e = {"id": f"urn:ngsi-ld:Bridge:ws{i}", "type": "Bridge", "tilt": prop(tilt),
         "name": prop(f"다리 {i}")}
    e.update({k: prop(v) for k, v in attrs.items()})
    return e


def market(i: int, crowd: int) -> dict:
    return {"id": f"urn:ngsi-ld:Market:ws{i}", "type": "Market", "crowd": prop(crowd),
            "open": prop(True)}


def ws_part(port: int) -> str:
    for e in (bridge(1, 0.7), bridge(2, 0.2), market(1, 10)):
        must(request(port, "POST", ENTITIES, e), 201)
    views = {"tilted": View("tilted", {"type": "Bridge", "q": "tilt>0.5", "options": "keyValues"}),
             "markets": View("markets", {"type": "Market", "options": "keyValues"})}
    ws = WsStream(port)
    ws.send(watch_message(views["tilted"], False))
    ws.ws.send_fragmented_text(json.dumps(watch_message(views["markets"], False)), 3)
    ws.ws.ping(b"are you there")
    pump(ws, views, None, False, lambda: all(v.current for v in views.values()), "two snapshots")
    epoch = views["tilted"].epoch
    assert views["markets"].epoch == epoch
    assert set(views["tilted"].entities) == {"urn:ngsi-ld:Bridge:ws1"}, views["tilted"].entities
    assert views["tilted"].entities["urn:ngsi-ld:Bridge:ws1"]["name"] == "다리 1"
    assert set(views["markets"].entities) >= {"urn:ngsi-ld:Market:ws1"}

    B = "urn:ngsi-ld:Bridge:ws"
    must(request(port, "POST", ENTITIES, bridge(3, 0.9)), 201)                     # in
    must(request(port, "PATCH", f"{ENTITIES}/{B}2/attrs", {"tilt": prop(0.8)}), 204)  # moves in
    must(request(port, "PATCH", f"{ENTITIES}/{B}1/attrs", {"tilt": prop(0.1)}), 204)  # moves out
    must(request(port, "POST", ENTITIES, market(2, 70)), 201)
    must(request(port, "DELETE", f"{ENTITIES}/urn:ngsi-ld:Market:ws1"), 204)
    must(request(port, "PATCH", f"{ENTITIES}/urn:ngsi-ld:Market:ws2/attrs",
                 {"crowd": prop(71)}), 204)
    must(request(port, "DELETE", f"{ENTITIES}/{B}3/attrs/tilt"), 204)               # leaves q
    must(request(port, "POST", "/ngsi-ld/v1/entityOperations/upsert",
                 [bridge(4, 0.95), bridge(5, 0.3)]), 201, 204, 207)
    pump(ws, views, epoch, False,
         lambda: all(converged(port, v) for v in views.values()), "websocket deltas converge")
    assert set(views["tilted"].entities) == {f"{B}2", f"{B}4"}, views["tilted"].entities
    assert {f"{B}1", f"{B}3"} <= views["tilted"].removed_seen
    assert "urn:ngsi-ld:Market:ws1" in views["markets"].removed_seen
    assert views["markets"].entities["urn:ngsi-ld:Market:ws2"]["crowd"] == 71
    assert ws.ws.pongs_received == [b"are you there"], ws.ws.pongs_received

    # unwatch: after the server has surely processed it (a later message's error reply comes
    # back), a Market change must not arrive, while a later Bridge change does.
    ws.send({"op": "unwatch", "query": "markets"})
    ws.send({"op": "unwatch", "query": "markets"})  # the barrier: answered with an error
    while True:
        msg, _ = ws.recv(DEADLINE_S)
        if msg["kind"] == "error":
            assert msg["query"] == "markets" and msg["error"]["status"] == 404, msg
            break
        dispatch(msg, None, views, epoch, False)
    must(request(port, "PATCH", f"{ENTITIES}/urn:ngsi-ld:Market:ws2/attrs",
                 {"crowd": prop(5)}), 204)
    must(request(port, "PATCH", f"{ENTITIES}/{B}4/attrs", {"tilt": prop(0.99)}), 204)
    late = pump(ws, views, epoch, False,
                lambda: views["tilted"].entities[f"{B}4"]["tilt"] == 0.99, "the later Bridge delta")
    assert not [m for m in late if m.get("query") == "markets"], late
    ws.ws.close()
    print(f"PASS websocket (tilted: {views['tilted'].deltas} deltas, "
          f"markets: {views['markets'].deltas} deltas)")
    return epoch


# ---- 3. SSE: resume with Last-Event-ID -------------------------------------------------------


def sse_part(port: int, epoch: str) -> None:
    B = "urn:ngsi-ld:Bridge:sse"
    params = {"type": "Bridge", "options": "keyValues"}
    target = f"{STREAM}?{query_string(params)}"
    views = {"default": View("default", params)}
    v = views["default"]
    s = SseStream(port, target)
    assert s.status == 200 and s.headers["content-type"] == "text/event-stream", s.headers
    pump(s, views, epoch, True, lambda: v.current, "the SSE snapshot")
    must(request(port, "POST", ENTITIES, {"id": f"{B}1", "type": "Bridge", "tilt": prop(0.4)}), 201)
    must(request(port, "POST", ENTITIES, {"id": f"{B}2", "type": "Bridge", "tilt": prop(0.6)}), 201)
    pump(s, views, epoch, True, lambda: f"{B}2" in v.entities, "SSE deltas")
    assert s.last_event_id == f"{epoch}:{v.position}", (s.last_event_id, v.position)
    last_id = s.last_event_id
    early_id = f"{epoch}:{v.position - 1}"
    s.close()

    # away: create, delete, update
    must(request(port, "POST", ENTITIES, {"id": f"{B}3", "type": "Bridge", "tilt": prop(0.1)}), 201)
    must(request(port, "DELETE", f"{ENTITIES}/{B}1"), 204)
    must(request(port, "PATCH", f"{ENTITIES}/{B}2/attrs", {"tilt": prop(0.65)}), 204)
    hub = hub_answer(port, params)

    v.connecting(resume=True)
    s = SseStream(port, target, [("Last-Event-ID", last_id)])
    assert s.status == 200
    first = pump(s, views, epoch, True, lambda: v.current, "the resume answer")[-1]
    assert first["kind"] == "delta", first
    assert {e["id"] for e in first["upsert"]} == {f"{B}2", f"{B}3"}, first
    assert first["remove"] == [f"{B}1"], first
    assert v.resume_answers == [("delta", "")], v.resume_answers
    assert v.entities == hub, (v.entities, hub)
    s.close()

    # `since` as a URL parameter, from an older position: still a delta
    v.connecting(resume=True)
    v.position = int(early_id.split(":")[1])
    s = SseStream(port, f"{target}&since={urllib.parse.quote(early_id)}")
    first = pump(s, views, epoch, True, lambda: v.current, "the since= answer")[-1]
    assert first["kind"] == "delta", first
    assert v.entities == hub, (v.entities, hub)
    s.close()

    # positions that cannot be honoured: a snapshot with a reason
    for since, word in ((f"deadbeef:{v.position}", "epoch"), ("garbage", "<epoch>:<seq>"),
                        (f"{epoch}:{v.position + 10**9}", "ahead")):
        views2 = {"default": View("default", params)}
        views2["default"].connecting(resume=True)
        s = SseStream(port, target, [("Last-Event-ID", since)])
        got = pump(s, views2, epoch, True, lambda: views2["default"].current, f"answer to {since}")
        assert got[-1]["kind"] == "snapshot" and word in got[-1].get("reason", ""), got[-1]
        assert views2["default"].entities == hub
        s.close()
    print("PASS sse (resume with Last-Event-ID and since=, snapshots with reasons)")


# ---- 4. randomized ---------------------------------------------------------------------------

TENANT = "chaos"
TYPES = ("Bridge", "Market", "Sensor")
IDS_PER_TYPE = 25
QUERIES = [
    {"type": "Bridge"},
    {"type": "Bridge", "q": "tilt>0.5"},
    {"type": "Bridge", "q": 'status=="warn"'},
    {"type": "Bridge", "attrs": "tilt,status"},
    {"type": "Bridge", "georel": "near;maxDistance==2000", "geometry": "Point",
     "coordinates": "[127.05,37.5]"},
    {"type": "Market"},
    {"type": "Market", "q": "crowd>=50;open==true"},
    {"type": "Sensor", "q": "level<0.3"},
    {"type": "Sensor"},
    {"type": "Bridge,Market", "q": "tilt>0.8|crowd>90"},
]


class Control:
    def __init__(self) -> None:
        self.settle = threading.Event()  # the writer stopped: reconnect and stay
        self.finish = threading.Event()
        self.epoch: str | None = None


class RandomClient(threading.Thread):
    """Connects, watches, reads for a random while, leaves in a random way, stays away a
    random while, comes back with its last positions; once `settle` is set it stays."""

    def __init__(self, index: int, kind: str, queries: list[dict], port: int, seed: int,
                 control: Control):
        super().__init__(daemon=True, name=f"client-{index}")
        self.label = f"{kind}{index}"
        self.kind = kind
        self.port = port
        self.rng = random.Random(seed)
        self.control = control
        self.lock = threading.Lock()
        self.views = {f"q{i}": View(f"q{i}", {**p, "options": "keyValues"})
                      for i, p in enumerate(queries)}
        self.failure: str | None = None
        self.stats = {"connects": 0, "reset": 0, "fin": 0, "polite": 0, "server_closed": 0,
                      "messages": 0, "heartbeats": 0}
        self.last_event_id: str | None = None  # SSE: the browser's

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # noqa: BLE001 — reported by the main thread
            self.failure = traceback.format_exc()

    def _connect(self):
        self.stats["connects"] += 1
        with self.lock:
            for v in self.views.values():
                resume = v.valid if self.kind == "ws" else self.last_event_id is not None
                v.connecting(resume=resume)
        if self.kind == "ws":
            conn = WsStream(self.port, [("NGSILD-Tenant", TENANT)])
            for v in self.views.values():
                if self.rng.random() < 0.3:
                    conn.ws.send_fragmented_text(json.dumps(watch_message(v, True)),
                                                 self.rng.randint(2, 4))
                else:
                    conn.send(watch_message(v, True))
            return conn
        (v,) = self.views.values()
        target = f"{STREAM}?{query_string({**v.params, 'query': v.name, 'tenant': TENANT})}"
        headers = [("Last-Event-ID", self.last_event_id)] if self.last_event_id else []
        conn = SseStream(self.port, target, headers)
        assert conn.status == 200, (conn.status, conn.body)
        return conn

    def _read(self, conn, until: float) -> bool:
        """Reads until the monotonic time `until` (or settle/finish). False: the server
        closed the connection."""
        settled = self.control.settle.is_set()
        while not self.control.finish.is_set():
            if not settled and self.control.settle.is_set():
                return True  # reconnect right away so that the settling starts connected
            left = until - time.monotonic()
            if left <= 0:
                return True
            try:
                msg, own_id = conn.recv(min(left, 0.2))
            except wsclient.Timeout:
                continue
            except wsclient.Closed:
                self.stats["server_closed"] += 1
                return False
            self.stats["messages"] += 1
            self.stats["heartbeats"] += msg["kind"] == "heartbeat"
            if msg["kind"] == "snapshot" and self.control.epoch is None:
                self.control.epoch = msg["epoch"]
            with self.lock:
                dispatch(msg, own_id, self.views, self.control.epoch, self.kind == "sse")
            if own_id is not None:
                self.last_event_id = own_id
        return True

    def _leave(self, conn, mode: str) -> None:
        self.stats[mode] += 1
        if self.kind == "ws":
            if mode == "polite":
                conn.ws.close()
            else:
                conn.ws.abort(reset=mode == "reset")
        else:
            conn.close(reset=mode == "reset")

    def _run(self) -> None:
        rng = self.rng
        while not self.control.finish.is_set():
            settling = self.control.settle.is_set()
            conn = self._connect()
            if settling:
                stay = float("inf")
            else:
                stay = rng.choice([0.0, rng.uniform(0, 0.3), rng.uniform(0.3, 3.0)])
            alive = self._read(conn, time.monotonic() + stay)
            if self.control.finish.is_set():
                self._leave(conn, "polite")
                return
            if alive:
                self._leave(conn, rng.choice(["reset", "fin", "polite"]))
            if not self.control.settle.is_set():
                self.control.settle.wait(rng.uniform(0, 2.0))

    def converged(self, hub: dict) -> list[str]:
        """The queries whose state differs from the hub's (empty when all agree)."""
        with self.lock:
            return [name for name, v in self.views.items()
                    if not (v.current and v.entities == hub[json.dumps(v.params, sort_keys=True)])]


class Writer(threading.Thread):
    """Random changes through the REST API in tenant TENANT."""

    def __init__(self, port: int, seed: int, seconds: float):
        super().__init__(daemon=True, name="writer")
        self.port = port
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.changes = 0  # an upper bound of the feed changes made
        self.ops: dict[str, int] = {}
        self.failure: str | None = None

    def entity(self, typ: str, i: int) -> dict:
        rng = self.rng
        e = {"id": f"urn:ngsi-ld:{typ}:r{i}", "type": typ}
        if typ == "Bridge":
            if rng.random() < 0.8:
                e["tilt"] = prop(round(rng.random(), 3))
            if rng.random() < 0.7:
                e["status"] = prop(rng.choice(["ok", "warn", "closed"]))
            e["location"] = point(round(127.05 + rng.uniform(-0.04, 0.04), 5),
                                  round(37.5 + rng.uniform(-0.03, 0.03), 5))
        elif typ == "Market":
            e["crowd"] = prop(rng.randint(0, 100))
            e["open"] = prop(rng.random() < 0.6)
            e["name"] = prop(rng.choice(["광장시장", "남대문시장", "망원시장"]))
        else:
            e["level"] = prop(round(rng.random(), 3))
        return e

    def attrs_of(self, typ: str) -> dict:
        e = self.entity(typ, 0)
        keys = [k for k in e if k not in ("id", "type")]
        picked = self.rng.sample(keys, self.rng.randint(1, len(keys)))
        return {k: e[k] for k in picked}

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # noqa: BLE001
            self.failure = traceback.format_exc()

    def _run(self) -> None:
        rng, port = self.rng, self.port
        start = time.monotonic()
        end = start + self.seconds
        # Paced so that the budget lasts the whole run (clients come and go many times), with
        # an occasional lull in which connected queries see nothing.
        rate = RANDOM_CHANGES_MAX / max(self.seconds, 1) * 0.8
        while time.monotonic() < end and self.changes < RANDOM_CHANGES_MAX - 20:
            ahead = self.changes / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            if rng.random() < 0.005:
                time.sleep(rng.uniform(0.2, 1.0))
            typ = rng.choice(TYPES)
            i = rng.randrange(IDS_PER_TYPE)
            eid = f"urn:ngsi-ld:{typ}:r{i}"
            op = rng.choices(["create", "patch", "append", "drop_attr", "delete", "upsert",
                              "batch_delete"], [20, 30, 10, 5, 8, 6, 2])[0]
            self.ops[op] = self.ops.get(op, 0) + 1
            if op == "create":
                r = request(port, "POST", ENTITIES, self.entity(typ, i), TENANT)
                self.changes += 1
            elif op == "patch":
                r = request(port, "PATCH", f"{ENTITIES}/{eid}/attrs", self.attrs_of(typ), TENANT)
                self.changes += 1
            elif op == "append":
                r = request(port, "POST", f"{ENTITIES}/{eid}/attrs", self.attrs_of(typ), TENANT)
                self.changes += 1
            elif op == "drop_attr":
                attr = {"Bridge": "tilt", "Market": "crowd", "Sensor": "level"}[typ]
                r = request(port, "DELETE", f"{ENTITIES}/{eid}/attrs/{attr}", None, TENANT)
                self.changes += 1
            elif op == "delete":
                r = request(port, "DELETE", f"{ENTITIES}/{eid}", None, TENANT)
                self.changes += 1
            elif op == "upsert":
                n = rng.randint(2, 8)
                items = {}
                for _ in range(n):
                    t = rng.choice(TYPES)
                    e = self.entity(t, rng.randrange(IDS_PER_TYPE))
                    items[e["id"]] = e
                path = "/ngsi-ld/v1/entityOperations/upsert"
                if rng.random() < 0.5:
                    path += "?options=update"
                r = request(port, "POST", path, list(items.values()), TENANT)
                self.changes += len(items)
            else:
                ids = list({f"urn:ngsi-ld:{rng.choice(TYPES)}:r{rng.randrange(IDS_PER_TYPE)}"
                            for _ in range(rng.randint(1, 4))})
                r = request(port, "POST", "/ngsi-ld/v1/entityOperations/delete", ids, TENANT)
                self.changes += len(ids)
            assert r.status < 500, (op, r.status, r.text()[:300])


def random_part(port: int, seed: int, writer_seconds: float) -> None:
    rng = random.Random(seed)
    control = Control()
    kinds = ["ws", "ws", "ws", "sse", "sse", rng.choice(["ws", "sse"])]
    clients = []
    for i, kind in enumerate(kinds):
        n = rng.randint(1, 3) if kind == "ws" else 1
        queries = rng.sample(QUERIES, n)
        clients.append(RandomClient(i, kind, queries, port, rng.randrange(2**32), control))
    for c in clients:
        print(f"  {c.label}: " + "; ".join(query_string(v.params) for v in c.views.values()))
    writer = Writer(port, rng.randrange(2**32), writer_seconds)
    for c in clients:
        c.start()
    writer.start()
    writer.join()
    if writer.failure:
        control.finish.set()
        raise AssertionError(f"writer failed:\n{writer.failure}")
    control.settle.set()
    hub = {json.dumps(q, sort_keys=True): hub_answer(port, q, TENANT)
           for q in ({**p, "options": "keyValues"} for p in QUERIES)}
    try:
        def all_converged() -> bool:
            for c in clients:
                if c.failure:
                    raise AssertionError(f"{c.label} failed:\n{c.failure}")
            return all(not c.converged(hub) for c in clients)
        try:
            eventually(all_converged, "every client's state equals the hub's")
        except AssertionError:
            for c in clients:
                for name in c.converged(hub):
                    v = c.views[name]
                    want = hub[json.dumps(v.params, sort_keys=True)]
                    print(f"  {c.label}/{name} {query_string(v.params)}: current={v.current} "
                          f"position={v.position} extra={sorted(set(v.entities) - set(want))} "
                          f"missing={sorted(set(want) - set(v.entities))} differing="
                          f"{[i for i in want if i in v.entities and v.entities[i] != want[i]]}")
            raise
    finally:
        control.finish.set()
        for c in clients:
            c.join(timeout=30)
    resumes = []
    for c in clients:
        assert not c.failure, f"{c.label} failed:\n{c.failure}"
        for v in c.views.values():
            resumes += v.resume_answers
    bad = [r for r in resumes if r[0] == "snapshot"]
    assert not bad, f"resumes inside the ring answered with snapshots: {bad}"
    totals: dict[str, int] = {}
    for c in clients:
        for k, n in c.stats.items():
            totals[k] = totals.get(k, 0) + n
    snaps = sum(v.snapshots for c in clients for v in c.views.values())
    deltas = sum(v.deltas for c in clients for v in c.views.values())
    resyncs = sum(v.resyncs for c in clients for v in c.views.values())
    sizes = {k: len(v) for k, v in hub.items()}
    print(f"  writer: {sum(writer.ops.values())} requests, <= {writer.changes} changes, "
          f"{writer.ops}")
    print(f"  clients: {totals}; {snaps} snapshots, {deltas} deltas, {resyncs} resyncs, "
          f"{len(resumes)} resumes ({sum(r[0] == 'delta' for r in resumes)} as deltas)")
    print(f"  final result sizes: {sorted(sizes.values())}")
    assert len(resumes) > 0 and totals["connects"] > len(clients), "nothing was resumed"
    print(f"PASS random (seed {seed})")


# ---- 5. ring overrun -------------------------------------------------------------------------


def ring_part(port: int, epoch: str) -> None:
    params = {"type": "Market", "q": "crowd>=50", "options": "keyValues"}
    M = "urn:ngsi-ld:Market:ring"
    for i in range(6):
        must(request(port, "POST", ENTITIES, {"id": f"{M}{i}", "type": "Market",
                                              "crowd": prop(40 + 5 * i)}), 201)
    ws_views = {"m": View("m", params)}
    ws = WsStream(port)
    ws.send(watch_message(ws_views["m"], False))
    pump(ws, ws_views, epoch, False, lambda: ws_views["m"].current, "ring: ws snapshot")
    sse_views = {"default": View("default", params)}
    target = f"{STREAM}?{query_string(params)}"
    s = SseStream(port, target)
    pump(s, sse_views, epoch, True, lambda: sse_views["default"].current, "ring: sse snapshot")
    sse_id = s.last_event_id
    assert sse_id
    ws.ws.abort(reset=True)
    s.close()

    # away: Market changes the clients must see, then more changes than the ring holds
    must(request(port, "PATCH", f"{ENTITIES}/{M}0/attrs", {"crowd": prop(99)}), 204)  # in
    must(request(port, "DELETE", f"{ENTITIES}/{M}5"), 204)                            # out
    batch = 1000
    rounds = RING // batch + 1
    for r in range(rounds):
        items = [{"id": f"urn:ngsi-ld:Sensor:ring{i}", "type": "Sensor",
                  "level": prop(r * batch + i)} for i in range(batch)]
        must(request(port, "POST", "/ngsi-ld/v1/entityOperations/upsert", items), 201, 204)
    must(request(port, "PATCH", f"{ENTITIES}/{M}1/attrs", {"crowd": prop(98)}), 204)  # in
    hub = hub_answer(port, params)

    ws_views["m"].connecting(resume=True)
    ws = WsStream(port)
    ws.send(watch_message(ws_views["m"], True))
    got = pump(ws, ws_views, epoch, False, lambda: ws_views["m"].current, "ring: ws answer")
    assert got[-1]["kind"] == "snapshot" and "too old" in got[-1].get("reason", ""), got[-1]
    assert ws_views["m"].entities == hub
    ws.ws.close()

    sse_views["default"].connecting(resume=True)
    s = SseStream(port, target, [("Last-Event-ID", sse_id)])
    got = pump(s, sse_views, epoch, True, lambda: sse_views["default"].current, "ring: sse answer")
    assert got[-1]["kind"] == "snapshot" and "too old" in got[-1].get("reason", ""), got[-1]
    assert sse_views["default"].entities == hub
    s.close()
    print(f"PASS ring ({rounds * batch} changes while away; reason: {got[-1]['reason']!r})")


# ---- main ------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--writer-seconds", type=float, default=30)
    ap.add_argument("--only", default="errors,ws,sse,random,ring")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    print(f"seed {seed} (rerun with --seed {seed})")
    parts = set(args.only.split(","))
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="cityroom-streams-")
    server = run_cases.Server(args.binary, str(Path(workdir) / "data"))
    port = server.start()
    try:
        epoch = None
        if "errors" in parts:
            errors_part(port)
        if "ws" in parts or "sse" in parts or "ring" in parts:
            epoch = ws_part(port)
        if "sse" in parts:
            sse_part(port, epoch)
        if "random" in parts:
            random_part(port, seed, args.writer_seconds)
        if "ring" in parts:
            ring_part(port, epoch)
        assert server.alive(), "the server died"
    except BaseException:
        print(server.log_tail())
        raise
    finally:
        rc = server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(workdir + ".logs", ignore_errors=True)
    assert rc == 0, f"server exit code {rc}"
    print(f"PASS all in {time.monotonic() - started:.1f} s (seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
