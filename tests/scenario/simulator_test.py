#!/usr/bin/env python3
"""The demo simulator end to end (docs/SIMULATOR.md): a small city (Dobong-gu by its city
file: dongs, markets, emergency rooms, road links, ...) served with `--demo --scenario market-fire`.

1. Through the NGSI-LD API: 119 ambulances (Vehicle) and FacilitySensor entities appear; the
   ambulances' dispatchStatus/location change; the burning market's sensor passes the alarm
   levels (temperature > 60 °C, smokeDensity > 10 %/m); per-dong WeatherObserved,
   AirQualityObserved and RoadSegment averageSpeed are written; a DisasterMessage is issued.
2. Through a screen stream (WebSocket /live/v1/stream): a watch on FacilitySensor and one on
   Vehicle get a snapshot, then deltas that change the entities.
3. Through the admin API: PUT scenario normal → the market's temperature falls below 60 °C.
4. SIGTERM stops the server (exit 0) with the simulator running.
No timing asserts: "eventually" waits with generous deadlines.
Usage: simulator_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
sys.path.insert(0, str(HERE))
import run_cases  # noqa: E402
import wsclient  # noqa: E402

DEADLINE_S = 120
TRANSPORT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
WEATHER = "https://raw.githubusercontent.com/smart-data-models/dataModel.Weather/master/context.jsonld"
ENVIRONMENT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"


def link(url: str) -> tuple[str, str]:
    return ("Link", f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')


def get(port: int, path: str, params: dict[str, str], headers=None):
    q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    r = run_cases.http_request(port, "GET", f"{path}?{q}", list(headers or []), None)
    assert r.status == 200, (path, r.status, r.text()[:300])
    return r.json()


def entities(port: int, type_: str, headers=None) -> dict[str, dict]:
    got = get(port, "/ngsi-ld/v1/entities",
              {"type": type_, "options": "keyValues", "limit": "1000"}, headers)
    return {e["id"]: e for e in got}


def eventually(check, what: str, deadline_s: float = DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.25)


def markets_burning(port: int):
    sensors = entities(port, "FacilitySensor")
    hot = [s for s in sensors.values()
           if s.get("facilityKind") == "market" and s.get("temperature", 0) > 60
           and s.get("smokeDensity", 0) > 10]
    return hot


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cityroom-sim-")
    ok = False
    server = None
    try:
        data_dir = str(Path(tmp) / "data")
        server = run_cases.Server(args.binary, data_dir,
                                  ["--city", str(REPO / "data" / "cities" / "dobong.json"),
                                   "--demo", "--scenario", "market-fire", "--seed", "3",
                                   "--sim-rate", "400"])
        port = server.start()

        status = run_cases.http_request(port, "GET", "/cityroom/v1/admin/simulator", [], None).json()
        assert status["running"] is True and status["scenario"] == "market-fire", status

        # 1. The API sees the live city.
        vehicles = eventually(lambda: (v := entities(port, "Vehicle", [link(TRANSPORT)]))
                              and len(v) >= 4 and v, "four or more ambulances")
        assert all(v.get("vehicleType") == "ambulance" for v in vehicles.values()), vehicles
        print(f"ok: {len(vehicles)} ambulances")
        hot = eventually(lambda: markets_burning(port), "a market sensor past the fire alarm levels")
        print(f"ok: {hot[0]['id']} at {hot[0]['temperature']} °C, smoke {hot[0]['smokeDensity']} %/m")
        sensors = entities(port, "FacilitySensor")
        assert all(s.get("refFacility", "").startswith("urn:ngsi-ld:PointOfInterest:")
                   for s in sensors.values()), sensors
        eventually(lambda: any(v.get("dispatchStatus") != "available"
                               for v in entities(port, "Vehicle", [link(TRANSPORT)]).values()),
                   "an ambulance dispatched")

        def moved():
            now = entities(port, "Vehicle", [link(TRANSPORT)])
            return any(now[i].get("location") != vehicles[i].get("location")
                       or now[i].get("dispatchStatus") != vehicles[i].get("dispatchStatus")
                       for i in vehicles)
        eventually(moved, "an ambulance changed status or position")
        print("ok: ambulances move")
        assert entities(port, "DisasterMessage"), "no disaster message"
        assert len(entities(port, "WeatherObserved", [link(WEATHER)])) == 14
        eventually(lambda: len(entities(port, "AirQualityObserved", [link(ENVIRONMENT)])) == 14,
                   "air quality in every dong")
        roads = eventually(lambda: [r for r in entities(port, "RoadSegment", [link(TRANSPORT)]).values()
                                    if "averageSpeed" in r] or None, "road speeds")
        print(f"ok: weather, air, {len(roads)} road links with speeds, a disaster message")

        # 2. A screen stream sees the same changes.
        # One connection per @context: FacilitySensor is a cityroom type (core context),
        # Vehicle a Smart Data Models one (Transportation).
        conns = {
            "sensors": (wsclient.WebSocket.connect("127.0.0.1", port, "/live/v1/stream"),
                        "FacilitySensor"),
            "ambulances": (wsclient.WebSocket.connect(
                "127.0.0.1", port, "/live/v1/stream?context=" + urllib.parse.quote(TRANSPORT, safe="")),
                "Vehicle"),
        }
        snapshots, deltas = {}, {"sensors": 0, "ambulances": 0}
        for name, (ws, type_) in conns.items():
            ws.send_text(json.dumps({"op": "watch", "query": name, "type": type_,
                                     "options": "keyValues"}))
        deadline = time.monotonic() + DEADLINE_S
        while (len(snapshots) < 2 or min(deltas.values()) == 0) and time.monotonic() < deadline:
            for name, (ws, _) in conns.items():
                try:
                    m = json.loads(ws.recv(1))
                except wsclient.Timeout:
                    continue
                if m["kind"] == "snapshot":
                    snapshots[m["query"]] = m["entities"]
                elif m["kind"] == "delta" and m["query"] in snapshots:
                    assert m["upsert"], m
                    deltas[m["query"]] += 1
                elif m["kind"] == "error":
                    raise AssertionError(m)
        assert len(snapshots) == 2 and min(deltas.values()) > 0, (snapshots.keys(), deltas)
        assert len(snapshots["sensors"]) == len(sensors) and len(snapshots["ambulances"]) >= 4
        for ws, _ in conns.values():
            ws.close()
        print(f"ok: stream snapshots and deltas {deltas}")

        # 3. Back to normal: the fire dies down.
        r = run_cases.http_request(port, "PUT", "/cityroom/v1/admin/simulator",
                                   [("Content-Type", "application/json")],
                                   json.dumps({"scenario": "normal"}).encode())
        assert r.status == 200 and r.json()["scenario"] == "normal", r.text()
        eventually(lambda: not markets_burning(port)
                   and all(s.get("temperature", 0) < 60 for s in entities(port, "FacilitySensor").values()),
                   "the market cooled down")
        print("ok: back to normal, the market cooled down")

        # 4. A clean stop with the simulator running.
        rc = server.stop()
        server = None
        assert rc == 0, f"exit {rc}"
        ok = True
        print("PASS simulator scenario")
        return 0
    except Exception as e:  # noqa: BLE001
        print(f"FAIL: {e}")
        if server:
            print(server.log_tail())
        return 1
    finally:
        if server:
            server.kill()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(kept {tmp})")


if __name__ == "__main__":
    sys.exit(main())
