#!/usr/bin/env python3
"""The demo end to end, with access control ON: what `scripts/run.sh` shows a visitor.

`cityroom serve --city data/cities/gangnam.json --demo --scenario market-fire` (the city's
mappings imported first with `cityroom import --city`, so the start stays quick), the admin
from CITYROOM_ADMIN_PASSWORD, a staff key from the CLI. Checks:

1. the catalog lists the simulator's feeds as `simulated` and the city's imports as `fresh`;
   anyone reads the 6 simulated river gauges (Tancheon and Han bridges), all normal;
2. the shipped Gangnam alarm rules (data/rules/gangnam, found from the city id) raise a
   critical Alert for the burning market (GET /cityroom/v1/alarms as staff);
3. an anonymous caller sees neither that Alert (alarm routes 401, Alert entities 404) nor any
   Vehicle (the ambulances); staff see both;
4. the admin switches the scenario back to `normal` (PUT /cityroom/v1/admin/simulator, logged
   in with a session + CSRF token): the temperature alarm clears, or at least stops counting.

Usage: demo_test.py --binary PATH/cityroom
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
import run_cases  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
CITY = REPO / "data" / "cities" / "gangnam.json"
ADMIN_PASSWORD = "demo-admin-password"
FIRE_DEADLINE_S = 90
CLEAR_DEADLINE_S = 60
ALERT = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
TRANSPORT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def request(port: int, method: str, path: str, body=None, headers: dict | None = None):
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed
    finally:
        c.close()


def alarms(port: int, headers: dict) -> list[dict]:
    st, _, body = request(port, "GET", "/cityroom/v1/alarms", headers=headers)
    assert st == 200, (st, body)
    return body if isinstance(body, list) else body.get("alarms", [])


def value(a: dict, name: str):
    v = a.get(name)
    return v.get("value", v.get("object")) if isinstance(v, dict) else v


def rule_of(a: dict) -> str:
    ref = str(value(a, "refRule") or "")
    return ref or a.get("id", "")


def market_fire_alarms(port: int, headers: dict) -> list[dict]:
    return [a for a in alarms(port, headers)
            if "market-temperature" in rule_of(a) or "market-smoke" in rule_of(a)
            or "market-fire" in rule_of(a)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    binary = args.binary
    tmp = tempfile.mkdtemp(prefix="cityroom-demo-")
    data = os.path.join(tmp, "data")
    os.environ["CITYROOM_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    started = time.monotonic()

    p = subprocess.run([binary, "import", "--city", str(CITY), "--data-dir", data],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"import --city gangnam (rc {p.returncode}: {p.stderr[-300:]})")
    print(f"     (import took {time.monotonic() - started:.1f} s)", flush=True)
    keys = subprocess.run([binary, "key", "create", "--name", "duty", "--role", "staff",
                           "--department", "재난안전과", "--data-dir", data],
                          capture_output=True, text=True, timeout=60)
    check(keys.returncode == 0, f"a staff key from the CLI ({keys.stderr.strip()})")
    staff = {"X-API-Key": keys.stdout.strip()}
    anonymous: dict = {}

    server = run_cases.Server(binary, data, ["--city", str(CITY), "--demo", "--scenario",
                                             "market-fire", "--seed", "3", "--sim-rate", "400"],
                              auth=True)
    port = server.start()
    try:
        # The admin logs in like the web app does: a session cookie and its CSRF token.
        st, hd, me = request(port, "POST", "/cityroom/v1/session",
                             {"username": "admin", "password": ADMIN_PASSWORD})
        check(st == 200 and me.get("role") == "admin", f"the admin logs in ({st} {me})")
        admin = {"Cookie": hd.get("set-cookie", "").split(";")[0],
                 "X-CSRF-Token": (me or {}).get("csrfToken", "")}
        st, _, sim = request(port, "GET", "/cityroom/v1/admin/simulator", headers=admin)
        check(st == 200 and sim.get("running") and sim.get("scenario") == "market-fire",
              f"the simulator runs market-fire ({st} {sim})")
        for who, h, want in (("anonymous", anonymous, 401), ("staff", staff, 403)):
            st, _, _ = request(port, "GET", "/cityroom/v1/admin/simulator", headers=h)
            check(st == want, f"{who}: GET /cityroom/v1/admin/simulator → {want} (got {st})")

        # 1. The catalog, as anyone sees it.
        st, _, datasets = request(port, "GET", "/cityroom/v1/datasets")
        check(st == 200 and isinstance(datasets, list), f"anonymous: GET datasets → 200 ({st})")
        datasets = datasets if isinstance(datasets, list) else []
        sims = [d for d in datasets if d["id"].startswith("sim-")]
        imports = [d for d in datasets if d.get("kind") == "import"]
        check(len(sims) >= 8 and all(d.get("freshness") == "simulated" for d in sims),
              f"{len(sims)} simulator feeds, all simulated "
              f"({[(d['id'], d.get('freshness')) for d in sims if d.get('freshness') != 'simulated']})")
        check(len(imports) >= 10 and all(d.get("freshness") == "fresh" for d in imports),
              f"{len(imports)} imports, all fresh "
              f"({[(d['id'], d.get('freshness')) for d in imports if d.get('freshness') != 'fresh']})")

        check(any(d["id"] == "sim-water-levels" and "FloodMonitoring" in d.get("entityTypes", [])
                  for d in sims), "the catalog lists the river gauges' feed (sim-water-levels)")

        # 1b. The river gauges (public) at Gangnam's bridges over the Tancheon and the Han.
        env = ('<https://smart-data-models.github.io/dataModel.Environment/context.jsonld>; '
               'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')
        gauges: list = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(gauges) < 6:
            st, _, gauges = request(port, "GET", "/ngsi-ld/v1/entities?type=FloodMonitoring"
                                    "&options=keyValues&limit=100", headers={"Link": env})
            gauges = gauges if st == 200 and isinstance(gauges, list) else []
            time.sleep(1)
        rivers = {g.get("riverName") for g in gauges}
        check(len(gauges) == 6 and rivers == {"탄천", "한강"}
              and all(str(g.get("refFacility", "")).startswith("urn:ngsi-ld:Bridge:")
                      and g.get("floodLevelStatus") == "normal" for g in gauges),
              f"anonymous: 6 river gauges on the Tancheon and the Han, all normal "
              f"({[(g.get('id'), g.get('riverName'), g.get('floodLevelStatus')) for g in gauges]})")

        # 2. The shipped rules raise a critical Alert for the burning market.
        deadline = time.monotonic() + FIRE_DEADLINE_S
        fire: list[dict] = []
        while time.monotonic() < deadline:
            fire = [a for a in market_fire_alarms(port, staff)
                    if value(a, "severity") == "critical"]
            if any("market-temperature" in rule_of(a) and "rise" not in rule_of(a) for a in fire):
                break
            time.sleep(1)
        temp = [a for a in fire if "market-temperature" in rule_of(a) and "rise" not in rule_of(a)]
        check(bool(temp), f"staff: a critical market-temperature Alert within {FIRE_DEADLINE_S} s "
                          f"(fire alarms: {[rule_of(a) for a in fire]})")
        if temp:
            a = temp[0]
            print(f"     {a['id']}: severity {value(a, 'severity')}, count {value(a, 'count')}, "
                  f"last {value(a, 'lastValue')}", flush=True)
            alert_id = a["id"]
            q = urllib.parse.quote(alert_id, safe="")
            # 3. Anonymous sees neither the alarm nor the Alert entity; staff see both.
            for path in ("/cityroom/v1/alarms", f"/cityroom/v1/alarms/{q}"):
                st, _, _ = request(port, "GET", path, headers=anonymous)
                check(st == 401, f"anonymous: GET {path} → 401 (got {st})")
            st, _, _ = request(port, "GET", f"/ngsi-ld/v1/entities/{q}")
            check(st == 404, f"anonymous: the Alert entity → 404 (got {st})")
            alert_link = {"Link": f'<{ALERT}>; rel="http://www.w3.org/ns/json-ld#context"'}
            query = "/ngsi-ld/v1/entities?type=Alert&limit=100"
            st, _, body = request(port, "GET", query, headers=alert_link)
            check(st == 200 and body == [], f"anonymous: no Alert in a query ({st}, {body and len(body)})")
            st, _, body = request(port, "GET", query, headers={**alert_link, **staff})
            check(st == 200 and any(e["id"] == alert_id for e in body),
                  f"staff: the same query finds the Alert ({st}, {body and len(body)})")
            st, _, _ = request(port, "GET", f"/ngsi-ld/v1/entities/{q}", headers=staff)
            check(st == 200, f"staff: the Alert entity → 200 (got {st})")
            st, _, _ = request(port, "GET", f"/cityroom/v1/alarms/{q}", headers=staff)
            check(st == 200, f"staff: GET the alarm → 200 (got {st})")

        link = {"Link": f'<{TRANSPORT}>; rel="http://www.w3.org/ns/json-ld#context"'}
        st, _, body = request(port, "GET", "/ngsi-ld/v1/entities?type=Vehicle&limit=100", headers=link)
        check(st == 200 and body == [], f"anonymous: no Vehicle ({st}, {body and len(body)})")
        st, _, body = request(port, "GET", "/ngsi-ld/v1/entities?type=Vehicle&limit=100",
                              headers={**link, **staff})
        check(st == 200 and len(body) >= 4, f"staff: the ambulances ({st}, {body and len(body)})")
        st, _, body = request(port, "GET", "/ngsi-ld/v1/entities?type=FacilitySensor&limit=5")
        check(st == 200 and body == [], f"anonymous: no FacilitySensor ({st})")

        # 4. Back to normal: the temperature alarm clears (or at least stops counting).
        st, _, _ = request(port, "PUT", "/cityroom/v1/admin/simulator", {"scenario": "normal"},
                           headers={k: v for k, v in admin.items() if k != "X-CSRF-Token"})
        check(st == 403, f"admin session without X-CSRF-Token: PUT simulator → 403 (got {st})")
        st, _, sim = request(port, "PUT", "/cityroom/v1/admin/simulator", {"scenario": "normal"},
                             headers=admin)
        check(st == 200 and (sim or {}).get("scenario") == "normal",
              f"admin: PUT simulator scenario normal → 200 ({st} {sim})")
        if temp:
            alert_id = temp[0]["id"]
            deadline = time.monotonic() + CLEAR_DEADLINE_S
            state, counts = None, []
            while time.monotonic() < deadline:
                st, _, a = request(port, "GET",
                                   f"/cityroom/v1/alarms/{urllib.parse.quote(alert_id, safe='')}",
                                   headers=staff)
                state = value(a, "status") if st == 200 else f"HTTP {st}"
                counts.append(value(a, "count") if st == 200 else None)
                if state == "cleared":
                    break
                time.sleep(2)
            if state == "cleared":
                check(True, "back to normal: the temperature alarm is cleared")
            else:
                # Not cleared in time: then it must at least have stopped counting.
                tail = counts[-5:]
                check(len(set(tail)) == 1,
                      f"back to normal: the temperature alarm stops counting (state {state}, "
                      f"counts {tail})")
        # 5. The typhoon: the shipped weather rules raise heavy rain or strong wind, and both
        #    clear again after the switch back to normal.
        st, _, sim = request(port, "PUT", "/cityroom/v1/admin/simulator", {"scenario": "typhoon"},
                             headers=admin)
        check(st == 200, f"admin: PUT simulator scenario typhoon → 200 ({st} {sim})")

        def weather_alarms(status: str) -> list[dict]:
            return [a for a in alarms(port, staff)
                    if any(r in rule_of(a) for r in ("heavy-rain", "strong-wind"))
                    and value(a, "status") == status]

        deadline = time.monotonic() + FIRE_DEADLINE_S
        raised: list[dict] = []
        while time.monotonic() < deadline and not raised:
            raised = weather_alarms("raised")
            if not raised:
                time.sleep(2)
        check(bool(raised), f"typhoon: a heavy-rain or strong-wind Alert within {FIRE_DEADLINE_S} s")
        st, _, _ = request(port, "PUT", "/cityroom/v1/admin/simulator", {"scenario": "normal"},
                           headers=admin)
        check(st == 200, f"admin: PUT simulator scenario normal → 200 ({st})")
        if raised:
            ids = {a["id"] for a in raised}
            deadline = time.monotonic() + CLEAR_DEADLINE_S * 2
            still: set = ids
            while time.monotonic() < deadline and still:
                still = ids & {a["id"] for a in weather_alarms("raised")}
                if still:
                    time.sleep(2)
            check(not still, f"typhoon over: the weather alarms clear ({sorted(still)} still raised)")
        print(f"     (whole test {time.monotonic() - started:.1f} s)")
    finally:
        server.stop()

    print(f"\n{len(FAILURES)} failure(s)")
    for f in FAILURES:
        print("  " + f)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
