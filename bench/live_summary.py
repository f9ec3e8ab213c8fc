#!/usr/bin/env python3
"""Turns a bench/live_bench.py results directory into the Markdown tables of docs/PERFORMANCE.md.

  bench/live_summary.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def screens(rows: list[dict]) -> list[str]:
    out = ["### Change → screen latency (goal at 1,000 and 5,000/s: p99 ≤ 10 ms and ≤ 1.5 × "
           "Mosquitto QoS 0 p99)", "",
           "Latency from each update's due time (open loop) to its arrival at a screen / "
           "subscriber. *Saturated*: the writer fell 5 s behind (cityroom) or not every delivery "
           "arrived within 2 s of the end (Mosquitto); the percentiles then describe a backlog.",
           "",
           "| fan-out | rate | side | delivered / expected | p50 | p99 | p99.9 | max | server CPU "
           "(1 core) | PATCH answer p99 | after answer p50 / p99 | load before | p99 ratio | goal |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_key: dict[tuple, dict] = {}
    for r in rows:
        if r.get("measure") not in ("screens-a", "screens-b"):
            continue
        fan = r.get("fanout") or r.get("subscribers")
        by_key[(r["measure"], int(r["rate"]), r["side"])] = r | {"_fan": fan}
    for (measure, rate, side) in sorted(by_key, key=lambda k: (k[0], k[1], k[2] != "cityroom")):
        r = by_key[(measure, rate, side)]
        answer = after = ""
        if side == "cityroom":
            lat = r["latency"]
            saturated = r.get("gave_up", False)
            delivered = f"{r['received']:,} / {r['expected']:,}"
            p50, p99, p999, mx = lat["p50_ms"], lat["p99_ms"], lat["p999_ms"], lat["max_ms"]
            cpu = f"{r['server_cpu_pct']:.0f}%"
            answer = f"{r['patch_answer']['p99_ms']:,.1f} ms"
            if r.get("after_answer"):
                after = (f"{r['after_answer']['p50_ms']:,.2f} / "
                         f"{r['after_answer']['p99_ms']:,.2f} ms")
            m = by_key.get((measure, rate, "mosquitto"))
            m_sat = m is not None and m.get("delivered_fraction", 0) < 0.999
            ratio = p99 / m["p99_ms"] if m and m.get("p99_ms") and not m_sat else None
            if rate in (1000, 5000):
                ok = (not saturated and p99 <= 10 and r["lost"] == 0
                      and (m_sat or (ratio is not None and ratio <= 1.5)))
                goal = "met" if ok else "missed"
                if m_sat:
                    goal += " (Mosquitto saturated: no ratio)"
            else:
                goal = ""
            if saturated:
                delivered += " **saturated**"
            ratio_s = fmt(ratio, 2) if ratio is not None else "—"
        else:
            saturated = r.get("delivered_fraction", 0) < 0.999
            delivered = (f"{r['received_in_window']:,} / {r['expected']:,} "
                         f"({100 * r['delivered_fraction']:.0f}%)" +
                         (" **saturated**" if saturated else ""))
            p50, p99, p999, mx = r["p50_ms"], r["p99_ms"], r.get("p999_ms"), r["max_ms"]
            cpu = (f"{100 * r['broker_cpu_s'] / (r['duration_s'] + 4):.0f}%"
                   if "broker_cpu_s" in r else "—")
            ratio_s, goal = "", ""
        out.append(f"| {r['_fan']} | {rate:,}/s | {side} | {delivered} | {fmt(p50, 2)} ms | "
                   f"{fmt(p99, 2)} ms | {fmt(p999, 2)} ms | {fmt(mx, 1)} ms | {cpu} | {answer} | {after} | "
                   f"{r['load_before']} | {ratio_s} | {goal} |")
    return out


def notify(rows: list[dict]) -> list[str]:
    out = ["### Notifications to a local HTTP sink (goal: ≥ 10,000/s, none lost)", "",
           "| configuration | offered | changes acked/s | notifications/s at sink | "
           "entities/s at sink | entities / notification | lost | change → sink p50 / p99 | "
           "server CPU | /metrics delivered | load before |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("measure") != "notify":
            continue
        lat = r["notify_latency"]
        delivered = next((v for k, v in r["metrics"].items() if "delivered" in k), 0)
        offered = "flat out" if r["rate"] == 0 else f"{r['rate']:,}/s"
        if r.get("gave_up"):
            offered += " (saturated)"
        out.append(f"| {r.get('config', '')} | {offered} | {r['updates_per_s']:,} | "
                   f"{r['sink_notifications_per_s']:,} | {r['sink_entities_per_s']:,} | "
                   f"{r['entities_per_notification']} | {r['lost']} | "
                   f"{fmt(lat['p50_ms'], 2)} / {fmt(lat['p99_ms'], 1)} ms | "
                   f"{r['server_cpu_pct']:.0f}% | {delivered:,} | {r['load_before']} |")
    return out


def ingest(rows: list[dict]) -> list[str]:
    out = ["### Ingest with a blackholed endpoint (goal: drop < 10 %)", "",
           "| run | subscriptions | PATCH/s (32 conns, closed loop) | sink lost | notifications "
           "dropped (/metrics) | server CPU | server CPU µs / PATCH | load before |",
           "|---|---|---|---|---|---|---|---|"]
    by_side: dict[str, list[float]] = defaultdict(list)
    cost: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.get("measure") != "ingest":
            continue
        by_side[r["side"]].append(r["updates_per_s"])
        us = r["server_cpu_pct"] * 1e4 / max(r["updates_per_s"], 1)
        cost[r["side"]].append(us)
        dropped = next((v for k, v in r["metrics"].items() if "dropped" in k), 0)
        out.append(f"| {r['run']} | {r['side']} | {r['updates_per_s']:,} | "
                   f"{r.get('lost', '—')} | {dropped:,} | {r['server_cpu_pct']:.0f}% | {us:.0f} | "
                   f"{r['load_before']} |")
    if by_side.get("none"):
        base = sum(by_side["none"]) / len(by_side["none"])
        out.append("")
        for side, v in by_side.items():
            mean = sum(v) / len(v)
            us = sum(cost[side]) / len(cost[side])
            out.append(f"- {side}: mean {mean:,.0f} PATCH/s, {100 * (base - mean) / base:.1f} % "
                       f"drop vs none; {us:.0f} µs server CPU per PATCH" if side != "none" else
                       f"- none: mean {mean:,.0f} PATCH/s; {us:.0f} µs server CPU per PATCH")
    return out


def mqtt_ingest(rows: list[dict]) -> list[str]:
    rs = [r for r in rows if r.get("measure") == "mqtt-ingest"]
    if not rs:
        return []
    out = ["### MQTT device messages ingested (bench/mqtt_bench.py ingest, same session)", "",
           "| phase | messages/s | load before |", "|---|---|---|"]
    for r in rs:
        out.append(f"| {r['phase']} | {r['msgs_per_s']:,.0f} | {r['load_before']} |")
    ing = next((r for r in rs if r["phase"] == "ingest"), None)
    if ing and isinstance(ing.get("cpu_s"), dict):
        out.append("")
        out.append("ingest phase CPU per thread (s): " + json.dumps(ing["cpu_s"]) +
                   f"; broker {ing.get('broker_cpu_s')} s")
    return out


def main() -> int:
    d = Path(sys.argv[1])
    rows = [json.loads(x) for x in (d / "results.jsonl").read_text().splitlines() if x.strip()]
    parts = [["```", (d / "machine.txt").read_text().strip(), "```"], screens(rows),
             notify(rows), ingest(rows), mqtt_ingest(rows)]
    print("\n\n".join("\n".join(p) for p in parts if p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
