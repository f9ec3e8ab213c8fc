#!/usr/bin/env python3
"""Summarize a bench/run.sh output folder into Markdown tables for docs/PERFORMANCE.md.

  bench/summarize.py /tmp/cityroom-bench/<stamp>-<commit>

Reads results.jsonl (one line per run: measure, side, run, loadavg, result) and machine.txt.
Run 0 of every measure is the warm-up and is left out. Figures are "median (min–max)" over the
measured runs; a ratio is the ratio of the two medians, with the range of per-pair ratios.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

GOALS = {
    "patch": 30_000,
    "get": 50_000,
    "get_ratio": 0.6,
    "batch_ratio": 0.7,
    "query_p99_ms": 10.0,
    "restart_ready_s": 10.0,
    "restart_rss_mb": 2048.0,
}


def load(folder):
    rows = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def fig(values, fmt="{:,.0f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def by(rows, measure):
    """{side: {run: result}} for the measured runs of one measure."""
    out = defaultdict(dict)
    for r in rows:
        if r["measure"] == measure and r["run"] > 0:
            out[r["side"]][r["run"]] = r["result"]
    return out


def pair_ratios(a, b, key):
    out = []
    for run, ra in a.items():
        rb = b.get(run)
        va, vb = key(ra), key(rb) if rb else None
        if va is not None and vb:
            out.append(va / vb)
    return out


def verdict(ok):
    return "**met**" if ok else "**missed**"


def non_ok(results, ok_codes):
    bad = 0
    for r in results:
        for code, n in (r.get("status") or {}).items():
            if code not in ok_codes:
                bad += n
        bad += sum((r.get("errors") or {}).values())
    return bad


def loadavgs(rows, measure):
    vals = [float(r["loadavg"].split()[0]) for r in rows if r["measure"] == measure]
    return f"{min(vals):.1f}–{max(vals):.1f}" if vals else "—"


def http_table(rows, measure, title, goal_rps, goal_ratio, ok_codes):
    d = by(rows, measure)
    cr, bb = d.get("cityroom", {}), d.get("bare_beast", {})
    if not cr:
        return []
    rps = lambda r: r.get("rps")
    cr_med, bb_med = med([rps(r) for r in cr.values()]), med([rps(r) for r in bb.values()])
    ratios = pair_ratios(cr, bb, rps)
    ratio = cr_med / bb_med if bb_med else None
    ok = cr_med is not None and cr_med >= goal_rps and (goal_ratio is None or
                                                         (ratio or 0) >= goal_ratio)
    goal = f"≥ {goal_rps:,}/s" + (f" and ≥ {goal_ratio} × bare Beast" if goal_ratio else "")
    p99 = fig([r.get("latency_ms", {}).get("p99") for r in cr.values()], "{:.1f}")
    lines = [
        f"### {title}",
        "",
        "| goal | cityroom req/s | bare Beast req/s | ratio | cityroom p99 ms (closed loop) "
        "| non-2xx + errors | load avg | verdict |",
        "|---|---|---|---|---|---|---|---|",
        f"| {goal} | {fig([rps(r) for r in cr.values()])} | {fig([rps(r) for r in bb.values()])} "
        f"| {ratio:.2f} ({min(ratios):.2f}–{max(ratios):.2f}) | {p99} "
        f"| {non_ok(cr.values(), ok_codes)} | {loadavgs(rows, measure)} | {verdict(ok)} |"
        if ratio and ratios else f"| {goal} | {fig([rps(r) for r in cr.values()])} | — | — "
        f"| {p99} | {non_ok(cr.values(), ok_codes)} | {loadavgs(rows, measure)} | {verdict(ok)} |",
        "",
    ]
    if not ok and cr_med:
        lines += [f"Missed by {max(0, 1 - cr_med / goal_rps) * 100:.0f}% of the absolute goal"
                  f"{'' if ratio is None else f'; ratio {ratio:.2f}'}.", ""]
    return lines


def batch_tables(rows):
    out = []
    d = by(rows, "batch-http")
    cr, raw = d.get("cityroom", {}), d.get("raw_sqlite", {})
    if cr:
        eps = lambda r: r.get("entities_per_s")
        cm, rm = med([eps(r) for r in cr.values()]), med([eps(r) for r in raw.values()])
        ratios = pair_ratios(cr, raw, eps)
        ratio = cm / rm if rm else 0
        size = med([r.get("mean_entity_bytes") for r in cr.values()])
        fails = sum(r.get("failed_entities", 0) for r in cr.values())
        out += [
            "### Batch upsert over HTTP (1,000 entities per POST, durable) vs raw SQLite",
            "",
            f"Entities ~{size:.0f} bytes of normalized JSON, new ids each run, one client "
            "connection; the peer inserts the same JSON texts into one table (id primary key) "
            "in 1,000-row transactions, WAL, synchronous=NORMAL, same disk.",
            "",
            "| goal | cityroom entities/s | raw SQLite rows/s | ratio | failed entities "
            "| load avg | verdict |",
            "|---|---|---|---|---|---|---|",
            f"| ≥ 0.7 × raw SQLite | {fig([eps(r) for r in cr.values()])} "
            f"| {fig([eps(r) for r in raw.values()])} | {ratio:.2f} "
            f"({min(ratios):.2f}–{max(ratios):.2f}) | {fails} | {loadavgs(rows, 'batch-http')} "
            f"| {verdict(ratio >= GOALS['batch_ratio'])} |",
            "",
        ]
    d = by(rows, "batch-store")
    if d:
        ips = lambda r: r.get("items_per_second")
        out += ["### Store level (bench/store_bench, same process, same disk)", "",
                "| benchmark | rows/s | ratio to raw SQLite |", "|---|---|---|"]
        for name, runs in d.items():
            peer = d.get("BM_RawSqliteReplace" if "Replace" in name else "BM_RawSqliteInsert", {})
            ratios = pair_ratios(runs, peer, ips) if "Raw" not in name else []
            m = med([ips(r) for r in runs.values()])
            pm = med([ips(r) for r in peer.values()])
            rtxt = (f"{m / pm:.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
                    if ratios and pm else "—")
            out.append(f"| {name} | {fig([ips(r) for r in runs.values()])} | {rtxt} |")
        out.append("")
    return out


def query_tables(rows):
    out = []
    measures = sorted({r["measure"] for r in rows if r["measure"].startswith("query@")},
                      key=lambda m: float(m.split("@")[1]))
    if not measures:
        return out
    ents = [r["result"].get("entities") for r in rows if r["measure"] == "load-big"]
    n = f"{ents[0]:,}" if ents else entities_large()
    out += [f"### Query type + q + georel (near 500 m) over {n} entities, "
            "open loop", "",
            "Latency measured by the client from each request's scheduled send time "
            "(no coordinated omission), 16 connections.", "",
            "| offered req/s | cityroom p50 ms | p99 ms | max ms | bare Beast p99 ms "
            "| results per query (mean) | answered by the end of the run | unsent + errors | load avg "
            "| verdict (p99 ≤ 10 ms) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for m in measures:
        d = by(rows, m)
        cr, bb = d.get("cityroom", {}), d.get("bare_beast", {})
        lat = lambda r, k: r.get("latency_ms", {}).get(k)
        # A run with no answer at all has no latency figures: leave it out of the medians
        # (its requests show up as unsent/errors and in the answered share instead).
        offered = sum(r.get("offered_rps", 0) * r.get("duration_s", 0) for r in cr.values())
        share = sum(r.get("requests", 0) for r in cr.values()) / offered if offered else 0
        cr = {k: r for k, r in cr.items() if r.get("requests")}
        p99 = med([lat(r, "p99") for r in cr.values()])
        counts = [r.get("result_count", {}).get("mean") for r in cr.values()]
        bad = sum(r.get("unsent", 0) + sum(r.get("errors", {}).values())
                  for r in by(rows, m).get("cityroom", {}).values())
        out.append(
            f"| {m.split('@')[1]} | {fig([lat(r, 'p50') for r in cr.values()], '{:.2f}')} "
            f"| {fig([lat(r, 'p99') for r in cr.values()], '{:.2f}')} "
            f"| {fig([lat(r, 'max') for r in cr.values()], '{:.1f}')} "
            f"| {fig([lat(r, 'p99') for r in bb.values()], '{:.2f}')} "
            f"| {fig(counts, '{:.1f}')} | {share:.0%} | {bad} | {loadavgs(rows, m)} "
            f"| {verdict(p99 is not None and p99 <= GOALS['query_p99_ms'] and bad == 0)} |")
    cap = by(rows, "query-capacity").get("cityroom", {})
    if cap:
        out += ["", f"Closed-loop capacity of the same query (16 connections): "
                    f"{fig([r.get('rps') for r in cap.values()])} req/s."]
    out.append("")
    return out


FOLDER = None


def entities_large():
    """The large data set's size from machine.txt, when this run reused it without loading."""
    machine = FOLDER / "machine.txt" if FOLDER else None
    if machine and machine.exists():
        for line in machine.read_text().splitlines():
            if line.startswith("entities_large:"):
                return f"{int(line.split()[1].rstrip(';')):,}"
    return "?"


