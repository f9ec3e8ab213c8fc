#!/usr/bin/env python3
"""A city is configuration: `cityroom serve --city FILE` imports the city, registers its
datasets and connectors, and serves /cityroom/v1/city — for Gangnam-gu and, by its file alone,
Dobong-gu.

1. Gangnam from an empty data dir: /city; 22 dongs, 7,007 CCTV (the issue's 7,006 is the
   file's newline count; it has 7,007 records, the last without a newline), 648 KTDB road links;
   19 import datasets fresh with their record counts; 5 connectors not-configured (no keys).
2. Restart on the same dir: no mapping re-imported ("unchanged"), the same counts (no
   duplicates), the datasets' lastSuccess kept.
3. Dobong by its city file on another dir: /city says Dobong, 14 dongs, 104 road links.
4. The small test city (tests/api/catalog/small-city): the API cases in with_city.cases, and a
   connector whose source is a closed local port shows `unreachable` with the reason.
5. `cityroom connector replay` on every recorded sample into a data dir, then served: entities
   and the dataset are there.
Usage: city_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

# The first start imports the whole city before it listens.
run_cases.START_TIMEOUT_S = 180
SAMPLES = next(p for p in (REPO.parent / "shared" / "data" / "api-samples",
                           Path("/work/shared/data/api-samples")) if p.exists())
SDM = "https://raw.githubusercontent.com/smart-data-models/dataModel.{}/master/context.jsonld"
KEYS = ("CITYROOM_KMA_KEY", "CITYROOM_AIRKOREA_KEY", "CITYROOM_SEOUL_KEY")


class Failed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)
    print(f"ok   {what}")


def link(domain: str) -> tuple[str, str]:
    return ("Link", f'<{SDM.format(domain)}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"')


def count(port: int, query: str, headers=None) -> int:
    r = run_cases.http_request(port, "GET", f"/ngsi-ld/v1/entities?{query}&count=true&limit=0",
                               headers)
    check(r.status == 200, f"GET ?{query}: {r.status}")
    return int(r.header("NGSILD-Results-Count"))


def get_json(port: int, target: str):
    r = run_cases.http_request(port, "GET", target)
    if r.status != 200:
        raise Failed(f"GET {target}: {r.status} {r.text()[:300]}")
    return r.json()


def serve(binary: str, data_dir: str, city: Path) -> tuple[run_cases.Server, float]:
    server = run_cases.Server(binary, data_dir, ["--city", str(city)])
    started = time.monotonic()
    server.start()
    return server, time.monotonic() - started


def gangnam(binary: str, tmp: str) -> None:
    data_dir = os.path.join(tmp, "gangnam")
    server, seconds = serve(binary, data_dir, REPO / "data/cities/gangnam.json")
    print(f"     Gangnam from an empty data dir: listening after {seconds:.1f} s")
    try:
        port = server.port
        city = get_json(port, "/cityroom/v1/city")
        check(city["adminCode"] == "1168000000" and city["name"]["en"] == "Gangnam-gu, Seoul",
              "/city is Gangnam-gu")
        check(count(port, "type=AdministrativeArea&q=adminLevel==%22dong%22") == 22, "22 dongs")
        check(count(port, "type=Camera", [link("Device")]) == 7007, "7,007 CCTV")
        check(count(port, "type=RoadSegment&q=network==%22KTDB-5.5%22",
                    [link("Transportation")]) == 648, "648 KTDB road links")
        datasets = get_json(port, "/cityroom/v1/datasets")
        imports = [d for d in datasets if d["kind"] == "import"]
        connectors = [d for d in datasets if d["kind"] == "connector"]
        check(len(imports) == 19 and all(d["freshness"] == "fresh" for d in imports),
              "19 import datasets, all fresh")
        by_id = {d["id"]: d for d in datasets}
        check(by_id["gangnam-safety-cctv"]["recordCount"] == 7007 and
              by_id["gangnam-safety-cctv"]["name"]["ko"] == "강남구 안심이 CCTV",
              "the CCTV dataset: 7,007 records, Korean name from the mapping's dataset block")
        check(len(connectors) == 5 and all(d["freshness"] == "not-configured" for d in connectors),
              "5 connectors, not-configured without keys")
        first_success = by_id["gangnam-road-links"]["lastSuccess"]
    finally:
        check(server.stop() == 0, "Gangnam server stops with 0")
    server, seconds = serve(binary, data_dir, REPO / "data/cities/gangnam.json")
    print(f"     Gangnam restart on the imported dir: listening after {seconds:.1f} s")
    try:
        port = server.port
        log = Path(server.stderr_path).read_text(encoding="utf-8", errors="replace")
        restart_log = log[log.rfind("import gangnam-boundary-gu"):]
        check(restart_log.count("unchanged since the last import") == 19,
              "restart: all 19 mappings unchanged, none re-imported")
        check(count(port, "type=Camera", [link("Device")]) == 7007, "restart: still 7,007 CCTV")
        check(count(port, "type=AdministrativeArea") == 23, "restart: still 1 gu + 22 dongs")
        check(get_json(port, "/cityroom/v1/datasets/gangnam-road-links")["lastSuccess"] ==
              first_success, "restart: the dataset's lastSuccess is kept")
    finally:
        check(server.stop() == 0, "Gangnam server stops with 0 again")


def dobong(binary: str, tmp: str) -> None:
    server, seconds = serve(binary, os.path.join(tmp, "dobong"), REPO / "data/cities/dobong.json")
    print(f"     Dobong from an empty data dir: listening after {seconds:.1f} s")
    try:
        port = server.port
        city = get_json(port, "/cityroom/v1/city")
        check(city["adminCode"] == "1132000000" and city["name"]["ko"] == "서울특별시 도봉구",
              "/city is Dobong-gu")
        check(count(port, "type=AdministrativeArea&q=adminLevel==%22dong%22") == 14,
              "14 Dobong dongs")
        check(count(port, "type=RoadSegment&q=network==%22KTDB-5.5%22",
                    [link("Transportation")]) == 104, "104 Dobong road links")
        check(count(port, "type=Camera", [link("Device")]) == 0, "no CCTV file for Dobong")
    finally:
        check(server.stop() == 0, "Dobong server stops with 0")


def small_city(binary: str) -> None:
    city = REPO / "tests/api/catalog/small-city/city.json"
    runner = run_cases.Runner(binary, ["--city", str(city)], verbose=False)
    passed, failed = runner.run_file(REPO / "tests/api/catalog/with_city.cases")
    check(failed == 0 and passed > 0, f"with_city.cases: {passed} passed, {failed} failed")
    with tempfile.TemporaryDirectory(prefix="cityroom-small-") as tmp:
        server, _ = serve(binary, os.path.join(tmp, "d"), city)
        try:
            d = {}
            for _ in range(100):
                d = get_json(server.port, "/cityroom/v1/datasets/small-air")
                if d["freshness"] == "unreachable":
                    break
                time.sleep(0.1)
            check(d["freshness"] == "unreachable" and "refused" in (d["failureReason"] or ""),
                  f"a closed source port is unreachable ({d.get('failureReason')})")
            check(d["lastFailure"] is not None and d["lastSuccess"] is None,
                  "unreachable: lastFailure set, no success")
        finally:
            check(server.stop() == 0, "small city server stops with 0")


def replay(binary: str, tmp: str) -> None:
    data_dir = os.path.join(tmp, "replay")
    for name, file, want in (
            ("kma-ncst", "kma_getUltraSrtNcst_20260122_1100_nx60_ny127.json", 1),
            ("airkorea-province", "airkorea_getCtprvnRltmMesureDnsty_seoul_20240702_1700_nover.json", 10),
            ("seoul-citydata", "seoul_citydata_POI009_20260826_EXCERPT.json", 6)):
        out = subprocess.run([binary, "connector", "replay", name, str(SAMPLES / file),
                              "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
        check(out.returncode == 0 and f"{want} upserted" in out.stdout,
              f"replay {name}: {out.stdout.strip()}")
    bad = subprocess.run([binary, "connector", "replay", "kma-ncst",
                          str(REPO / "tests/data/connectors/kma_ncst_nodata.json"),
                          "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
    check(bad.returncode == 1 and "NO_DATA" in bad.stdout, f"replay NO_DATA: {bad.stdout.strip()}")
    unknown = subprocess.run([binary, "connector", "replay", "nope", "x", "--data-dir", data_dir],
                             capture_output=True, text=True, timeout=60)
    check(unknown.returncode == 2, "replay of an unknown connector: exit 2")
    server = run_cases.Server(binary, data_dir)
    server.start()
    try:
        check(count(server.port, "type=WeatherObserved", [link("Weather")]) == 2,
              "replayed: KMA and citydata WeatherObserved")
        check(count(server.port, "type=DisasterMessage") == 1, "replayed: one DisasterMessage")
        d = get_json(server.port, "/cityroom/v1/datasets/kma-ncst")
        check(d["freshness"] == "failed" and "NO_DATA" in d["failureReason"] and
              d["recordCount"] == 1, "the replayed dataset remembers the NO_DATA failure")
    finally:
        check(server.stop() == 0, "replay server stops with 0")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    for k in KEYS:
        os.environ.pop(k, None)
    tmp = tempfile.mkdtemp(prefix="cityroom-city-test-")
    try:
        gangnam(args.binary, tmp)
        dobong(args.binary, tmp)
        small_city(args.binary)
        replay(args.binary, tmp)
    except (Failed, run_cases.ServerError) as e:
        print(f"FAIL {e}\n     (data dirs kept in {tmp})")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS city_test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
