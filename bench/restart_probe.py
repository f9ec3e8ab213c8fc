#!/usr/bin/env python3
"""Restart probe: start cityroom on an existing data dir and time how soon it is useful.

Measures, from the exec of the server process:
  listening_s   the "cityroom listening on ..." line on stdout
  health_s      the first GET /health answered 200
  first_get_s   the first GET of an entity by id answered 200
then runs --queries georel queries (one connection, back to back), reads the peak resident
set (VmHWM) and the current one (VmRSS) from /proc/PID/status, stops the server with SIGTERM
and reports how long the stop took. Prints one JSON line. Bounded by --timeout.

  restart_probe.py --server build/bench/src/app/cityroom --data-dir DIR [--cpus 0]
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

POLL_S = 0.002


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def get(port, path, timeout=5.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        return r.status, body, r.getheader("NGSILD-Results-Count")
    finally:
        c.close()


def wait_ok(port, path, t0, deadline):
    while time.monotonic() < deadline:
        try:
            if get(port, path)[0] == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(POLL_S)
    return None


def query_path(rng, etype="AirQualityObserved"):
    lon = rng.uniform(126.8, 127.2)
    lat = rng.uniform(37.45, 37.7)
    return (f"/ngsi-ld/v1/entities?type={etype}&q=pm10%3E50"
            f"&georel=near%3BmaxDistance%3D%3D500&geometry=Point"
            f"&coordinates=%5B{lon:.6f},{lat:.6f}%5D&count=true")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--cpus", default="", help="taskset CPU list for the server")
    p.add_argument("--entity", default="urn:ngsi-ld:Sensor:12345")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--label", default="")
    args = p.parse_args()

    cmd = [args.server, "serve", "--data-dir", args.data_dir, "--listen", "127.0.0.1:0",
           "--no-auth"]
    if args.cpus:
        cmd = ["taskset", "-c", args.cpus] + cmd
    out = {"label": args.label, "data_dir": args.data_dir}
    deadline = time.monotonic() + args.timeout
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        for line in proc.stdout:  # the server prints the line once it accepts connections
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                out["listening_s"] = round(time.monotonic() - t0, 4)
                break
            if time.monotonic() > deadline:
                break
        if port is None:
            out["error"] = "no listening line"
            return out
        pid = proc.pid
        out["health_s"] = wait_ok(port, "/health", t0, deadline)
        out["first_get_s"] = wait_ok(port, f"/ngsi-ld/v1/entities/{args.entity}", t0, deadline)
        out["rss_after_start_mb"] = round(status_kb(pid, "VmRSS") / 1024, 1)
        rng = random.Random(args.seed)
        lat, counts = [], []
        for _ in range(args.queries):
            q0 = time.monotonic()
            code, _, count = get(port, query_path(rng), timeout=30)
            lat.append(time.monotonic() - q0)
            if code == 200 and count is not None:
                counts.append(int(count))
        out["first_query_ms"] = round(lat[0] * 1000, 2) if lat else None
        lat.sort()
        out["queries"] = len(lat)
        out["query_ms"] = {"p50": round(lat[len(lat) // 2] * 1000, 2),
                           "max": round(lat[-1] * 1000, 2)} if lat else {}
        out["query_mean_count"] = round(sum(counts) / len(counts), 1) if counts else None
        out["vmhwm_mb"] = round(status_kb(pid, "VmHWM") / 1024, 1)
        out["vmrss_mb"] = round(status_kb(pid, "VmRSS") / 1024, 1)
        # File-backed pages (the mmap'd database) count in RSS but are clean and reclaimable;
        # anonymous memory is what the process itself holds.
        out["rss_anon_mb"] = round(status_kb(pid, "RssAnon") / 1024, 1)
        out["rss_file_mb"] = round(status_kb(pid, "RssFile") / 1024, 1)
        s0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
            out["stop_s"] = round(time.monotonic() - s0, 3)
            out["exit_code"] = proc.returncode
        except subprocess.TimeoutExpired:
            out["error"] = "did not stop within 30 s of SIGTERM"
        return out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    result = main()
    for k in ("health_s", "first_get_s"):
        if isinstance(result.get(k), float):
            result[k] = round(result[k], 4)
    print(json.dumps(result), flush=True)
    sys.exit(0 if "error" not in result else 1)