def load_table(rows):
    big = [r["result"] for r in rows if r["measure"] == "load-big"]
    if not big:
        return []
    out = ["### Loading the large data set over HTTP (streaming, 2 connections)", "",
           "| entities | seconds | entities/s | batch p50 ms | batch p99 ms | failed |",
           "|---|---|---|---|---|---|"]
    for r in big:
        out.append(f"| {r.get('entities'):,} | {r.get('seconds')} | {r.get('entities_per_s'):,.0f} "
                   f"| {r['batch_ms']['p50']} | {r['batch_ms']['p99']} "
                   f"| {r.get('failed_entities')} |")
    return out + [""]


def restart_table(rows):
    d = by(rows, "restart").get("cityroom", {})
    if not d:
        return []
    g = lambda k: [r.get(k) for r in d.values()]
    ready = med(g("first_get_s"))
    rss = med(g("vmhwm_mb"))
    ok = ready is not None and rss is not None and ready <= GOALS["restart_ready_s"] and \
        rss <= GOALS["restart_rss_mb"]
    out = ["### Restart with the large data set (warm page cache)", "",
           "| goal | listening s | /health 200 s | first GET 200 s | first query ms "
           "| peak RSS (VmHWM) MB | of it anonymous MB | stop s | verdict |",
           "|---|---|---|---|---|---|---|---|---|",
           f"| ready ≤ 10 s, RSS ≤ 2 GB | {fig(g('listening_s'), '{:.2f}')} "
           f"| {fig(g('health_s'), '{:.2f}')} | {fig(g('first_get_s'), '{:.2f}')} "
           f"| {fig(g('first_query_ms'), '{:.1f}')} | {fig(g('vmhwm_mb'), '{:.0f}')} "
           f"| {fig(g('rss_anon_mb'), '{:.0f}')} "
           f"| {fig(g('stop_s'), '{:.2f}')} | {verdict(ok)} |", ""]
    cold = [r["result"] for r in rows if r["measure"] == "restart-cold"]
    if cold:
        c = cold[0]
        out += [f"Cold page cache (one run): listening {c.get('listening_s')} s, first GET "
                f"{c.get('first_get_s')} s, first query {c.get('first_query_ms')} ms, "
                f"VmHWM {c.get('vmhwm_mb')} MB.", ""]
    return out


def main():
    global FOLDER
    folder = FOLDER = Path(sys.argv[1]).resolve()
    rows = load(folder)
    lines = ["## Run " + folder.name, ""]
    machine = folder / "machine.txt"
    if machine.exists():
        lines += ["```", machine.read_text().rstrip(), "```", ""]
    lines += http_table(rows, "patch", "Attribute PATCH, keep-alive, closed loop",
                        GOALS["patch"], None, {"204"})
    lines += http_table(rows, "get", "GET entity by id, keep-alive, closed loop",
                        GOALS["get"], GOALS["get_ratio"], {"200"})
    lines += batch_tables(rows)
    lines += load_table(rows)
    lines += query_tables(rows)
    lines += restart_table(rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
