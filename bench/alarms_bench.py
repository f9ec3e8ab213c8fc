#!/usr/bin/env python3
"""Alarms benchmarks (issue #9), figures for docs/PERFORMANCE.md "## Alarms (issue #9)".

ingest:  PATCH /attrs throughput of FacilitySensor entities through the server (closed loop,
         cityroom_loadgen) with NO alarm rules vs 1,000 ACTIVE rules scoped to the patched type
         (each change is evaluated against all 1,000: the per-type index cannot skip any; their
         thresholds are never breached, so this is evaluation cost, not Alert writes). Sides
         alternate A B A B; each run also records the server's CPU seconds per PATCH, which is
         steadier than the rate on a shared machine.
latency: change → alarm raised → screen. A screen watches Alert entities over Server-Sent
         Events; the client PATCHes a breaching tilt on a fresh bridge sensor (so each PATCH
         raises a new alarm) at a modest rate and times from just before sending the PATCH to
         the arrival of the raised Alert on the stream. Run with the demo rules plus the 1,000
         extra rules.
Every server this script starts is stopped before it returns.

Usage: bench/alarms_bench.py [ingest] [latency] [--runs 3] [--duration 10] [--samples 500]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "build/release/src/app/cityroom"
LOADGEN = ROOT / "build/release/bench/cityroom_loadgen"
ALERT_CONTEXT = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
SENSORS = 10_000
RULES = 1_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, data_dir: str, rules_dir: str) -> None:
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
             "--rules-dir", rules_dir],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def metric(self, name: str) -> float:
        text = request(self.port, "GET", "/metrics")[1].decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def request(port: int, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = (r.status, r.read())
    conn.close()
    return out


def write_rules(path: Path) -> None:
    """1,000 rules on FacilitySensor: plain, with q, with idPattern; never breached."""
    rules = []
    for i in range(RULES):
        scope: dict = {"type": "FacilitySensor"}
        if i % 4 == 1:
            scope["q"] = 'facilityKind=="bridge"'
        elif i % 4 == 2:
            scope["idPattern"] = f"^urn:ngsi-ld:FacilitySensor:{i % 10}"
        attribute = ("tilt", "crackWidth", "vibration")[i % 3]
        rules.append({"id": f"bench-{i}", "severity": "minor", "scope": scope,
                      "threshold": {"attribute": attribute, "above": 1000 + i,
                                    "clearBelow": 999 + i}})
    path.mkdir(parents=True, exist_ok=True)
    (path / "bench.json").write_text(json.dumps({"rules": rules}))


def preload(port: int) -> None:
    for start in range(0, SENSORS, 1000):
        batch = [{"id": f"urn:ngsi-ld:FacilitySensor:{i}", "type": "FacilitySensor",
                  "facilityKind": "bridge", "tilt": 0.1, "crackWidth": 0.1, "vibration": 1}
                 for i in range(start, start + 1000)]
        status, body = request(port, "POST", "/ngsi-ld/v1/entityOperations/upsert", batch)
        assert status in (201, 204), (status, body[:200])


def ingest(args, work: Path, rules_dir: Path, empty_dir: Path, out: list[dict]) -> None:
    sides = [("none", empty_dir), ("1000 rules", rules_dir)]
    for run in range(args.runs):
        for label, rdir in sides:
            data = work / f"ingest-{run}-{label.replace(' ', '')}"
            server = Server(str(data), str(rdir))
            try:
                preload(server.port)
                cpu0 = server.cpu_s()
                res = subprocess.run(
                    [str(LOADGEN), "--url", f"http://127.0.0.1:{server.port}", "--method", "PATCH",
                     "--path", "/ngsi-ld/v1/entities/urn:ngsi-ld:FacilitySensor:{i}/attrs",
                     "--body", '{"tilt":{v},"vibration":{v}}', "--header",
                     "Content-Type: application/json", "--keys", str(SENSORS), "--connections",
                     "32", "--duration", str(args.duration), "--warmup", "1", "--seed", "42"],
                    capture_output=True, text=True, check=True)
                cpu = server.cpu_s() - cpu0
                line = json.loads(res.stdout.strip().splitlines()[-1])
                rate = line.get("rps") or line.get("requests_per_s") or line.get("rate")
                total = line.get("requests") or line.get("count") or rate * args.duration
                assert set(line.get("status", {})) <= {"204"}, line.get("status")
                rec = {"part": "ingest", "run": run, "side": label, "rate": rate,
                       "cpu_us_per_patch": 1e6 * cpu / max(total, 1),
                       "evaluated": server.metric("cityroom_alarm_changes_evaluated_total"),
                       "missed": server.metric("cityroom_alarm_changes_missed_total"),
                       "load": os.getloadavg()[0], "loadgen": line}
                out.append(rec)
                print(f"ingest run {run} {label:>10}: {rate:,.0f} PATCH/s, "
                      f"{rec['cpu_us_per_patch']:.0f} µs server CPU/PATCH, "
                      f"evaluated {rec['evaluated']:.0f}, missed {rec['missed']:.0f}, "
                      f"load {rec['load']:.1f}", flush=True)
            finally:
                server.stop()
                shutil.rmtree(data, ignore_errors=True)


class Screen:
    """An SSE stream of Alert entities; records the arrival time of each raised Alert id."""

    def __init__(self, port: int) -> None:
        self.arrived: dict[str, float] = {}
        self.cv = threading.Condition()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.conn.request("GET", f"/live/v1/stream?type=Alert&options=keyValues&attrs=status"
                                 f"&context={ALERT_CONTEXT}",
                          headers={"Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        try:
            for raw in self.resp:
                line = raw.decode()
                if not line.startswith("data:"):
                    continue
                now = time.perf_counter()
                msg = json.loads(line[5:])
                with self.cv:
                    for e in msg.get("upsert", []) + msg.get("entities", []):
                        if e.get("status") == "raised":
                            self.arrived.setdefault(e["id"], now)
                    self.cv.notify_all()
        except Exception:  # noqa: BLE001 - closed at the end
            pass

    def wait(self, alert_id: str, timeout_s: float) -> float | None:
        with self.cv:
            self.cv.wait_for(lambda: alert_id in self.arrived, timeout_s)
            return self.arrived.get(alert_id)


def latency(args, work: Path, rules_dir: Path, out: list[dict]) -> None:
    both = work / "rules-demo-plus"
    both.mkdir(exist_ok=True)
    shutil.copy(rules_dir / "bench.json", both / "bench.json")
    for f in (ROOT / "data/rules/gangnam").glob("*.json"):
        shutil.copy(f, both / f.name)
    for run in range(args.runs):
        data = work / f"latency-{run}"
        server = Server(str(data), str(both))
        try:
            screen = Screen(server.port)
            time.sleep(0.5)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            samples = []
            for i in range(args.samples):
                sensor = f"urn:ngsi-ld:FacilitySensor:lat-{run}-{i}"
                body = json.dumps({"id": sensor, "type": "FacilitySensor", "facilityKind": "bridge",
                                   "tilt": 0.7}).encode()
                t0 = time.perf_counter()
                conn.request("POST", "/ngsi-ld/v1/entities", body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                assert r.status == 201, r.status
                got = screen.wait(f"urn:ngsi-ld:Alert:bridge-tilt:{sensor}", 10)
                if got is not None:
                    samples.append((got - t0) * 1000)
                time.sleep(1 / args.rate)
            samples.sort()
            q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]  # noqa: E731
            rec = {"part": "latency", "run": run, "n": len(samples), "lost": args.samples - len(samples),
                   "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": samples[-1],
                   "mean_ms": statistics.mean(samples), "load": os.getloadavg()[0]}
            out.append(rec)
            print(f"latency run {run}: n={rec['n']} lost={rec['lost']} p50 {rec['p50_ms']:.2f} ms, "
                  f"p90 {rec['p90_ms']:.2f}, p99 {rec['p99_ms']:.2f}, max {rec['max_ms']:.2f}, "
                  f"load {rec['load']:.1f}", flush=True)
        finally:
            server.stop()
            shutil.rmtree(data, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["ingest", "latency"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50, help="latency probes per second")
    args = ap.parse_args()
    out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="cityroom-alarms-bench-") as tmp:
        work = Path(tmp)
        rules_dir = work / "rules-1000"
        empty_dir = work / "rules-none"
        empty_dir.mkdir()
        write_rules(rules_dir)
        if "ingest" in args.parts:
            ingest(args, work, rules_dir, empty_dir, out)
        if "latency" in args.parts:
            latency(args, work, rules_dir, out)
    results = Path("/tmp/cityroom-bench") / f"alarms-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"results: {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
