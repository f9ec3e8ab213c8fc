#!/usr/bin/env python3
"""Every shipped mapping imports the demo data with the expected counts, the server answers
queries on it, and re-importing changes nothing.

1. `cityroom import` of every mapping in data/mappings/gangnam and data/mappings/dobong into a
   fresh data dir: each mapping reports the expected number of entities, none bad.
2. `cityroom serve` on that dir: counts by type and q (22 Gangnam dongs, 7,007 CCTV, 648 KTDB
   road links, ...), scopes keep the districts apart, a geo query near Gangnam station returns
   only cameras within the distance, and the gu entity carries the statistics mappings.
3. Over HTTP (`--url`) while the server runs: road links and bridges upsert again (0 new).
4. Server stopped, everything re-imported from the data dir: 0 new, the same counts.
5. A CSV with bad rows: they are reported as file:line and skipped; a bad mapping is refused
   with a message naming the member.
Usage: import_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

MAPPINGS = REPO / "data" / "mappings"
IMPORT_TIMEOUT_S = 300

# Entities each mapping upserts (the 7,006 CCTV is the file's line count minus one; the
# file has 7,007 records without a final newline, all distinct and inside Gangnam-gu).
EXPECTED = {
    "gangnam-boundary-gu": 1, "gangnam-dongs": 22, "gangnam-kma-grid": 23,
    "gangnam-population": 1, "gangnam-crime-prevention-cctv": 1, "gangnam-police-fire": 1,
    "gangnam-safety-cctv": 7007, "gangnam-bike-accident-hotspots": 13,
    "gangnam-bike-stations": 171, "gangnam-traditional-markets": 3,
    "gangnam-emergency-rooms": 5, "gangnam-heat-shelters": 90, "gangnam-public-toilets": 222,
    "gangnam-public-wifi": 205, "gangnam-schools": 80, "gangnam-public-parking": 37,
    "gangnam-road-links": 648, "gangnam-its-links": 1229, "gangnam-bridges": 28,
    "dobong-boundary-gu": 1, "dobong-dongs": 14, "dobong-kma-grid": 15, "dobong-population": 1,
    "dobong-crime-prevention-cctv": 1, "dobong-police-fire": 1,
    "dobong-bike-accident-hotspots": 18, "dobong-bike-stations": 76,
    "dobong-traditional-markets": 6, "dobong-emergency-rooms": 1, "dobong-heat-shelters": 157,
    "dobong-public-toilets": 102, "dobong-public-wifi": 18, "dobong-schools": 45,
    "dobong-public-parking": 8, "dobong-road-links": 104,
}
REPORT_RE = re.compile(r"^(\S+): (\d+) records, (\d+) filtered out, (\d+) imported "
                       r"\((\d+) new\), (\d+) bad, [\d.]+ s$")

SDM = "https://raw.githubusercontent.com/smart-data-models/dataModel.{}/master/context.jsonld"
GANGNAM_STATION = (127.0276, 37.4979)


def link(domain: str) -> tuple[str, str]:
    return ("Link", f'<{SDM.format(domain)}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"')


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def run_import(binary: str, args: list[str]) -> tuple[int, dict[str, tuple[int, int, int]], str]:
    """Runs `cityroom import`; returns rc, {mapping: (imported, new, bad)} and stderr."""
    p = subprocess.run([binary, "import", *args], capture_output=True, text=True,
                       timeout=IMPORT_TIMEOUT_S, check=False)
    reports = {}
    for line in p.stdout.splitlines():
        m = REPORT_RE.match(line)
        check(m is not None, f"unexpected import output line {line!r}")
        reports[m.group(1)] = (int(m.group(4)), int(m.group(5)), int(m.group(6)))
    return p.returncode, reports, p.stderr


def mapping_args(*districts: str) -> list[str]:
    args = []
    for d in districts:
        for f in sorted((MAPPINGS / d).glob("*.json")):
            args += ["--mapping", str(f)]
    return args


def count(port: int, query: str, headers: list[tuple[str, str]] | None = None) -> int:
    r = run_cases.http_request(port, "GET", f"/ngsi-ld/v1/entities?{query}&count=true&limit=0",
                               headers)
    check(r.status == 200, f"GET ?{query}: {r.status} {r.text()[:300]}")
    return int(r.header("NGSILD-Results-Count"))


def get_json(port: int, target: str, headers: list[tuple[str, str]] | None = None):
    r = run_cases.http_request(port, "GET", target, headers)
    check(r.status == 200, f"GET {target}: {r.status} {r.text()[:300]}")
    return r.json()


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2 +
         math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def check_counts(port: int) -> None:
    gangnam, dobong = "scopeQ=/Seoul/Gangnam", "scopeQ=/Seoul/Dobong"
    check(count(port, f"type=AdministrativeArea&q=adminLevel==%22dong%22&{gangnam}") == 22,
          "22 Gangnam dongs")
    check(count(port, f"type=AdministrativeArea&q=adminLevel==%22dong%22&{dobong}") == 14,
          "14 Dobong dongs")
    check(count(port, "type=Camera", [link("Device")]) == 7007, "7,007 CCTV")
    road = [link("Transportation")]
    check(count(port, f"type=RoadSegment&q=network==%22KTDB-5.5%22&{gangnam}", road) == 648,
          "648 Gangnam road links")
    check(count(port, f"type=RoadSegment&q=network==%22KTDB-5.5%22&{dobong}", road) == 104,
          "104 Dobong road links")
    check(count(port, f"type=RoadSegment&q=network==%22ITS-standard%22", road) == 1229,
          "1,229 ITS links")
    check(count(port, f"type=BikeHireDockingStation&{gangnam}", road) == 171, "171 bike stations")
    poi = [link("PointOfInterest")]
    check(count(port, f"type=PointOfInterest&q=category==%22heatShelter%22&{gangnam}", poi) == 90,
          "90 Gangnam heat shelters")
    check(count(port, f"type=SeniorCenter&{gangnam}") == 21, "21 Gangnam senior centres")
    check(count(port, f"type=PointOfInterest&q=category==%22traditionalMarket%22", poi) == 9,
          "9 markets in both districts")
    check(count(port, "type=Bridge") == 28, "28 bridge links")
    check(count(port, f"type=AccidentHotspot&{gangnam}") == 13, "13 Gangnam hotspots")
    check(count(port, "type=OffStreetParking", [link("Parking")]) == 45, "45 car parks")


def check_queries(port: int) -> None:
    gu = get_json(port, "/ngsi-ld/v1/entities/urn:ngsi-ld:AdministrativeArea:1168000000"
                        "?options=keyValues")
    check(gu["name"] == "강남구" and gu["population"] == 537800 and gu["kmaGridNx"] == 61
          and gu["crimePreventionCctvCount"] == 6495 and gu["location"]["type"] == "Polygon",
          f"the Gangnam gu entity: {json.dumps(gu, ensure_ascii=False)[:300]}")
    near = get_json(port, "/ngsi-ld/v1/entities?type=Camera&limit=1000&options=keyValues"
                          "&georel=near;maxDistance==300&geometry=Point"
                          f"&coordinates=[{GANGNAM_STATION[0]},{GANGNAM_STATION[1]}]",
                    [link("Device")])
    check(len(near) > 0, "cameras near Gangnam station")
    for cam in near:
        d = metres(GANGNAM_STATION, tuple(cam["location"]["coordinates"]))
        check(d <= 300.5, f"{cam['id']} is {d:.0f} m away")
    slow = get_json(port, "/ngsi-ld/v1/entities?type=RoadSegment&options=keyValues&limit=100"
                          "&q=averageSpeedWeekday<15&attrs=averageSpeedWeekday,speedHourly",
                    [link("Transportation")])
    check(len(slow) > 0 and all(s["averageSpeedWeekday"] < 15 and len(s["speedHourly"]) == 24
                                for s in slow), "slow road links with 24 hourly speeds")


def check_bad_input(binary: str, work: Path) -> None:
    mapping = work / "bad.json"
    mapping.write_text(json.dumps({
        "source": {"format": "csv", "encoding": "CP949"},
        "entity": {"type": "Thing", "id": "urn:ngsi-ld:Thing:{id}"},
        "location": {"latitude": "lat", "longitude": "lon"},
        "attributes": {"n": {"column": "n", "type": "integer"}}}))
    csv = work / "bad.csv"
    csv.write_bytes("id,n,lat,lon\r\n1,5,37.5,127.0\r\n2,x,37.5,127.0\r\n3,1,,127.0\r\n"
                    "\"4,1,37.5,127.0\r\n".encode("cp949"))
    rc, reports, err = run_import(binary, ["--data-dir", str(work / "bad-db"), "--mapping",
                                           str(mapping), str(csv)])
    check(rc == 0, f"bad rows do not fail the import: rc {rc}\n{err}")
    check(reports.get("bad") == (1, 1, 3), f"1 imported, 3 bad: {reports}")
    check("bad.csv:3: n 'x' is not a number" in err, f"line 3 reported: {err}")
    check("bad.csv:4: no location" in err, f"line 4 reported: {err}")
    check("bad.csv:5: the quote opened on line 5 is never closed" in err, f"line 5: {err}")
    mapping.write_text(json.dumps({"source": {"format": "csv"},
                                   "entity": {"type": "T", "id": "urn:x:{a}"},
                                   "attributes": {"n": {"column": "n", "type": "float"}}}))
    p = subprocess.run([binary, "import", "--dry-run", "--mapping", str(mapping), str(csv)],
                       capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S, check=False)
    check(p.returncode == 2 and "bad.json: attributes.n.type: 'float' is not one of" in p.stderr,
          f"a bad mapping is refused: rc {p.returncode} {p.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cityroom-import-"))
    data_dir = work / "db"
    server = run_cases.Server(args.binary, str(data_dir))
    try:
        rc, reports, err = run_import(args.binary, ["--data-dir", str(data_dir),
                                                    *mapping_args("gangnam", "dobong")])
        check(rc == 0, f"import rc {rc}\n{err}")
        check(set(reports) == set(EXPECTED), f"mappings run: {sorted(reports)}")
        for name, n in EXPECTED.items():
            check(reports[name][0] == n and reports[name][2] == 0,
                  f"{name}: (imported, new, bad) {reports[name]}, want {n} imported, 0 bad")
        print(f"imported {sum(r[1] for r in reports.values())} new entities from "
              f"{len(reports)} mappings")

        port = server.start()
        check_counts(port)
        check_queries(port)
        url = f"http://127.0.0.1:{port}"
        rc, again, err = run_import(args.binary, ["--url", url, "--mapping",
                                                  str(MAPPINGS / "gangnam" / "17-road-links.json"),
                                                  "--mapping",
                                                  str(MAPPINGS / "gangnam" / "19-bridges.json")])
        check(rc == 0 and again == {"gangnam-road-links": (648, 0, 0),
                                    "gangnam-bridges": (28, 0, 0)},
              f"HTTP re-import: rc {rc} {again}\n{err}")
        check_counts(port)
        check(server.stop() == 0, "server exits 0")

        rc, again, err = run_import(args.binary, ["--data-dir", str(data_dir),
                                                  *mapping_args("gangnam", "dobong")])
        check(rc == 0, f"re-import rc {rc}\n{err}")
        for name, n in EXPECTED.items():
            check(again[name] == (n, 0, 0), f"re-import {name}: {again[name]}, want ({n}, 0, 0)")
        port = server.start()
        check_counts(port)
        check(server.stop() == 0, "server exits 0")

        check_bad_input(args.binary, work)
        print("import scenario: OK")
        return 0
    except (AssertionError, run_cases.ServerError) as e:
        print(f"FAILED: {e}\n{server.log_tail() if server.proc else ''}", file=sys.stderr)
        return 1
    finally:
        if server.alive():
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
