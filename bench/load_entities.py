#!/usr/bin/env python3
"""Load N city entities into cityroom (or, as the storage peer, into raw SQLite).

Entities are normalized NGSI-LD of a realistic city shape, ~0.9 KB each: a sensor-like type
(AirQualityObserved, TrafficFlowObserved, ...), a Korean name, a string category, one numeric
property named for the type (pm10, speed, ...) with observedAt and unitCode, a generic numeric
`value` (what the PATCH benchmark updates), a status, a Relationship, an address object and a
location Point in Seoul (lon 126.8-127.2, lat 37.45-37.7).

Entity n is `urn:ngsi-ld:Sensor:n`, its type is TYPES[n % len(TYPES)], and its content depends
only on (seed, n), so a run is reproducible whatever the batch size or the starting index.

Targets:
  --url http://127.0.0.1:PORT   POST /ngsi-ld/v1/entityOperations/upsert, --batch per request
  --sqlite PATH                 the peer: the same entity JSON texts inserted into one table
                                (id PRIMARY KEY, type, doc) in --batch-row transactions, WAL,
                                synchronous=NORMAL

Modes:
  --pregenerate   build every batch in memory first and time only the sending (fair peer
                  comparisons; use for small N)
  (default)       a helper process generates batches while the main process sends them, so
                  1,000,000 entities stream without holding them all in memory; the rate then
                  includes the generator's share of the CPU on a small machine

Prints one JSON line: entities, seconds, entities_per_s, batch latency percentiles, statuses.
"""
import argparse
import http.client
import json
import multiprocessing
import random
import sqlite3
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

BLOCK = 1000  # entities drawn from one seeded generator; keeps entity n independent of --batch

TYPES = [
    # type, numeric attribute, unit code, Korean noun, categories
    ("AirQualityObserved", "pm10", "GQ", "대기질 측정소", ["environment", "air"]),
    ("TrafficFlowObserved", "speed", "KMH", "교통량 검지기", ["traffic", "road"]),
    ("ParkingSpot", "occupancy", "P1", "주차면 센서", ["parking", "onStreet"]),
    ("Camera", "fps", "E39", "CCTV", ["safety", "traffic"]),
    ("NoiseLevelObserved", "laeq", "2N", "소음 측정기", ["environment", "noise"]),
    ("WeatherObserved", "temperature", "CEL", "기상 관측소", ["environment", "weather"]),
    ("StreetLight", "powerConsumption", "KWH", "스마트 가로등", ["energy", "lighting"]),
    ("WasteContainer", "fillingLevel", "P1", "스마트 쓰레기통", ["waste", "cleaning"]),
]

DISTRICTS = ["종로구", "중구", "용산구", "성동구", "광진구", "동대문구", "중랑구", "성북구", "강북구",
             "도봉구", "노원구", "은평구", "서대문구", "마포구", "양천구", "강서구", "구로구", "금천구",
             "영등포구", "동작구", "관악구", "서초구", "강남구", "송파구", "강동구"]
STREETS = ["세종대로", "테헤란로", "올림픽로", "강남대로", "종로", "을지로", "한강대로", "도산대로"]
LON0, LON1, LAT0, LAT1 = 126.8, 127.2, 37.45, 37.7


def entity_json(n, rng):
    """The normalized NGSI-LD JSON text of entity n (rng already positioned for n)."""
    etype, attr, unit, noun, cats = TYPES[n % len(TYPES)]
    gu = rng.choice(DISTRICTS)
    lon = round(rng.uniform(LON0, LON1), 6)
    lat = round(rng.uniform(LAT0, LAT1), 6)
    reading = round(rng.uniform(0, 100), 1)
    value = round(rng.uniform(0, 100), 1)
    minute = rng.randrange(60)
    status = "working" if rng.random() < 0.9 else "maintenance"
    street = f"{rng.choice(STREETS)} {rng.randrange(1, 400)}"
    observed = f"2024-06-11T10:{minute:02d}:00Z"
    return (
        f'{{"id":"urn:ngsi-ld:Sensor:{n}","type":"{etype}",'
        f'"name":{{"type":"Property","value":"{gu} {noun} {n}호"}},'
        f'"category":{{"type":"Property","value":"{rng.choice(cats)}"}},'
        f'"{attr}":{{"type":"Property","value":{reading},"unitCode":"{unit}",'
        f'"observedAt":"{observed}"}},'
        f'"value":{{"type":"Property","value":{value},"observedAt":"{observed}"}},'
        f'"status":{{"type":"Property","value":"{status}"}},'
        f'"refDevice":{{"type":"Relationship","object":"urn:ngsi-ld:Device:{n % 5000}"}},'
        f'"address":{{"type":"Property","value":{{"addressCountry":"KR",'
        f'"addressLocality":"서울특별시","addressRegion":"{gu}","streetAddress":"{street}"}}}},'
        f'"location":{{"type":"GeoProperty","value":{{"type":"Point",'
        f'"coordinates":[{lon},{lat}]}}}}}}'
    )


def entities(seed, start, count):
    """[(n, type, json text)] for n in [start, start+count)."""
    out = []
    n = start
    end = start + count
    while n < end:
        block = n // BLOCK
        rng = random.Random(seed * 1_000_003 + block)
        first = block * BLOCK
        for m in range(first, min(first + BLOCK, end)):
            text = entity_json(m, rng)  # always draw, so entity m does not depend on start
            if m >= n:
                out.append((m, TYPES[m % len(TYPES)][0], text))
        n = min(first + BLOCK, end)
    return out


