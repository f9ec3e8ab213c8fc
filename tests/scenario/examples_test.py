#!/usr/bin/env python3
"""Every Smart Data Models example in shared/data/ngsi-ld/examples must create, retrieve and
query correctly (NGSI-LD.md "Fixtures").

For each example file, in its own tenant (the concise and normalized examples of one model share
their id):
  1. POST it as is (Content-Type application/ld+json, its own @context) → 201;
  2. GET it back in its own form (options=concise for concise files, the default normalized for
     the others) with its context in a Link header → equal to the input, ignoring @context and
     system attributes, and treating equal instants of observedAt as equal;
  3. GET with Accept application/ld+json → the body carries an @context;
  4. find it by type, by a q on one of its number or string Properties, and by a geo-query on its
     location (near;maxDistance==10 on a Point, intersects with its own geometry otherwise) — each
     in concise and normalized form; each positive query is paired with a negative one that must
     return nothing, so a query that ignores its filter fails.

Two examples are not valid NGSI-LD and must be refused with 400 BadRequestData, storing nothing
(see EXPECTED_REJECTIONS for the clause).

Usage: examples_test.py --binary PATH [--examples DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402  (shared server/HTTP helpers)

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
ATTRIBUTE_KINDS = {"Property", "Relationship", "GeoProperty", "LanguageProperty", "VocabProperty",
                   "ListProperty", "ListRelationship", "JsonProperty"}
SYSTEM_MEMBERS = {"@context", "createdAt", "modifiedAt"}
NOT_ATTRIBUTES = {"id", "type", "scope", "@context", "createdAt", "modifiedAt"}

# GS CIM 009 v1.8 clause 4.5 / 5.2.5-5.2.6: an attribute's "type" must be one of the attribute
# kinds, and a Relationship's "object" must be a URI; otherwise the create is BadRequestData.
EXPECTED_REJECTIONS = {
    "Environment.FloodMonitoring.example-normalized.jsonld":
        'floodLevelStatus, observationDateTime and stationID have "type": "string", which is not '
        "an NGSI-LD attribute type",
    "Environment.WaterObserved.example-normalized.jsonld":
        'dateObserved is a Relationship whose object "2020-03-17T08:45:00.209Z" is not a URI',
}

# Latitude 168.37 is no WGS84 position (RFC 7946 3.1.1). Refusing it (400 BadRequestData) or
# storing it are both defensible; either way nothing half-done may happen, and no geo-query is
# run on it.
OUT_OF_RANGE_GEOMETRY = {
    "Transportation.RoadAccident.example.jsonld": "location latitude 168.370658 is outside [-90, 90]",
}


def examples_dir(explicit: str | None) -> Path:
    candidates = [Path(explicit)] if explicit else []
    shared = run_cases.shared_data_dir()
    if shared:
        candidates.append(shared / "ngsi-ld" / "examples")
    for c in candidates:
        if c.is_dir() and any(c.glob("*.jsonld")):
            return c
    raise SystemExit(f"FAIL: no NGSI-LD examples found (looked in {[str(c) for c in candidates]})")


def link_header(context) -> str | None:
    """The Link header for an example's @context: its last non-core URL (later contexts take
    precedence in JSON-LD, and the core context is always implied)."""
    urls = context if isinstance(context, list) else [context]
    urls = [u for u in urls if isinstance(u, str) and u != CORE_CONTEXT]
    if not urls:
        return None
    return f'<{urls[-1]}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def instant(text: str) -> str:
    """observedAt values compare as instants: '...:00Z', '...:00.000Z', '...+00:00' are equal."""
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc).isoformat()
    except ValueError:
        return text


def normalize(value, key: str | None = None):
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items() if k not in SYSTEM_MEMBERS}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if key == "observedAt" and isinstance(value, str):
        return instant(value)
    return value


def first_difference(expected, actual, path: str = "$") -> str | None:
    if type(expected) is not type(actual) and not (
            isinstance(expected, (int, float)) and isinstance(actual, (int, float))
            and not isinstance(expected, bool) and not isinstance(actual, bool)):
        return f"{path}: expected {short(expected)}, got {short(actual)}"
    if isinstance(expected, dict):
        for k in expected:
            if k not in actual:
                return f"{path}.{k}: missing (expected {short(expected[k])})"
            d = first_difference(expected[k], actual[k], f"{path}.{k}")
            if d:
                return d
        extra = sorted(set(actual) - set(expected))
        return f"{path}: unexpected members {extra}" if extra else None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} elements, got {len(actual)}: {short(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            d = first_difference(e, a, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if expected == actual else f"{path}: expected {short(expected)}, got {short(actual)}"


def short(v) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) < 200 else text[:200] + "..."


def plain_value(attr, form: str):
    """The Property value of an attribute in the given form, or None when it is not a plain
    Property (the attributes q and geo-queries are built from)."""
    if form == "normalized":
        if isinstance(attr, dict) and attr.get("type") == "Property":
            return attr.get("value")
        return None
    if isinstance(attr, dict):
        if set(attr) & {"object", "languageMap", "vocab", "valueList", "objectList", "json"}:
            return None
        return attr.get("value") if "value" in attr else None
    return attr


def q_for(doc: dict, form: str) -> tuple[str, str] | None:
    """A q that matches the example and one that must not: prefers an integer Property, then a
    decimal, then a plain string."""
    numbers, decimals, strings = [], [], []
    for name, attr in doc.items():
        if name in NOT_ATTRIBUTES or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            continue
        v = plain_value(attr, form)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            numbers.append((name, v))
        elif isinstance(v, float) and "e" not in repr(v):
            decimals.append((name, v))
        elif isinstance(v, str) and re.fullmatch(r"[\w .,:/-]{1,60}", v) and '"' not in v:
            strings.append((name, v))
    if numbers:
        name, v = numbers[0]
        return f"{name}=={v}", f"{name}=={v + 1}"
    if decimals:
        name, v = decimals[0]
        return f"{name}=={v!r}", f"{name}=={v + 1!r}"
    if strings:
        name, v = strings[0]
        return f'{name}=="{v}"', f'{name}=="{v}-nomatch"'
    return None


def geometry_of(doc: dict, form: str):
    loc = doc.get("location")
    if loc is None:
        return None
    if form == "normalized":
        return loc.get("value") if isinstance(loc, dict) and loc.get("type") == "GeoProperty" else None
    return loc if isinstance(loc, dict) and "coordinates" in loc else loc.get("value") if isinstance(loc, dict) else None


def shifted(coordinates, dlon: float):
    if isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], (int, float)):
        return [coordinates[0] + dlon] + coordinates[1:]
    return [shifted(c, dlon) for c in coordinates]


def geo_params(geometry: dict) -> tuple[str, str]:
    """Query strings (positive, negative) for a geometry."""
    gtype, coords = geometry["type"], geometry["coordinates"]
    far = shifted(coords, 1.0)  # one degree of longitude east: tens of kilometres away
    rel = "near;maxDistance==10" if gtype == "Point" else "intersects"
    c = lambda x: urllib.parse.quote(json.dumps(x, separators=(",", ":")))
    return (f"georel={rel}&geometry={gtype}&coordinates={c(coords)}",
            f"georel={rel}&geometry={gtype}&coordinates={c(far)}")


class ExampleCheck:
    def __init__(self, port: int, path: Path):
        self.port = port
        self.path = path
        self.name = path.name
        self.form = "normalized" if "normalized" in path.name else "concise"
        self.raw = path.read_bytes()
        self.doc = json.loads(self.raw)
        self.tenant = "ex-" + re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
        self.link = link_header(self.doc.get("@context"))
        self.failures: list[str] = []

    def request(self, method: str, target: str, headers=None, body=None):
        h = [("NGSILD-Tenant", self.tenant)] + list(headers or [])
        return run_cases.http_request(self.port, method, target, h, body)

    def read_headers(self, accept: str | None = None):
        h = [("Link", self.link)] if self.link else []
        if accept:
            h.append(("Accept", accept))
        return h

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def run(self) -> list[str]:
        reply = self.request("POST", "/ngsi-ld/v1/entities", [("Content-Type", "application/ld+json")], self.raw)
        if self.name in EXPECTED_REJECTIONS:
            self.check_rejected(reply, EXPECTED_REJECTIONS[self.name])
            return self.failures
        if self.name in OUT_OF_RANGE_GEOMETRY and reply.status == 400:
            self.check_rejected(reply, OUT_OF_RANGE_GEOMETRY[self.name])
            return self.failures
        if reply.status != 201:
            self.fail(f"POST: expected 201, got {reply.status}: {reply.text()[:500]}")
            return self.failures
        self.check_retrieve()
        self.check_ld_json()
        self.check_queries()
        return self.failures

    def check_rejected(self, reply, why: str) -> None:
        if reply.status != 400:
            self.fail(f"POST: expected 400 BadRequestData ({why}), got {reply.status}")
        elif "BadRequestData" not in reply.text():
            self.fail(f"POST: 400 but not BadRequestData: {reply.text()[:300]}")
        entity = urllib.parse.quote(self.doc["id"], safe=":")
        after = self.request("GET", f"/ngsi-ld/v1/entities/{entity}")
        if after.status != 404:
            self.fail(f"the refused example was stored anyway (GET gave {after.status})")

    def entity_path(self) -> str:
        return "/ngsi-ld/v1/entities/" + urllib.parse.quote(self.doc["id"], safe=":")

    def expected(self):
        return normalize({k: v for k, v in self.doc.items() if k != "@context"})

    def options(self, form: str) -> str:
        return "options=concise" if form == "concise" else "options=normalized"

    def check_retrieve(self) -> None:
        reply = self.request("GET", f"{self.entity_path()}?{self.options(self.form)}", self.read_headers())
        if reply.status != 200:
            self.fail(f"GET ({self.form}): expected 200, got {reply.status}: {reply.text()[:300]}")
            return
        diff = first_difference(self.expected(), normalize(reply.json()))
        if diff:
            self.fail(f"GET ({self.form}) differs from the input: {diff}")

    def check_ld_json(self) -> None:
        reply = self.request("GET", f"{self.entity_path()}?{self.options(self.form)}",
                             self.read_headers("application/ld+json"))
        if reply.status != 200:
            self.fail(f"GET (Accept application/ld+json): expected 200, got {reply.status}")
            return
        body = reply.json()
        if "@context" not in body:
            self.fail("GET (Accept application/ld+json): no @context in the body")
        diff = first_difference(self.expected(), normalize(body))
        if diff:
            self.fail(f"GET (Accept application/ld+json) differs from the input: {diff}")

    def check_queries(self) -> None:
        etype = self.doc["type"]
        etype = etype[0] if isinstance(etype, list) else etype
        t = urllib.parse.quote(etype)
        self.query_pair("type", f"type={t}", f"type={t}NoSuchType")
        q = q_for(self.doc, self.form)
        if q is None:
            self.fail("no number or string Property to build a q from (fixture changed?)")
        else:
            pos, neg = (urllib.parse.quote(x, safe="=") for x in q)
            self.query_pair(f"q {q[0]}", f"type={t}&q={pos}", f"type={t}&q={neg}")
        geometry = geometry_of(self.doc, self.form)
        if geometry is not None and self.name not in OUT_OF_RANGE_GEOMETRY:
            pos, neg = geo_params(geometry)
            self.query_pair(f"geo {geometry['type']}", f"type={t}&{pos}", f"type={t}&{neg}")
            self.query_pair(f"geo {geometry['type']} (no type)", pos, neg)

    def query_pair(self, what: str, positive: str, negative: str) -> None:
        for form in ("concise", "normalized"):
            reply = self.request("GET", f"/ngsi-ld/v1/entities?{positive}&{self.options(form)}",
                                 self.read_headers())
            if reply.status != 200:
                self.fail(f"query by {what} ({form}): expected 200, got {reply.status}: {reply.text()[:300]}")
                continue
            found = reply.json()
            if not isinstance(found, list) or [e.get("id") for e in found] != [self.doc["id"]]:
                self.fail(f"query by {what} ({form}): expected exactly [{self.doc['id']}], got "
                          f"{[e.get('id') for e in found] if isinstance(found, list) else short(found)}")
                continue
            self.check_form(found[0], form, f"query by {what}")
        reply = self.request("GET", f"/ngsi-ld/v1/entities?{negative}", self.read_headers())
        if reply.status != 200 or reply.json() != []:
            self.fail(f"negative query by {what} ({negative}): expected 200 [], got {reply.status} "
                      f"{reply.text()[:200]}")

    def check_form(self, entity: dict, form: str, what: str) -> None:
        if form == self.form:
            diff = first_difference(self.expected(), normalize(entity))
            if diff:
                self.fail(f"{what} ({form}): entity differs from the input: {diff}")
            return
        wrong = []
        for name, attr in entity.items():
            if name in NOT_ATTRIBUTES:
                continue
            instances = attr if isinstance(attr, list) and form == "normalized" else [attr]
            for inst in instances:
                if form == "normalized" and not (isinstance(inst, dict) and inst.get("type") in ATTRIBUTE_KINDS):
                    wrong.append(name)
                if form == "concise" and isinstance(inst, dict) and inst.get("type") == "Property":
                    wrong.append(name)
        if wrong:
            how = "not normalized" if form == "normalized" else "still typed Property"
            self.fail(f"{what} ({form}): attributes {how}: {', '.join(sorted(set(wrong)))}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--examples")
    ap.add_argument("--server-arg", action="append", default=[])
    args = ap.parse_args(argv)
    files = sorted(examples_dir(args.examples).glob("*.jsonld"))
    tmp = tempfile.mkdtemp(prefix="cityroom-examples-")
    server = run_cases.Server(args.binary, os.path.join(tmp, "data"), args.server_arg)
    failed = 0
    try:
        server.start()
        for path in files:
            failures = ExampleCheck(server.port, path).run()
            if failures:
                failed += 1
                print(f"FAIL {path.name}")
                for f in failures:
                    print(f"     - {f}")
            else:
                note = " (refused as expected)" if path.name in EXPECTED_REJECTIONS else ""
                print(f"PASS {path.name}{note}")
            if not server.alive():
                print(f"FAIL server died after {path.name}\n{server.log_tail()}")
                return 1
        rc = server.stop()
        if rc != 0:
            print(f"FAIL server exited with {rc} after SIGTERM\n{server.log_tail()}")
            failed += 1
    except run_cases.ServerError as e:
        print(f"FAIL {e}")
        return 1
    finally:
        server.kill()
        if failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"     (data dir and server log kept in {tmp})")
    print(f"\n{len(files) - failed} of {len(files)} examples passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
