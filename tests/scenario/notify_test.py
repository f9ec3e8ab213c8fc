#!/usr/bin/env python3
"""Subscriptions notify real endpoints: an HTTP sink on loopback, a dead endpoint, and an MQTT
broker (Mosquitto, when installed).

1. A subscription to Bridge entities with a watched attribute and q delivers, for a stream of
   updates, one notification per matching change to a local HTTP sink: every notified value
   arrives, in order, with the receiverInfo header and a Link to the context; non-matching
   changes are not notified.
2. A subscription whose endpoint is dead (connection refused) and one whose endpoint accepts
   and never answers (blackhole) run alongside: the healthy sink still gets everything, writes
   are still acknowledged, and the dead subscription's status shows timesFailed/lastFailure.
3. Status fields (timesSent, lastSuccess, lastNotification) are visible through GET.
4. With Mosquitto: a subscription to mqtt://127.0.0.1:<port>/city/bridges publishes
   {"metadata": ..., "body": notification} to that topic.
No timing asserts: everything "eventually" waits with generous deadlines.
Usage: notify_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

DEADLINE_S = 30
UPDATES = 200


class Sink:
    """An HTTP server on loopback recording every POST (headers and JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with sink.lock:
                    sink.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def values(self) -> list[float]:
        with self.lock:
            return [e["tilt"] for _, n in self.received for e in n["data"]]

    def stop(self) -> None:
        self.server.shutdown()


def blackhole() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(100)
    return s, s.getsockname()[1]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port: int, method: str, path: str, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else b""
    hdrs = list(headers or [])
    if body is not None:
        hdrs.append(("Content-Type", "application/json"))
    return run_cases.http_request(port, method, path, hdrs, data)


def eventually(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


def subscribe(port: int, sid: str, uri: str, extra: dict | None = None) -> None:
    body = {"id": sid, "type": "Subscription", "entities": [{"type": "Bridge"}],
            "watchedAttributes": ["tilt"], "q": "tilt>=0",
            "notification": {"format": "keyValues", "attributes": ["tilt"],
                             "endpoint": {"uri": uri,
                                          "receiverInfo": [{"key": "X-Dept", "value": "roads"}]}}}
    body.update(extra or {})
    r = request(port, "POST", "/ngsi-ld/v1/subscriptions", body)
    assert r.status == 201, (r.status, r.body)


def http_part(port: int) -> None:
    sink = Sink()
    hole, hole_port = blackhole()
    try:
        subscribe(port, "urn:ngsi-ld:Subscription:sink", f"http://127.0.0.1:{sink.port}/notify")
        subscribe(port, "urn:ngsi-ld:Subscription:dead", f"http://127.0.0.1:{free_port()}/none")
        subscribe(port, "urn:ngsi-ld:Subscription:hole", f"http://127.0.0.1:{hole_port}/hole")
        r = request(port, "POST", "/ngsi-ld/v1/entities",
                    {"id": "urn:ngsi-ld:Bridge:seongsu", "type": "Bridge",
                     "tilt": {"type": "Property", "value": -1}})
        assert r.status == 201, r.body
        expected = []
        for i in range(UPDATES):
            r = request(port, "PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Bridge:seongsu/attrs",
                        {"tilt": {"type": "Property", "value": i / 100}})
            assert r.status == 204, (r.status, r.body)
            expected.append(i / 100)
            # an unwatched attribute: no notification
            r = request(port, "POST", "/ngsi-ld/v1/entities/urn:ngsi-ld:Bridge:seongsu/attrs",
                        {"note": {"type": "Property", "value": f"점검 {i}"}})
            assert r.status == 204, (r.status, r.body)
        eventually(lambda: len(sink.values()) >= UPDATES, f"{UPDATES} notifications at the sink")
        assert sink.values() == expected, sink.values()[:10]
        headers, first = sink.received[0]
        assert headers.get("x-dept") == "roads", headers
        assert "ngsi-ld-core-context" in headers.get("link", ""), headers
        assert first["type"] == "Notification" and first["subscriptionId"].endswith(":sink"), first

        def status(sid: str) -> dict:
            r = request(port, "GET", f"/ngsi-ld/v1/subscriptions/{sid}")
            assert r.status == 200, r.body
            return json.loads(r.body)["notification"]

        eventually(lambda: status("urn:ngsi-ld:Subscription:sink").get("lastSuccess"),
                   "lastSuccess of the healthy subscription")
        st = status("urn:ngsi-ld:Subscription:sink")
        assert st["timesSent"] >= 1 and st["status"] == "ok" and "lastNotification" in st, st
        eventually(lambda: status("urn:ngsi-ld:Subscription:dead").get("timesFailed", 0) >= 1,
                   "a failure recorded for the dead endpoint")
        assert status("urn:ngsi-ld:Subscription:dead")["status"] == "failed"
    finally:
        sink.stop()
        hole.close()


def mqtt_part(binary: str, workdir: str) -> None:
    # scripts/setup.sh installs them; a missing broker is a failed setup, not a skip.
    assert shutil.which("mosquitto") and shutil.which("mosquitto_sub"), "mosquitto is not installed"
    broker_port = free_port()
    conf = Path(workdir) / "mosquitto.conf"
    conf.write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    server = run_cases.Server(binary, str(Path(workdir) / "mqtt-data"))
    try:
        eventually(lambda: socket.socket().connect_ex(("127.0.0.1", broker_port)) == 0,
                   "mosquitto listening")
        port = server.start()
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker_port),
                                "-t", "city/bridges", "-C", "1", "-W", str(DEADLINE_S)],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # let mosquitto_sub subscribe before the first publish
        subscribe(port, "urn:ngsi-ld:Subscription:mqtt",
                  f"mqtt://127.0.0.1:{broker_port}/city/bridges",
                  {"notification": {"format": "keyValues",
                                    "endpoint": {"uri": f"mqtt://127.0.0.1:{broker_port}/city/bridges",
                                                 "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}}})
        # keep changing until the subscriber has its one message (it may have subscribed late)
        for i in range(50):
            request(port, "POST", "/ngsi-ld/v1/entityOperations/upsert",
                    [{"id": "urn:ngsi-ld:Bridge:mqtt", "type": "Bridge",
                      "tilt": {"type": "Property", "value": i}}])
            if sub.poll() is not None:
                break
            time.sleep(0.2)
        out, _ = sub.communicate(timeout=DEADLINE_S)
        assert out.strip(), "no MQTT notification arrived"
        message = json.loads(out.strip().splitlines()[0])
        assert message["body"]["type"] == "Notification", message
        assert message["body"]["data"][0]["id"] == "urn:ngsi-ld:Bridge:mqtt", message
        assert "metadata" in message, message
    finally:
        server.stop()
        broker.terminate()
        broker.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="cityroom-notify-")
    try:
        server = run_cases.Server(args.binary, str(Path(workdir) / "data"))
        port = server.start()
        try:
            http_part(port)
        finally:
            rc = server.stop()
            assert rc == 0, f"exit code {rc}"
        print("PASS http notifications")
        mqtt_part(args.binary, workdir)
        print("PASS mqtt notifications")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