def make_batch(args):
    seed, start, count = args
    return entities(seed, start, count)


def batch_ranges(start, total, batch):
    return [(start + k, min(batch, start + total - (start + k))) for k in range(0, total, batch)]


class HttpSender:
    """POSTs batches over one keep-alive connection per thread."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.local = threading.local()
        self.lock = threading.Lock()
        self.status = {}
        self.failed_entities = 0

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.local.conn = c
        return c

    def send(self, rows):
        body = ("[" + ",".join(r[2] for r in rows) + "]").encode()
        t0 = time.perf_counter()
        c = self.conn()
        try:
            c.request("POST", "/ngsi-ld/v1/entityOperations/upsert", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            payload = r.read()
            code = r.status
        except (OSError, http.client.HTTPException) as e:
            self.local.conn = None
            code, payload = f"error:{type(e).__name__}", b""
        dt = time.perf_counter() - t0
        failed = 0
        if code == 207:
            try:
                failed = len(json.loads(payload).get("errors", []))
            except ValueError:
                failed = len(rows)
        elif code not in (200, 201, 204):
            failed = len(rows)
        with self.lock:
            self.status[str(code)] = self.status.get(str(code), 0) + 1
            self.failed_entities += failed
        return dt


class SqliteSender:
    """The storage peer: the same JSON rows, 1,000-row transactions, WAL + synchronous=NORMAL."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS entities"
                        "(id TEXT PRIMARY KEY, type TEXT NOT NULL, doc TEXT NOT NULL)")
        self.lock = threading.Lock()
        self.status = {"ok": 0}
        self.failed_entities = 0

    def send(self, rows):
        t0 = time.perf_counter()
        with self.lock:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO entities(id, type, doc) VALUES (?,?,?)",
                                ((f"urn:ngsi-ld:Sensor:{n}", t, d) for n, t, d in rows))
            self.db.execute("COMMIT")
            self.status["ok"] += 1
        return time.perf_counter() - t0


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def run(args):
    sender = SqliteSender(args.sqlite) if args.sqlite else HttpSender(args.url)
    ranges = batch_ranges(args.start, args.entities, args.batch)
    jobs = [(args.seed, s, c) for s, c in ranges]
    latencies = []
    entity_bytes = 0
    progress_every = max(1, args.progress // args.batch) if args.progress else 0

    def one(rows):
        return sender.send(rows), sum(len(r[2].encode()) for r in rows[:10]) / min(10, len(rows))

    if args.pregenerate:
        batches = [make_batch(j) for j in jobs]
        source = iter(batches)
        pool = None
    else:
        pool = multiprocessing.Pool(args.generators)
        source = pool.imap(make_batch, jobs, chunksize=1)
    t0 = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(max_workers=args.connections) as ex:
        pending = []
        for k, rows in enumerate(source):
            pending.append(ex.submit(one, rows))
            # Keep at most 2 batches in flight per connection: bounded memory, full pipes.
            while len(pending) >= 2 * args.connections:
                dt, eb = pending.pop(0).result()
                latencies.append(dt)
                entity_bytes = eb
                done += 1
                if progress_every and done % progress_every == 0:
                    el = time.perf_counter() - t0
                    print(f"progress: {done * args.batch} entities, {el:.1f} s, "
                          f"{done * args.batch / el:.0f}/s", file=sys.stderr, flush=True)
        for f in pending:
            dt, eb = f.result()
            latencies.append(dt)
            entity_bytes = eb
    elapsed = time.perf_counter() - t0
    if pool:
        pool.close()
    lat = sorted(latencies)
    return {
        "label": args.label,
        "target": "sqlite" if args.sqlite else "http",
        "entities": args.entities,
        "start": args.start,
        "batch": args.batch,
        "connections": args.connections,
        "pregenerated": bool(args.pregenerate),
        "seconds": round(elapsed, 3),
        "entities_per_s": round(args.entities / elapsed, 1),
        "mean_entity_bytes": round(entity_bytes, 1),
        "batch_ms": {"p50": round(percentile(lat, 0.5) * 1000, 2),
                     "p99": round(percentile(lat, 0.99) * 1000, 2),
                     "max": round(lat[-1] * 1000, 2) if lat else 0},
        "status": sender.status,
        "failed_entities": sender.failed_entities,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--url", help="cityroom base URL, e.g. http://127.0.0.1:8080")
    target.add_argument("--sqlite", help="raw SQLite peer: database file path")
    p.add_argument("--entities", type=int, default=1_000_000)
    p.add_argument("--start", type=int, default=0, help="first entity index")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--connections", type=int, default=1, help="concurrent batch senders")
    p.add_argument("--generators", type=int, default=1, help="generator processes (streaming)")
    p.add_argument("--pregenerate", action="store_true")
    p.add_argument("--progress", type=int, default=0, help="log every N entities to stderr")
    p.add_argument("--label", default="")
    p.add_argument("--sample", type=int, metavar="N", help="print entity N's JSON and exit")
    args = p.parse_args()
    if args.sample is not None:
        print(entities(args.seed, args.sample, 1)[0][2])
        return 0
    if not (args.url or args.sqlite):
        p.error("one of --url or --sqlite is required")
    if args.entities <= 0 or args.batch <= 0 or args.connections <= 0:
        p.error("--entities, --batch and --connections must be positive")
    print(json.dumps(run(args), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
