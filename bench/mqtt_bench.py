#!/usr/bin/env python3
"""Runs the MQTT benchmarks against a throwaway Mosquitto and prints their figures.

  bench/mqtt_bench.py [ingest] [fanout] [--build-dir build/release] [--messages 50000]
                      [--sensors 10000] [--rates 1000,5000] [--subscribers 200]
                      [--duration 10] [--fanout-threads 2] [--out results.jsonl]

ingest: bench/mqtt_ingest_bench — messages/s Mosquitto → MQTT ingestion → SQLite store (fields
        mode, QoS 1), beside the broker alone and the hub alone, with CPU per thread.
fanout: bench/mqtt_fanout_latency — Mosquitto QoS 0 publish → subscribe latency, one run per
        rate, every subscriber receiving every message (the reference for live streams).
Each measure gets a fresh broker (scripts/mosquitto-test.sh config: loopback, persistence,
large queues) that is stopped on exit. Raw JSON lines go to --out as well as to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "mosquitto-test.sh"
RUN_TIMEOUT_S = 120


class Broker:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cityroom-mqtt-bench-"))
        out = subprocess.run(["bash", str(SCRIPT), "start", str(self.dir)], check=True,
                             capture_output=True, text=True)
        self.port = int(out.stdout.strip().splitlines()[-1])
        self.pid = int((self.dir / "mosquitto.pid").read_text().strip())

    def stop(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(self.dir)], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(cmd: list[str]) -> list[dict]:
    print("$ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("measures", nargs="*", default=["ingest", "fanout"])
    p.add_argument("--build-dir", default=str(ROOT / "build" / "release"))
    p.add_argument("--messages", type=int, default=50_000)
    p.add_argument("--sensors", type=int, default=10_000)
    p.add_argument("--rates", default="100,1000,5000")
    p.add_argument("--subscribers", type=int, default=200)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--fanout-threads", type=int, default=2)
    p.add_argument("--out", default="")
    args = p.parse_args()
    bench = Path(args.build_dir) / "bench"
    results: list[dict] = []
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())

    def record(rows: list[dict], load_before: str) -> None:
        for r in rows:
            r.update({"utc": stamp, "load_before": load_before, "load_after": loadavg()})
            print(json.dumps(r))
            results.append(r)

    if "ingest" in args.measures:
        broker = Broker()
        try:
            before = loadavg()
            record(run([str(bench / "mqtt_ingest_bench"), "--port", str(broker.port),
                        "--messages", str(args.messages), "--sensors", str(args.sensors),
                        "--broker-pid", str(broker.pid)]), before)
        finally:
            broker.stop()
    if "fanout" in args.measures:
        for rate in [r for r in args.rates.split(",") if r]:
            broker = Broker()
            try:
                before = loadavg()
                broker_cpu = cpu_seconds(broker.pid)
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.monotonic()
                rows = run([str(bench / "mqtt_fanout_latency"), "--port", str(broker.port),
                            "--rate", rate, "--subscribers", str(args.subscribers),
                            "--duration", str(args.duration),
                            "--threads", str(args.fanout_threads)])
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                for r in rows:
                    r["wall_s"] = round(time.monotonic() - started, 1)
                    r["broker_cpu_s"] = round(cpu_seconds(broker.pid) - broker_cpu, 2)
                    r["client_cpu_s"] = round(after.ru_utime + after.ru_stime -
                                              children.ru_utime - children.ru_stime, 2)
                record(rows, before)
            finally:
                broker.stop()
    if args.out:
        with open(args.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
