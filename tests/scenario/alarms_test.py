#!/usr/bin/env python3
"""Alarms through the real server (issue #9): bursts, screens, webhooks.

1. A burst of 1,000 identical breaching PATCHes of one bridge sensor, sent over 8 keep-alive
   connections within about a second, yields exactly ONE Alert entity (demo rule bridge-tilt)
   whose count is 1,000 — in the alarm API and in the NGSI-LD entity.
2. A screen watching Alert entities over Server-Sent Events receives the raised Alert with
   `speak: true` (critical) without any notification set up: screens watch entities.
3. Notification routing by policy to a local webhook sink: a policy for critical alarms of the
   roads department receives exactly one `raised` (not one per message), then `acknowledged`
   and `cleared` when those happen through the API; a policy for another department receives
   nothing.
No timing asserts: "eventually" waits with generous deadlines; the burst's duration is printed.
Usage: alarms_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

DEADLINE_S = 60
BURST = 1000
CONNECTIONS = 8
ALERT_CONTEXT = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
SENSOR = "urn:ngsi-ld:FacilitySensor:bridge-burst"
ALERT = f"urn:ngsi-ld:Alert:bridge-tilt:{SENSOR}"


class Sink:
    """An HTTP server on loopback recording every POSTed JSON body by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with sink.lock:
                    sink.received.append((self.path, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, path: str) -> list[str]:
        with self.lock:
            return [b["event"] for p, b in self.received if p == path]

    def stop(self) -> None:
        self.server.shutdown()


class SseReader:
    """Reads one /live/v1/stream event stream on a thread; keeps every message."""

    def __init__(self, port: int, params: str) -> None:
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S)
        self.conn.request("GET", f"/live/v1/stream?{params}", headers={"Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.status
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    with self.lock:
                        self.messages.append(json.loads(line[5:].strip()))
        except Exception:  # noqa: BLE001 - the connection closes at the end of the test
            pass

    def upserts(self, entity_id: str) -> list[dict]:
        with self.lock:
            return [e for m in self.messages if m.get("kind") in ("snapshot", "delta")
                    for e in m.get("upsert", m.get("entities", [])) if e.get("id") == entity_id]

    def close(self) -> None:
        self.conn.close()


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


def burst(port: int) -> float:
    body = json.dumps({"tilt": {"type": "Property", "value": 0.71, "unitCode": "DD"}}).encode()
    path = f"/ngsi-ld/v1/entities/{SENSOR}/attrs"
    failures: list[str] = []
    barrier = threading.Barrier(CONNECTIONS + 1)

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S)
        barrier.wait()
        for _ in range(n):
            conn.request("PATCH", path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 204:
                failures.append(str(r.status))
        conn.close()

    share = [BURST // CONNECTIONS + (1 if i < BURST % CONNECTIONS else 0) for i in range(CONNECTIONS)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in share]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.monotonic()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert not failures, f"{len(failures)} PATCHes failed: {failures[:5]}"
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="cityroom-alarms-") as tmp:
        server = run_cases.Server(args.binary, str(Path(tmp) / "data"),
                                   ["--rules-dir", str(HERE.parents[1] / "data/rules/gangnam")])
        port = server.start()
        screen = None
        try:
            for policy in (
                {"id": "roads-critical", "severities": ["critical"], "departments": ["도로시설과"],
                 "events": ["raised", "acknowledged", "cleared"],
                 "targets": [{"kind": "webhook", "uri": f"http://127.0.0.1:{sink.port}/roads"}]},
                {"id": "environment", "departments": ["환경과"],
                 "targets": [{"kind": "webhook", "uri": f"http://127.0.0.1:{sink.port}/env"}]}):
                r = request(port, "POST", "/cityroom/v1/alarms/policies", policy)
                assert r.status == 201, (r.status, r.body)
            r = request(port, "POST", "/ngsi-ld/v1/entities",
                        {"id": SENSOR, "type": "FacilitySensor", "facilityKind": "bridge",
                         "tilt": {"type": "Property", "value": 0.1, "unitCode": "DD"}})
            assert r.status == 201, r.body
            screen = SseReader(port, f"type=Alert&options=keyValues&context={ALERT_CONTEXT}")

            elapsed = burst(port)
            print(f"burst: {BURST} PATCHes in {elapsed:.2f} s over {CONNECTIONS} connections")

            def one_alarm_with_full_count() -> bool:
                alarms = request(port, "GET", "/cityroom/v1/alarms?sync=true").json()
                return len(alarms) == 1 and alarms[0]["count"] == BURST
            try:
                eventually(one_alarm_with_full_count, f"one alarm with count {BURST}")
            except AssertionError:
                print(request(port, "GET", "/cityroom/v1/alarms").text())
                raise
            alarms = request(port, "GET", "/cityroom/v1/alarms").json()
            assert [a["id"] for a in alarms] == [ALERT], alarms
            link = [("Link", f'<{ALERT_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"')]

            def entity_count() -> bool:
                e = request(port, "GET", f"/ngsi-ld/v1/entities/{ALERT}?options=keyValues", None, link)
                return e.status == 200 and e.json().get("count") == BURST
            eventually(entity_count, f"the Alert entity's count reaches {BURST}")
            listed = request(port, "GET", "/ngsi-ld/v1/entities?type=Alert&count=true", None, link)
            assert listed.header("NGSILD-Results-Count") == "1", listed.header("NGSILD-Results-Count")

            eventually(lambda: any(u.get("speak") is True and u.get("status") == "raised"
                                   for u in screen.upserts(ALERT)),
                       "the screen stream shows the raised Alert with speak: true")

            eventually(lambda: sink.events("/roads") == ["raised"], "one raised notification")
            r = request(port, "POST", f"/cityroom/v1/alarms/{ALERT}/acknowledge",
                        {"by": "kim.roads", "note": "closing the bridge"})
            assert r.status == 200, r.body
            r = request(port, "POST", f"/cityroom/v1/alarms/{ALERT}/clear", {"by": "kim.roads"})
            assert r.status == 200, r.body
            eventually(lambda: sink.events("/roads") == ["raised", "acknowledged", "cleared"],
                       "acknowledged and cleared notifications")
            eventually(lambda: any(u.get("status") == "cleared" and u.get("speak") is False
                                   for u in screen.upserts(ALERT)),
                       "the screen sees it cleared")
            time.sleep(0.5)  # anything wrongly routed would have arrived by now
            assert sink.events("/env") == [], sink.events("/env")
            assert sink.events("/roads") == ["raised", "acknowledged", "cleared"], sink.events("/roads")
            metrics = request(port, "GET", "/metrics").text()
            assert f"cityroom_alarm_repeats_total {BURST - 1}" in metrics, metrics
            print("PASS alarms scenario")
        except Exception:
            print(server.log_tail())
            raise
        finally:
            if screen:
                screen.close()
            rc = server.stop()
            sink.stop()
        assert rc == 0, f"server exited with {rc}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
