#!/usr/bin/env python3
"""The live path of issue #3, end to end against `cityroom serve`, in one run (~9 minutes).

  bench/live_bench.py [screens] [notify] [ingest] [mqtt-ingest] [--build-dir build/release]
                      [--rates 500,1000,2000,3000,5000] [--screens 200] [--seconds 8]
                      [--notify-rates 5000,0] [--ingest-runs 2] [--pin split|none]
                      [--no-mqtt-ingest] [--perf] [--out DIR]

1. screens: one cityroom (2,000 Sensor entities), 200 WebSocket screens, changes at each rate,
   lowest first (bench/live_latency screens), fan-out (a) every change to all screens, (b)
   every change to a tenth of them; right after each, Mosquitto QoS 0 at the same rates and
   fan-out (bench/mqtt_fanout_latency: 1 publisher, 200 or 20 subscribers; the broker has
   TCP_NODELAY on, like cityroom's sockets). --perf: a perf profile of the server at 1,000/s.
2. notify: a fresh cityroom (10,000 entities) and an in-process sink: one subscription to
   every Sensor change with PATCHes at each --notify-rates rate (0 = as fast as 32 connections
   go), then flat-out batch upserts of 100, then ten subscriptions; every acknowledged change
   must reach the sink once per subscription.
3. ingest: PATCH/s flat out (32 connections) with no subscription, with one subscription to a
   blackholed endpoint (bench/notify_sink --blackhole), with it plus one to a healthy sink,
   and with the healthy sink alone; alternated --ingest-runs times.
4. mqtt-ingest: bench/mqtt_bench.py ingest (the MQTT helper's benchmark), for citing beside.
Servers (cityroom, Mosquitto) run on CPU 0, clients on CPU 1 (--pin split, as bench/run.sh).
Writes results.jsonl (one JSON line per measurement, with the load average and the busiest
processes before it), machine.txt and summary.md (bench/live_summary.py) into --out (default
/tmp/cityroom-bench/live-<UTC>-<commit>). Every process it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
RUN_TIMEOUT_S = 300
START_TIMEOUT_S = 30


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def busiest() -> str:
    """The processes using the most CPU right now (top's second sample), to say what else ran."""
    out = subprocess.run(["top", "-b", "-n", "2", "-d", "0.5", "-o", "%CPU", "-w", "200"],
                         capture_output=True, text=True).stdout
    last = out.split("PID USER")[-1].splitlines()[1:]
    rows = []
    for line in last:
        f = line.split()
        if len(f) >= 12 and float(f[8].replace(",", ".")) >= 5:
            rows.append(f"{f[11]} {f[8]}%")
    return ", ".join(rows[:5])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.build = Path(args.build_dir)
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True).stdout
        self.commit = commit + ("-dirty" if dirty.strip() else "")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.out = Path(args.out or f"/tmp/cityroom-bench/live-{stamp}-{self.commit}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.results = self.out / "results.jsonl"
        self.results.write_text("")
        self.procs: list[subprocess.Popen] = []
        split = args.pin == "split"
        self.server_cpu = ["taskset", "-c", "0"] if split else []
        self.client_cpu = ["taskset", "-c", "1"] if split else []

    # --- processes -------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, file=sys.stderr, flush=True)
        with open(self.out / "run.log", "a") as f:
            f.write(line + "\n")

    def start_cityroom(self, name: str) -> tuple[subprocess.Popen, int]:
        data = self.out / f"data-{name}"
        shutil.rmtree(data, ignore_errors=True)
        log = open(self.out / f"cityroom-{name}.log", "w")
        p = subprocess.Popen(self.server_cpu + [str(self.build / "src/app/cityroom"), "serve",
                             "--data-dir", str(data), "--listen", "127.0.0.1:0", "--no-auth"],
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = (self.out / f"cityroom-{name}.log").read_text()
            if "listening on http://127.0.0.1:" in text:
                port = int(text.split("listening on http://127.0.0.1:")[1].split()[0])
                self.log(f"cityroom ({name}) pid {p.pid} port {port}")
                return p, port
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"cityroom did not start; see {self.out}/cityroom-{name}.log")

    def start_blackhole(self) -> tuple[subprocess.Popen, int]:
        p = subprocess.Popen(self.client_cpu + [str(self.build / "bench/notify_sink"), "--port",
                             "0", "--blackhole", "--report-ms", "3600000"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        return p, int(line.split()[-1])

    def start_broker(self) -> tuple[subprocess.Popen, int]:
        """A throwaway Mosquitto on CPU 0, tuned for latency like cityroom's sockets: TCP_NODELAY
        on (Mosquitto's default is off, which adds Nagle delays to the reference), no
        persistence (QoS 0 never touches it), queues large enough to never drop."""
        d = Path(tempfile.mkdtemp(prefix="cityroom-live-bench-mqtt-"))
        port = free_port()
        (d / "mosquitto.conf").write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            f"persistence false\nlog_dest file {d}/mosquitto.log\n"
            "max_queued_messages 1000000\nmax_inflight_messages 0\n")
        p = subprocess.Popen(self.server_cpu + [MOSQUITTO, "-c", str(d / "mosquitto.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                shutil.rmtree(d, ignore_errors=True)  # the config has been read
                return p, port
            except OSError:
                if p.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {port}")

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self) -> None:
        for p in list(self.procs):
            self.stop(p)

    # --- measuring -------------------------------------------------------------------------
    def run_json(self, cmd: list[str], measure: str, extra: dict | None = None,
                 check: bool = True, cpu_pid: int = 0) -> list[dict]:
        before = loadavg()
        others = busiest()
        cpu0 = cpu_seconds(cpu_pid) if cpu_pid else 0.0
        self.log(f"{measure}: load {before} (busiest: {others}): {' '.join(cmd)}")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if r.stderr.strip():
            self.log("  stderr: " + r.stderr.strip().replace("\n", " | ")[:600])
        if check and r.returncode not in (0, 1):
            raise RuntimeError(f"{cmd[0]} exited {r.returncode}")
        rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
        if cpu_pid:
            for row in rows:
                row["broker_cpu_s"] = round(cpu_seconds(cpu_pid) - cpu0, 2)
        with open(self.results, "a") as f:
            for row in rows:
                row.update({"measure": measure, "load_before": before, "load_after": loadavg(),
                            "busiest_before": others})
                row.update(extra or {})
                f.write(json.dumps(row) + "\n")
        return rows

    def live(self, *args: str) -> list[str]:
        return self.client_cpu + [str(self.build / "bench/live_latency"), *args]

    def mosquitto_fanout(self, rate: str, subscribers: int, measure: str) -> None:
        broker, port = self.start_broker()
        pid = broker.pid
        try:
            rows = self.run_json(self.client_cpu + [
                str(self.build / "bench/mqtt_fanout_latency"), "--port", str(port), "--rate", rate,
                "--subscribers", str(subscribers), "--duration", str(self.args.seconds),
                "--threads", "1"], measure, {"side": "mosquitto"}, cpu_pid=pid)
            for row in rows:
                self.log(f"  mosquitto {rate}/s × {subscribers}: delivered "
                         f"{row.get('delivered_fraction')} p50 {row.get('p50_ms')} p99 "
                         f"{row.get('p99_ms')} ms; broker cpu {row['broker_cpu_s']} s")
        finally:
            self.stop(broker)

    def screens(self) -> None:
        server, port = self.start_cityroom("screens")
        try:
            self.run_json(self.live("load", "--port", str(port), "--entities", "2000"), "load")
            for groups, label in ((1, "a"), (10, "b")):
                fanout = self.args.screens if groups == 1 else self.args.screens // 10
                rows = self.run_json(self.live(
                    "screens", "--port", str(port), "--server-pid", str(server.pid),
                    "--screens", str(self.args.screens), "--groups", str(groups),
                    "--rates", self.args.rates, "--seconds", str(self.args.seconds)),
                    f"screens-{label}", {"side": "cityroom"})
                for row in rows:
                    self.log(f"  cityroom {row['rate']}/s fan-out {fanout}: lost {row['lost']} "
                             f"of {row['expected']}, latency {row['latency']}, server cpu "
                             f"{row['server_cpu_pct']}%")
                for rate in self.args.rates.split(","):
                    self.mosquitto_fanout(rate, fanout, f"screens-{label}")
            if self.args.perf and shutil.which("perf"):
                self.profile(server.pid, port)
        finally:
            self.stop(server)

    def profile(self, pid: int, port: int) -> None:
        """perf profile of the server while 200 screens (fan-out 200) take 1,000 changes/s,
        started once every snapshot has gone out (snapshots would dominate it otherwise)."""
        perf_data = self.out / "screens.perf.data"
        cmd = self.live("screens", "--port", str(port), "--server-pid", str(pid),
                        "--screens", str(self.args.screens), "--rates", "1000",
                        "--seconds", "8", "--warmup", "1")
        self.log(f"perf: load {loadavg()}: {' '.join(cmd)}")
        client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client.stderr.readline()  # "N screens have their snapshot after ..."
        time.sleep(2.5)
        subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "999", "-p", str(pid), "-o",
                        str(perf_data), "--", "sleep", "6"], capture_output=True)
        out, _ = client.communicate(timeout=RUN_TIMEOUT_S)
        with open(self.results, "a") as f:
            for line in out.splitlines():
                if line.startswith("{"):
                    row = json.loads(line) | {"measure": "screens-a-perf", "side": "cityroom"}
                    f.write(json.dumps(row) + "\n")
        text = []
        for sort in ("comm", "comm,dso", "comm,symbol"):
            r = subprocess.run(["perf", "report", "-i", str(perf_data), "--stdio", "--no-children",
                                "--sort", sort, "--percent-limit", "1"],
                               capture_output=True, text=True)
            text += [ln[:160].rstrip() for ln in r.stdout.splitlines()
                     if ln.strip() and not ln.startswith("#")]
        (self.out / "screens-perf.txt").write_text("\n".join(text) + "\n")
        self.log(f"perf profile: {self.out}/screens-perf.txt")

    def notify(self) -> None:
        server, port = self.start_cityroom("notify")
        try:
            self.run_json(self.live("load", "--port", str(port), "--entities", "10000"), "load")
            base = ["write", "--port", str(port), "--server-pid", str(server.pid), "--sink",
                    "--seconds", str(self.args.notify_seconds)]
            rows = []
            # One subscription, PATCH per change (open loop, then flat out); one subscription,
            # flat-out batch upserts of 100; ten subscriptions (ten consumers of every change).
            for config, extra in (
                    ("1 sub, PATCH", ["--rates", self.args.notify_rates, "--connections", "32"]),
                    ("1 sub, batch upsert 100", ["--rates", "0", "--batch", "100",
                                                 "--connections", "8"]),
                    ("10 subs, PATCH", ["--rates", "0", "--subs", "10", "--connections", "32"])):
                rows += self.run_json(self.live(*base, *extra), "notify",
                                      {"side": "cityroom", "config": config})
            for row in rows:
                self.log(f"  notify rate {row['rate']}: {row['updates_per_s']} updates/s, sink "
                         f"{row['sink_entities_per_s']} entities/s in "
                         f"{row['sink_notifications_per_s']} notifications/s, lost {row['lost']}")
        finally:
            self.stop(server)

    def subscribe(self, port: int, sub_id: str, uri: str) -> None:
        body = json.dumps({"id": sub_id, "type": "Subscription", "entities": [{"type": "Sensor"}],
                           "notification": {"format": "keyValues",
                                            "endpoint": {"uri": uri,
                                                         "accept": "application/json"}}})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/ngsi-ld/v1/subscriptions",
                                     data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def unsubscribe(self, port: int, sub_id: str) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/ngsi-ld/v1/subscriptions/{sub_id}",
                                     method="DELETE")
        urllib.request.urlopen(req, timeout=10).read()

    def ingest(self) -> None:
        server, port = self.start_cityroom("ingest")
        hole, hole_port = self.start_blackhole()
        black = "urn:ngsi-ld:Subscription:live-bench-blackhole"
        try:
            self.run_json(self.live("load", "--port", str(port), "--entities", "10000"), "load")
            base = ["write", "--port", str(port), "--server-pid", str(server.pid), "--rates", "0",
                    "--seconds", str(self.args.ingest_seconds), "--connections", "32"]
            # Warm-up (page cache, allocator), not recorded.
            warm = ["write", "--port", str(port), "--rates", "0", "--seconds", "2",
                    "--connections", "32"]
            subprocess.run(self.live(*warm), capture_output=True, timeout=RUN_TIMEOUT_S)
            for run in range(1, self.args.ingest_runs + 1):
                for side in ("none", "blackhole", "sink+blackhole", "sink"):
                    if "blackhole" in side:
                        self.subscribe(port, black, f"http://127.0.0.1:{hole_port}/notify")
                    args = base + (["--sink"] if "sink" in side else [])
                    rows = self.run_json(self.live(*args), "ingest", {"side": side, "run": run})
                    if "blackhole" in side:
                        self.unsubscribe(port, black)
                    for row in rows:
                        self.log(f"  ingest {side} run {run}: {row['updates_per_s']} PATCH/s, "
                                 f"lost {row.get('lost', '-')}, server cpu "
                                 f"{row['server_cpu_pct']}%")
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                             timeout=10).read().decode()
            (self.out / "ingest-metrics.txt").write_text(metrics)
        finally:
            self.stop(server)
            self.stop(hole)

    def mqtt_ingest(self) -> None:
        before = loadavg()
        self.log(f"mqtt-ingest: load {before}")
        r = subprocess.run([sys.executable, str(ROOT / "bench/mqtt_bench.py"), "ingest",
                            "--build-dir", str(self.build)], capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_S)
        with open(self.results, "a") as f:
            for line in r.stdout.splitlines():
                if line.startswith("{"):
                    row = json.loads(line)
                    row.update({"measure": "mqtt-ingest", "load_before": before})
                    f.write(json.dumps(row) + "\n")

    def describe(self) -> None:
        def sh(cmd: str) -> str:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        lines = [
            f"date_utc: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
            f"commit: {self.commit}",
            f"nproc: {os.cpu_count()}",
            "cpu: " + sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'"),
            "mem: " + sh("free -h | awk '/^Mem:/ {print $2}'"),
            "kernel: " + sh("uname -r"),
            "mosquitto: " + sh("/usr/sbin/mosquitto -h 2>/dev/null | head -1"),
            f"pin: {self.args.pin}",
            f"uptime_start: {sh('uptime')}",
            "others_running: " + sh("ps -eo pcpu,comm --sort=-pcpu | sed -n '2,8p' | "
                                    "tr -s ' ' | paste -sd';'"),
        ]
        (self.out / "machine.txt").write_text("\n".join(lines) + "\n")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("measures", nargs="*", default=["screens", "notify", "ingest", "mqtt-ingest"])
    p.add_argument("--build-dir", default=str(ROOT / "build" / "release"))
    p.add_argument("--rates", default="500,1000,2000,3000,5000")
    p.add_argument("--screens", type=int, default=200)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--notify-rates", default="5000,0")
    p.add_argument("--notify-seconds", type=float, default=6)
    p.add_argument("--ingest-seconds", type=float, default=6)
    p.add_argument("--ingest-runs", type=int, default=2)
    p.add_argument("--pin", choices=["split", "none"], default="split")
    p.add_argument("--no-mqtt-ingest", action="store_true")
    p.add_argument("--perf", action="store_true")
    p.add_argument("--out", default="")
    args = p.parse_args()
    if args.no_mqtt_ingest and "mqtt-ingest" in args.measures:
        args.measures.remove("mqtt-ingest")
    bench = Bench(args)
    bench.describe()
    bench.log(f"results in {bench.out}; measures {args.measures}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        for m in args.measures:
            getattr(bench, m.replace("-", "_"))()
    finally:
        bench.cleanup()
        with open(bench.out / "machine.txt", "a") as f:
            f.write(f"loadavg_end: {loadavg()}\n")
    summary = subprocess.run([sys.executable, str(ROOT / "bench/live_summary.py"), str(bench.out)],
                             capture_output=True, text=True)
    (bench.out / "summary.md").write_text(summary.stdout)
    print(summary.stdout)
    if summary.returncode:
        print(summary.stderr, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
