#!/usr/bin/env python3
"""Access control end to end (docs/ACCESS.md, issue #7) against a real `cityroom serve`.

A table-driven matrix: role (anonymous, public/device/staff/executive/admin keys, staff of the
department a restricted type names, a key of another tenant) × API family (entity GET, query,
batch query, temporal, /types, /attributes, PATCH, batch upsert, DELETE, subscriptions, screen
streams, admin routes) × visibility (public Camera, staff Vehicle, default-staff Unlisted,
restricted Patient) → the answer each must get. Then: tenant isolation, session + CSRF, login
throttling, key revocation (HTTP and CLI, taking effect at once), subscription notifications
limited to their creator's view, the audit log, security headers and CORS, rate limits,
--no-auth refused off loopback, and OIDC bearer tokens (RS256) with their claims checked.
Last, on the shipped visibility and the Gangnam city: role (anonymous, public, device, staff,
admin) × cityroom's own route families (city, datasets, simulator, alarms, pledges, requests,
indicators, call centre, press, search, Open311, the web app), incl. an anonymous Open311 POST
authorised by Open311's api_key and no personal data in any public answer.

Usage: access_test.py --binary PATH/cityroom
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_cases  # noqa: E402
import wsclient  # noqa: E402

ADMIN_PASSWORD = "admin-secret-for-tests"
FAILURES: list[str] = []

VISIBILITY = {
    "default": "staff",
    "types": {
        "Camera": "public",
        "Vehicle": "staff",
        "Patient": {"visibility": "restricted", "departments": ["119"]},
    },
}

ENTITIES = {
    "Camera": "urn:ngsi-ld:Camera:c1",
    "Vehicle": "urn:ngsi-ld:Vehicle:v1",
    "Unlisted": "urn:ngsi-ld:Unlisted:u1",
    "Patient": "urn:ngsi-ld:Patient:p1",
}
ALL_TYPES = ",".join(ENTITIES)


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


class Client:
    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
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


def cli(binary: str, data_dir: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args, "--data-dir", data_dir], input=stdin,
                          capture_output=True, text=True, timeout=60)


def make_key(binary: str, data_dir: str, name: str, role: str, *extra: str) -> str:
    p = cli(binary, data_dir, "key", "create", "--name", name, "--role", role, *extra)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def entity(kind: str, value: float = 1.0) -> dict:
    return {"id": ENTITIES[kind], "type": kind, "level": {"type": "Property", "value": value}}


# ---- screen streams (SSE) --------------------------------------------------------------------

def sse_ids(port: int, headers: dict, seconds: float = 1.5) -> set[str]:
    """Entity ids a screen stream delivers (snapshot and deltas) within `seconds`."""
    s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    lines = [f"GET /live/v1/stream?type={ALL_TYPES}&options=keyValues HTTP/1.1",
             f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    s.close()
    ids: set[str] = set()
    for line in buf.decode(errors="replace").splitlines():
        if not line.startswith("data:"):
            continue
        try:
            msg = json.loads(line[5:])
        except ValueError:
            continue
        for e in msg.get("entities", []) + msg.get("upsert", []):
            ids.add(e["id"])
    return ids


# ---- notification sink -----------------------------------------------------------------------

class Sink:
    """Collects notification bodies per path."""

    def __init__(self):
        self.received: dict[str, list[dict]] = {}
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                with lock:
                    outer.received.setdefault(self.path, []).append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self, path: str) -> set[str]:
        out = set()
        for n in self.received.get(path, []):
            for e in n.get("data", []):
                out.add(e["id"])
        return out


# ---- the matrix ------------------------------------------------------------------------------

def visible_set(role: str) -> set[str]:
    """Which of the four entity kinds each principal may see (the expectation table)."""
    return {
        "anonymous": {"Camera"},
        "public": {"Camera"},
        "device": {"Camera", "Vehicle"},  # public + its scope (Vehicle)
        "staff": {"Camera", "Vehicle", "Unlisted"},
        "staff119": {"Camera", "Vehicle", "Unlisted", "Patient"},
        "executive": set(ENTITIES),
        "admin": set(ENTITIES),
        "tenantB": set(),  # its tenant is b: the default tenant is refused outright
    }[role]


def write_expect(role: str, kind: str) -> int:
    if role == "anonymous":
        return 401
    if role == "tenantB":
        return 403
    if role == "public":
        return 403
    if kind not in visible_set(role):
        return 404  # invisible: answered as missing
    if role == "device" and kind != "Vehicle":
        return 403  # visible (public) but outside its scope
    return 204


def run_matrix(c: Client, creds: dict[str, dict]) -> None:
    for role, h in creds.items():
        see = visible_set(role)
        refused = 403 if role == "tenantB" else None
        # entity GET: 200 when visible, 404 (not 403) otherwise
        for kind, eid in ENTITIES.items():
            st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{eid}", headers=h)
            want = refused or (200 if kind in see else 404)
            check(st == want, f"{role}: GET {kind} → {want} (got {st})")
        # query + count
        st, hd, body = c.request("GET", f"/ngsi-ld/v1/entities?type={ALL_TYPES}&count=true"
                                        "&options=keyValues", headers=h)
        if refused:
            check(st == refused, f"{role}: query refused {refused} (got {st})")
        else:
            got = {e["type"] for e in body} if st == 200 else None
            check(got == see, f"{role}: query sees {sorted(see)} (got {got})")
            check(hd.get("ngsild-results-count") == str(len(see)),
                  f"{role}: count counts only the visible ({hd.get('ngsild-results-count')})")
        # batch query
        st, _, body = c.request("POST", "/ngsi-ld/v1/entityOperations/query",
                                {"type": "Query", "entities": [{"type": t} for t in ENTITIES]},
                                headers=h)
        if refused:
            check(st == refused, f"{role}: batch query refused (got {st})")
        else:
            got = {e["type"] for e in body} if st == 200 else None
            check(got == see, f"{role}: batch query sees {sorted(see)} (got {got})")
        # temporal
        for kind, eid in ENTITIES.items():
            st, _, _ = c.request("GET", f"/ngsi-ld/v1/temporal/entities/{eid}", headers=h)
            want = refused or (200 if kind in see else 404)
            check(st == want, f"{role}: temporal {kind} → {want} (got {st})")
        st, _, body = c.request("GET", f"/ngsi-ld/v1/temporal/entities?type={ALL_TYPES}",
                                headers=h)
        if not refused:
            got = {e["id"].split(":")[2] for e in body} if st == 200 else None
            check(got == see, f"{role}: temporal query sees {sorted(see)} (got {got})")
        # discovery
        st, _, body = c.request("GET", "/ngsi-ld/v1/types", headers=h)
        if refused:
            check(st == refused, f"{role}: /types refused (got {st})")
        else:
            got = set(body.get("typeList", [])) if st == 200 else None
            check(got == see, f"{role}: /types names only {sorted(see)} (got {got})")
            st, _, body = c.request("GET", "/ngsi-ld/v1/types?details=true", headers=h)
            check(st == 200 and {t["typeName"] for t in body} == see,
                  f"{role}: /types?details names only the visible")
            st, _, body = c.request("GET", "/ngsi-ld/v1/attributes?details=true", headers=h)
            names = set()
            for a in body if st == 200 else []:
                names.update(a.get("typeNames", []))
            check(names <= see, f"{role}: /attributes names no invisible type ({names - see})")
        # writes: PATCH attrs
        for kind, eid in ENTITIES.items():
            st, _, _ = c.request("PATCH", f"/ngsi-ld/v1/entities/{eid}/attrs",
                                 {"level": {"type": "Property", "value": 2}}, headers=h)
            want = write_expect(role, kind)
            check(st == want, f"{role}: PATCH {kind} → {want} (got {st})")
        # batch upsert of each kind: per-entity outcome
        if role not in ("anonymous", "public", "tenantB"):
            st, _, body = c.request("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
                                    [entity(k, 3) for k in ENTITIES], headers=h)
            ok = set()
            if st == 204:
                ok = set(ENTITIES)
            elif st == 207:
                ok = {i.split(":")[2] for i in body["success"]}
            want = {k for k in ENTITIES if write_expect(role, k) == 204}
            check(ok == want, f"{role}: batch upsert writes only {sorted(want)} (got {sorted(ok)})")
        else:
            st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/upsert",
                                 [entity("Camera")], headers=h)
            want = 401 if role == "anonymous" else 403
            check(st == want, f"{role}: batch upsert → {want} (got {st})")
        # screen streams: only the visible, never a staff-only entity on a public screen
        if refused:
            st, _, _ = c.request("GET", f"/live/v1/stream?type={ALL_TYPES}",
                                 headers={**h, "Accept": "text/event-stream"})
            check(st == refused, f"{role}: stream refused (got {st})")
        else:
            got = {i.split(":")[2] for i in sse_ids(c.port, h)}
            check(got == see, f"{role}: stream delivers {sorted(see)} (got {sorted(got)})")
        # admin routes
        st, _, _ = c.request("GET", "/cityroom/v1/audit", headers=h)
        want = 200 if role == "admin" else 401 if role == "anonymous" else 403
        check(st == want, f"{role}: GET /cityroom/v1/audit → {want} (got {st})")


# ---- OIDC bearer tokens (RS256, signed here with the openssl command) ---------------------------

def b64url(data: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(key_pem: str, claims: dict, alg: str = "RS256") -> str:
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signed = f"{head}.{body}".encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_pem], input=signed,
                         capture_output=True, check=True).stdout
    return f"{head}.{body}.{b64url(sig)}"


def oidc_checks(binary: str, tmp: str) -> None:
    key = os.path.join(tmp, "idp.pem")
    pub = os.path.join(tmp, "idp.pub.pem")
    other = os.path.join(tmp, "other.pem")
    for k in (key, other):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", k], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    data = os.path.join(tmp, "data-oidc")
    os.makedirs(data)
    server = run_cases.Server(binary, data, ["--oidc-issuer", "https://sso.city.example",
                                             "--oidc-audience", "cityroom", "--oidc-keys", pub,
                                             "--rate-limit-address", "0", "--visibility",
                                             os.path.join(tmp, "visibility.json")], auth=True)
    c = Client(server.start())
    try:
        admin = {"X-API-Key": make_key(binary, data, "admin", "admin", "--tenant", "*")}
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/create",
                             [entity(k) for k in ENTITIES], headers=admin)
        check(st == 201, f"oidc: entities created ({st})")
        now = int(time.time())
        good = {"iss": "https://sso.city.example", "aud": ["cityroom", "x"], "sub": "kim",
                "exp": now + 300, "cityroom_role": "staff", "cityroom_department": "roads"}
        cases = [
            ("a valid staff token reads staff data", jwt(key, good), 200),
            ("an expired token", jwt(key, {**good, "exp": now - 3600}), 401),
            ("a token for another audience", jwt(key, {**good, "aud": "other"}), 401),
            ("a token of another issuer", jwt(key, {**good, "iss": "https://evil"}), 401),
            ("a token signed by another key", jwt(other, good), 401),
            ("a token without a role", jwt(key, {k: v for k, v in good.items()
                                                 if k != "cityroom_role"}), 401),
        ]
        for what, token, want in cases:
            st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}",
                                 headers={"Authorization": "Bearer " + token})
            check(st == want, f"oidc: {what} → {want} (got {st})")
        head, body, sig = jwt(key, good).split(".")
        forged = b64url(json.dumps({**good, "cityroom_role": "admin"}).encode())
        st, _, _ = c.request("GET", "/cityroom/v1/audit",
                             headers={"Authorization": f"Bearer {head}.{forged}.{sig}"})
        check(st == 401, f"oidc: a token with a changed claim → 401 ({st})")
        none = b64url(json.dumps({"alg": "none"}).encode()) + "." + body + "."
        st, _, _ = c.request("GET", "/ngsi-ld/v1/types", headers={"Authorization": "Bearer " + none})
        check(st == 401, f"oidc: alg none → 401 ({st})")
        st, _, _ = c.request("PATCH", f"/ngsi-ld/v1/entities/{ENTITIES['Patient']}/attrs",
                             {"level": {"type": "Property", "value": 1}},
                             headers={"Authorization": "Bearer " + jwt(key, good)})
        check(st == 404, f"oidc: the staff token does not see restricted data ({st})")
        msgs = sse_messages(c.port, "type=Vehicle&options=keyValues",
                            {"Authorization": "Bearer " + jwt(key, good)}, seconds=1.5)
        kinds = [m.get("kind") for m in msgs]
        check("snapshot" in kinds and "closed" not in kinds,
              f"oidc: a token's stream stays open (no key to revoke) ({kinds})")
        st, _, _ = c.request("GET", "/ngsi-ld/v1/types", headers=admin)
        check(st == 200, "oidc: API keys still work beside tokens")
    finally:
        server.stop()


# ---- the route families beyond NGSI-LD (catalog, simulator, alarms, governance, Open311, web),
# on the shipped visibility (data/access/visibility.json) and the Gangnam city --------------------

REPO = Path(__file__).resolve().parent.parent.parent
ROLES4 = ("anonymous", "public", "device", "staff", "admin")
OPEN = {r: 200 for r in ROLES4}
STAFF_READ = {"anonymous": 401, "public": 403, "device": 403, "staff": 200, "admin": 200}
# "ok" = passes the access check (the route's own answer: 200, 400, 404, 503 ...).
STAFF_WRITE = {"anonymous": 401, "public": 403, "device": 403, "staff": "ok", "admin": "ok"}
ADMIN_ONLY = {"anonymous": 401, "public": 403, "device": 403, "staff": 403, "admin": "ok"}


def form(fields: dict) -> str:
    return urllib.parse.urlencode(fields)


def families(binary: str, tmp: str) -> None:
    data = os.path.join(tmp, "families")
    os.makedirs(data)
    server = run_cases.Server(binary, data, [
        "--visibility", str(REPO / "data/access/visibility.json"), "--rate-limit-address", "0",
        "--city", str(REPO / "data/cities/gangnam.json")], auth=True)
    c = Client(server.start())
    try:
        creds = {
            "anonymous": {},
            "public": {"X-API-Key": make_key(binary, data, "pub", "public")},
            # A sensor's key: writes its own type only, never the governance or alarm data.
            "device": {"X-API-Key": make_key(binary, data, "dev", "device", "--types", "Vehicle")},
            "staff": {"X-API-Key": make_key(binary, data, "staff", "staff", "--department",
                                            "roads")},
            "admin": {"X-API-Key": make_key(binary, data, "admin", "admin")},
        }
        time.sleep(0.4)  # the server picks up the CLI's keys within 250 ms
        # An anonymous citizen files an Open311 request with Open311's own api_key.
        report = {"api_key": "cityroom-demo-key", "service_code": "streetlight",
                  "lat": "37.4979", "long": "127.0276", "description": "가로등 깜빡임 시험",
                  "email": "citizen@example.org", "first_name": "민수", "phone": "010-1234-5678"}
        ct = {"Content-Type": "application/x-www-form-urlencoded"}
        st, _, body = c.request("POST", "/open311/v2/requests.json", form(report), headers=ct)
        check(st == 201 and isinstance(body, list) and body[0].get("service_request_id"),
              f"anonymous Open311 POST with the Open311 api_key → 201 (got {st} {body})")
        rid = body[0]["service_request_id"] if st == 201 else "none"
        for bad, want in (({**report, "api_key": "wrong"}, 403),
                          ({k: v for k, v in report.items() if k != "api_key"}, 403)):
            st, _, body = c.request("POST", "/open311/v2/requests.json", form(bad), headers=ct)
            check(st == want and isinstance(body, list) and "code" in body[0],
                  f"Open311 POST without a valid api_key → Open311 error {want} (got {st})")
        st, _, body = c.request("GET", "/cityroom/v1/audit?limit=200", headers=creds["admin"])
        audited = [e for e in (body if isinstance(body, list) else body.get("entries", []))
                   if e.get("target", "").startswith("/open311/v2/requests")
                   and e.get("action") == "POST"]
        check(st == 200 and any(e.get("status") == 201 for e in audited),
              f"the anonymous Open311 POST is audited ({st}, {audited[:1]})")

        cases = [
            ("GET", "/cityroom/v1/city", None, OPEN),
            ("GET", "/cityroom/v1/datasets", None, OPEN),
            ("GET", "/cityroom/v1/admin/simulator", None, ADMIN_ONLY),
            ("PUT", "/cityroom/v1/admin/simulator", {"scenario": "normal"}, ADMIN_ONLY),
            ("GET", "/cityroom/v1/alarms", None, STAFF_READ),
            ("GET", "/cityroom/v1/alarms/urn:ngsi-ld:Alert:none", None,
             {**STAFF_READ, "staff": 404, "admin": 404}),
            ("POST", "/cityroom/v1/alarms/urn:ngsi-ld:Alert:none/acknowledge", {"by": "x"},
             STAFF_WRITE),
            ("POST", "/cityroom/v1/alarms/urn:ngsi-ld:Alert:none/clear", {"by": "x"},
             STAFF_WRITE),
            ("GET", "/cityroom/v1/alarms/rules", None, STAFF_READ),
            ("POST", "/cityroom/v1/alarms/rules", {}, ADMIN_ONLY),
            ("DELETE", "/cityroom/v1/alarms/rules/none", None, ADMIN_ONLY),
            ("GET", "/cityroom/v1/alarms/policies", None, {**ADMIN_ONLY, "admin": 200}),
            ("POST", "/cityroom/v1/alarms/policies", {}, ADMIN_ONLY),
            ("GET", "/cityroom/v1/pledges", None, OPEN),
            ("GET", "/cityroom/v1/pledges/summary", None, OPEN),
            ("PATCH", "/cityroom/v1/pledges/none:1", {"modifiedBy": "x", "progress": 1},
             STAFF_WRITE),
            ("GET", "/cityroom/v1/requests/stats", None, OPEN),
            ("GET", f"/cityroom/v1/requests/{rid}", None, OPEN),
            ("GET", f"/cityroom/v1/requests/{rid}/contact", None, STAFF_READ),
            ("POST", f"/cityroom/v1/requests/{rid}/notes", {"by": "x", "note": "checked"},
             {**STAFF_WRITE, "staff": 200}),
            ("GET", "/cityroom/v1/indicators", None, OPEN),
            ("POST", "/cityroom/v1/indicators", {}, STAFF_WRITE),
            ("GET", "/cityroom/v1/callcentre/summary", None, STAFF_READ),
            ("POST", "/cityroom/v1/callcentre/import", "day,x\n", STAFF_WRITE),
            ("GET", "/cityroom/v1/press/latest", None, OPEN),
            ("GET", "/cityroom/v1/press/trends", None, OPEN),
            ("POST", "/cityroom/v1/press/import", "<rss/>", STAFF_WRITE),
            ("GET", "/open311/v2/discovery.json", None, OPEN),
            ("GET", "/open311/v2/services.json", None, OPEN),
            ("GET", "/open311/v2/services/streetlight.xml", None, OPEN),
            ("GET", "/open311/v2/requests.json", None, OPEN),
            ("GET", f"/open311/v2/requests/{rid}.json", None, OPEN),
            ("GET", "/ngsi-ld/v1/entities?type=Pledge&limit=1", None, OPEN),
            ("GET", f"/ngsi-ld/v1/entities/urn:ngsi-ld:ServiceRequest:{rid}", None,
             {"anonymous": 404, "public": 404, "device": 404, "staff": 200, "admin": 200}),
        ]
        for method, path, body, want_by_role in cases:
            for role in ROLES4:
                st, _, answer = c.request(method, path, body, headers=creds[role])
                want = want_by_role[role]
                ok = st not in (401, 403) if want == "ok" else st == want
                check(ok, f"{role}: {method} {path} → {want} (got {st})")
                if "contact" in path and st == 200:
                    check(answer.get("email") == "citizen@example.org",
                          f"{role}: the contact answers the citizen's e-mail")

        # Personal data never reaches a public answer; the public search finds no request text.
        for path in ("/open311/v2/requests.json", f"/open311/v2/requests/{rid}.xml",
                     f"/cityroom/v1/requests/{rid}", "/cityroom/v1/requests/stats"):
            st, _, raw = c.request("GET", path)
            text = raw if isinstance(raw, (bytes, str)) else json.dumps(raw, ensure_ascii=False)
            text = text.decode() if isinstance(text, bytes) else text
            check(st == 200 and "citizen@example.org" not in text and "010-1234" not in text
                  and "민수" not in text, f"public {path} carries no personal data")
        q = "/cityroom/v1/search?q=" + urllib.parse.quote("가로등 깜빡임")
        for role in ROLES4:
            st, _, hits = c.request("GET", q, headers=creds[role])
            types = {h["type"] for h in hits} if st == 200 else None
            if role in ("anonymous", "public", "device"):
                check(st == 200 and "ServiceRequest" not in types,
                      f"{role}: search finds no ServiceRequest (got {st} {types})")
            else:
                check(st == 200 and "ServiceRequest" in types,
                      f"{role}: search finds the ServiceRequest (got {st} {types})")
        st, _, hits = c.request("GET", q + "&type=ServiceRequest")
        check(st == 200 and hits == [], f"anonymous: search type=ServiceRequest is empty ({hits})")

        # A pledge's modifiedBy names a staff member: staff-only on every governance view.
        csv_text = (REPO / "data/governance/pledges_boryeong_2021-12-31.csv").read_bytes()
        st, _, _ = c.request("POST", "/cityroom/v1/pledges/import?city=t&by=import", csv_text,
                             headers={**creds["admin"], "Content-Type": "text/csv"})
        check(st == 200, f"admin imports the pledge table ({st})")
        st, _, pledges = c.request("GET", "/cityroom/v1/pledges")
        pid = pledges[0]["id"] if st == 200 and pledges else "none"
        st, _, _ = c.request("PATCH", f"/cityroom/v1/pledges/{pid}",
                             {"modifiedBy": "김주무관", "progress": 42, "changeNote": "시험"},
                             headers=creds["staff"])
        check(st == 200, f"staff updates a pledge, naming themselves ({st})")
        for role in ROLES4:
            h = creds[role]
            staff_like = role in ("staff", "admin")
            answers = {}
            for path in ("/cityroom/v1/pledges", f"/cityroom/v1/pledges/{pid}",
                         f"/cityroom/v1/pledges/{pid}/history", "/cityroom/v1/pledges/summary",
                         f"/ngsi-ld/v1/entities/{pid}?options=keyValues",
                         "/ngsi-ld/v1/entities?type=Pledge&limit=1000&options=keyValues"):
                st, _, body = c.request("GET", path, headers=h)
                answers[path] = (st, json.dumps(body, ensure_ascii=False))
            for path, (st, text) in answers.items():
                if path.endswith("/summary"):
                    check(st == 200 and "김주무관" not in text, f"{role}: {path} names no one")
                    continue
                check(st == 200 and ("김주무관" in text) == staff_like,
                      f"{role}: {path} {'names' if staff_like else 'does not name'} the staff "
                      f"member (got {st})")
            st, _, hist = c.request("GET", f"/cityroom/v1/pledges/{pid}/history", headers=h)
            check(st == 200 and any(ch.get("note") == "시험" for ch in hist),
                  f"{role}: the pledge history still shows the change and its note")
            st, _, body = c.request("GET", f"/ngsi-ld/v1/entities?type=Pledge&q=modifiedBy=="
                                           f"{urllib.parse.quote(chr(34) + '김주무관' + chr(34))}",
                                    headers=h)
            check(st == 200 and (len(body) == 1) == staff_like,
                  f"{role}: q=modifiedBy==... finds the pledge only if it may see the name")

        # The web app is public.
        st, hd, _ = c.request("GET", "/")
        check(st == 200 and hd.get("content-type", "").startswith("text/html"),
              f"anonymous: GET / (the web app) → 200 text/html (got {st})")
    finally:
        server.stop()


# ---- per-attribute visibility: role × path × attribute level ----------------------------------

VIS_ATTR = {
    "default": "staff",
    "types": {
        "Camera": {"visibility": "public", "attributes": {
            "streamURL": "staff",
            "dispatch": {"visibility": "restricted", "departments": ["119"]}}},
        "Sign": "public",
        "Vehicle": "staff",
    },
}
HIDDEN = {"streamURL", "dispatch"}
CAM1, CAM2, SIGN = "urn:ngsi-ld:Camera:c1", "urn:ngsi-ld:Camera:c2", "urn:ngsi-ld:Sign:s1"
ATTR_ROLES = ("anonymous", "public", "device", "staff", "staff119", "admin")


def attr_see(role: str) -> set[str]:
    """Which hidden-level attributes of a Camera each role sees (the expectation table)."""
    return {"anonymous": set(), "public": set(),
            "device": {"streamURL"},  # a device scoped to Camera reads back what it writes
            "staff": {"streamURL"}, "staff119": {"streamURL", "dispatch"},
            "admin": {"streamURL", "dispatch"}}[role]


def camera(eid: str, level: int, url: str, dispatch: str | None = None) -> dict:
    e = {"id": eid, "type": "Camera", "level": {"type": "Property", "value": level},
         "streamURL": {"type": "Property", "value": url},
         "location": {"type": "GeoProperty",
                      "value": {"type": "Point", "coordinates": [127.0 + level / 100, 37.5]}}}
    if dispatch:
        e["dispatch"] = {"type": "Property", "value": dispatch}
    return e


def sse_messages(port: int, query: str, headers: dict, seconds: float = 1.5,
                 until=None) -> list[dict]:
    """The JSON messages of an SSE screen stream within `seconds` (or until `until(msgs)`)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
    lines = [f"GET /live/v1/stream?{query} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Accept: text/event-stream"] + [f"{k}: {v}" for k, v in headers.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf, msgs = b"", []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            chunk = None
        if chunk == b"":
            break
        if chunk:
            buf += chunk
        msgs = []
        for line in buf.decode(errors="replace").splitlines():
            if line.startswith("data:"):
                try:
                    msgs.append(json.loads(line[5:]))
                except ValueError:
                    pass
        if until and until(msgs):
            break
    s.close()
    return msgs


def keys_of(entities) -> set[str]:
    out = set()
    for e in entities:
        out.update(e.keys())
    return out


def attribute_matrix(binary: str, tmp: str) -> None:
    data = os.path.join(tmp, "attrs")
    os.makedirs(data)
    vis = os.path.join(tmp, "visibility-attrs.json")
    Path(vis).write_text(json.dumps(VIS_ATTR))
    server = run_cases.Server(binary, data, ["--visibility", vis, "--rate-limit-address", "0",
                                             "--trust-proxy"], auth=True)
    c = Client(server.start())
    try:
        admin = {"X-API-Key": make_key(binary, data, "admin", "admin")}
        creds = {
            "anonymous": {},
            "public": {"X-API-Key": make_key(binary, data, "pub", "public")},
            "device": {"X-API-Key": make_key(binary, data, "dev", "device", "--types", "Camera")},
            "staff": {"X-API-Key": make_key(binary, data, "staff", "staff", "--department",
                                            "roads")},
            "staff119": {"X-API-Key": make_key(binary, data, "s119", "staff", "--department",
                                               "119")},
            "admin": admin,
        }
        time.sleep(0.4)
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/create", [
            camera(CAM1, 1, "rtsp://vms.internal/z", "case-42"),
            camera(CAM2, 2, "rtsp://vms.internal/a"),
            {"id": SIGN, "type": "Sign", "streamURL": {"type": "Property",
                                                       "value": "https://open.example/s1"}},
            {"id": "urn:ngsi-ld:Vehicle:v1", "type": "Vehicle",
             "level": {"type": "Property", "value": 4}}], headers=admin)
        check(st == 201, f"attributes: admin creates cameras, a sign, a vehicle ({st})")
        kv = "options=keyValues"
        q_url = urllib.parse.quote('streamURL=="rtsp://vms.internal/z"')
        q_dispatch = urllib.parse.quote('dispatch=="case-42"')
        for role in ATTR_ROLES:
            h = creds[role]
            see = attr_see(role)
            # entity GET, normalized and keyValues
            for opts in ("", "?" + kv):
                st, _, body = c.request("GET", f"/ngsi-ld/v1/entities/{CAM1}{opts}", headers=h)
                got = set(body) & HIDDEN if st == 200 else None
                check(got == see, f"{role}: GET camera{opts} shows {sorted(see)} (got {got})")
            # attrs= naming hidden attributes answers as for attributes that do not exist
            st, _, body = c.request("GET", f"/ngsi-ld/v1/entities/{CAM1}?attrs=streamURL,dispatch"
                                           f"&{kv}", headers=h)
            st2, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{CAM1}?attrs=noSuchAttr&{kv}",
                                  headers=h)
            got = set(body) & HIDDEN if st == 200 else set()
            check(got == see and (see or st == st2),
                  f"{role}: GET attrs=hidden → as if absent ({st} vs {st2}, {got})")
            # query: pick, geo+json
            st, _, body = c.request("GET", f"/ngsi-ld/v1/entities?type=Camera&pick=id,streamURL,"
                                           f"dispatch&{kv}", headers=h)
            got = keys_of(body) & HIDDEN if st == 200 else None
            check(got == see, f"{role}: query pick= shows {sorted(see)} (got {got})")
            st, _, body = c.request("GET", "/ngsi-ld/v1/entities?type=Camera",
                                    headers={**h, "Accept": "application/geo+json"})
            got = keys_of(f["properties"] for f in body["features"]) & HIDDEN if st == 200 else None
            check(got == see, f"{role}: geo+json properties show {sorted(see)} (got {got})")
            # q, attrs and orderBy on a hidden attribute: no oracle
            for q, attr, want in ((q_url, "streamURL", {CAM1}), (q_dispatch, "dispatch", {CAM1})):
                expect = want if attr in see else set()
                st, hd, body = c.request("GET", f"/ngsi-ld/v1/entities?type=Camera,Sign&q={q}"
                                                f"&count=true&{kv}", headers=h)
                ids = {e["id"] for e in body} if st == 200 else None
                check(ids == expect and hd.get("ngsild-results-count") == str(len(expect)),
                      f"{role}: q on {attr} finds {len(expect)} (got {ids}, "
                      f"count {hd.get('ngsild-results-count')})")
                st, _, body = c.request("POST", "/ngsi-ld/v1/entityOperations/query",
                                        {"type": "Query", "entities": [{"type": "Camera"}],
                                         "q": urllib.parse.unquote(q)}, headers=h)
                ids = {e["id"] for e in body} if st == 200 else None
                check(ids == expect, f"{role}: batch query q on {attr} finds {len(expect)} ({ids})")
            st, _, body = c.request("GET", f"/ngsi-ld/v1/entities?type=Camera&attrs=streamURL&{kv}",
                                    headers=h)
            ids = {e["id"] for e in body} if st == 200 else None
            want = {CAM1, CAM2} if "streamURL" in see else set()
            check(ids == want, f"{role}: attrs=streamURL matches {len(want)} cameras ({ids})")
            st, _, body = c.request("GET", f"/ngsi-ld/v1/entities?type=Camera&orderBy=streamURL"
                                           f"&{kv}", headers=h)
            order = [e["id"] for e in body] if st == 200 else None
            want = [CAM2, CAM1] if "streamURL" in see else [CAM1, CAM2]
            check(order == want, f"{role}: orderBy=streamURL orders {want} (got {order})")
            # temporal: one entity, a query and the CSV export show only what the role sees
            st, _, body = c.request("GET", f"/ngsi-ld/v1/temporal/entities/{CAM1}", headers=h)
            got = set(body) & HIDDEN if st == 200 else None
            check(got == see, f"{role}: temporal GET camera shows {sorted(see)} (got {got})")
            st, _, body = c.request("POST", "/ngsi-ld/v1/temporal/entityOperations/query",
                                    {"type": "Query", "entities": [{"type": "Camera"}]},
                                    headers=h)
            got = keys_of(body) & HIDDEN if st == 200 else None
            check(got == see, f"{role}: temporal query shows {sorted(see)} (got {got})")
            st, _, body = c.request("GET", "/cityroom/v1/history/export?type=Camera", headers=h)
            text = body.decode() if isinstance(body, bytes) else str(body or "")
            got = {a for a in HIDDEN if a in text} if st == 200 else None
            check(got == see, f"{role}: history export has {sorted(see)} (got {got}, {st})")
            # discovery: names and exact counts
            st, _, body = c.request("GET", "/ngsi-ld/v1/types?details=true", headers=h)
            cam = [t for t in body if t["typeName"] == "Camera"] if st == 200 else []
            got = set(cam[0]["attributeNames"]) & HIDDEN if cam else None
            check(got == see, f"{role}: /types details name {sorted(see)} of Camera ({got})")
            st, _, body = c.request("GET", "/ngsi-ld/v1/types/Camera", headers=h)
            got = {a["attributeName"] for a in body.get("attributeDetails", [])} & HIDDEN \
                if st == 200 else None
            check(got == see, f"{role}: /types/Camera details {sorted(see)} ({got})")
            st, _, body = c.request("GET", "/ngsi-ld/v1/attributes", headers=h)
            names = set(body.get("attributeList", [])) if st == 200 else set()
            check(("dispatch" in names) == ("dispatch" in see) and "streamURL" in names,
                  f"{role}: /attributes names dispatch only if visible ({sorted(names)})")
            st, _, body = c.request("GET", "/ngsi-ld/v1/attributes/streamURL", headers=h)
            want_n = 3 if "streamURL" in see else 1
            want_t = {"Camera", "Sign"} if "streamURL" in see else {"Sign"}
            check(st == 200 and body.get("attributeCount") == want_n and
                  set(body.get("typeNames", [])) == want_t,
                  f"{role}: /attributes/streamURL counts exactly {want_n} on {sorted(want_t)} "
                  f"(got {st} {body})")
            st, _, _ = c.request("GET", "/ngsi-ld/v1/attributes/dispatch", headers=h)
            want = 200 if "dispatch" in see else 404
            check(st == want, f"{role}: /attributes/dispatch → {want} (got {st})")
            # screen streams: snapshot renderings and a q on a hidden attribute
            msgs = sse_messages(c.port, f"type=Camera&{kv}", h,
                                until=lambda m: any(x.get("kind") == "snapshot" for x in m))
            snap = [m for m in msgs if m.get("kind") == "snapshot"]
            got = keys_of(snap[0]["entities"]) & HIDDEN if snap else None
            check(got == see and len(snap[0]["entities"]) == 2 if snap else False,
                  f"{role}: stream snapshot shows {sorted(see)} (got {got})")
            msgs = sse_messages(c.port, f"type=Camera&q={q_url}&{kv}", h,
                                until=lambda m: any(x.get("kind") == "snapshot" for x in m))
            snap = [m for m in msgs if m.get("kind") == "snapshot"]
            ids = {e["id"] for e in snap[0]["entities"]} if snap else None
            want = {CAM1} if "streamURL" in see else set()
            check(ids == want, f"{role}: stream q on streamURL finds {len(want)} ({ids})")

        # Streams' deltas: one open stream per role while admin changes the hidden attributes.
        results: dict[str, list[dict]] = {}

        def watch(role: str) -> None:
            results[role] = sse_messages(c.port, f"type=Camera&{kv}", creds[role], seconds=4)

        threads = [threading.Thread(target=watch, args=(r,)) for r in ATTR_ROLES]
        for t in threads:
            t.start()
        time.sleep(1.0)
        st, _, _ = c.request("PATCH", f"/ngsi-ld/v1/entities/{CAM1}/attrs", {
            "streamURL": {"type": "Property", "value": "rtsp://vms.internal/delta"},
            "dispatch": {"type": "Property", "value": "case-99"},
            "level": {"type": "Property", "value": 11}}, headers=admin)
        check(st == 204, f"admin changes a camera's hidden attributes ({st})")
        for t in threads:
            t.join()
        for role in ATTR_ROLES:
            see = attr_see(role)
            deltas = [e for m in results.get(role, []) if m.get("kind") == "delta"
                      for e in m.get("upsert", [])]
            got = keys_of(deltas) & HIDDEN
            text = json.dumps(results.get(role, []))
            check(deltas and got == see and (("case-99" in text) == ("dispatch" in see)),
                  f"{role}: stream deltas show {sorted(see)} (got {sorted(got)}, {len(deltas)})")

        # Subscriptions: notifications, watchedAttributes and q see the owner's view.
        sink = Sink()
        for role in ATTR_ROLES[1:]:
            h = creds[role]
            for name, extra in (("all", {}), ("watch", {"watchedAttributes": ["streamURL"]}),
                                ("q", {"q": 'dispatch=="case-43"'})):
                st, _, _ = c.request("POST", "/ngsi-ld/v1/subscriptions", {
                    "type": "Subscription", "entities": [{"type": "Camera"}], **extra,
                    "notification": {"endpoint": {
                        "uri": f"http://127.0.0.1:{sink.port}/{role}/{name}"},
                        "format": "keyValues"}}, headers=h)
                check(st == 201, f"{role}: subscription '{name}' created ({st})")
        st, _, _ = c.request("PATCH", f"/ngsi-ld/v1/entities/{CAM1}/attrs", {
            "streamURL": {"type": "Property", "value": "rtsp://vms.internal/sub"}}, headers=admin)
        st2, _, _ = c.request("POST", f"/ngsi-ld/v1/entities/{CAM2}/attrs", {
            "dispatch": {"type": "Property", "value": "case-43"},
            "level": {"type": "Property", "value": 12}}, headers=admin)
        check(st == 204 and st2 == 204, f"admin changes streamURL, then dispatch ({st}, {st2})")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(sink.received.get("/admin/q", [])) < 1:
            time.sleep(0.1)
        time.sleep(0.5)
        for role in ATTR_ROLES[1:]:
            see = attr_see(role)
            data_all = [e for n in sink.received.get(f"/{role}/all", []) for e in n["data"]]
            got = keys_of(data_all) & HIDDEN
            check(data_all and got == see,
                  f"{role}: notifications show {sorted(see)} (got {sorted(got)})")
            watched = bool(sink.received.get(f"/{role}/watch"))
            check(watched == ("streamURL" in see),
                  f"{role}: watchedAttributes=streamURL fires only if visible ({watched})")
            fired = bool(sink.received.get(f"/{role}/q"))
            check(fired == ("dispatch" in see),
                  f"{role}: subscription q on dispatch fires only if visible ({fired})")

        # Writes: an attribute hidden from the writer can neither be written nor probed (the
        # same 403 whether the entity has it or not), nor used to pick entities to delete.
        patch = {"dispatch": {"type": "Property", "value": "case-7"}}
        for role, eid, want in (("staff", CAM1, 403), ("staff", CAM2, 403),
                                ("device", CAM1, 403), ("staff119", CAM1, 204)):
            st, _, _ = c.request("PATCH", f"/ngsi-ld/v1/entities/{eid}/attrs/dispatch",
                                 patch["dispatch"], headers=creds[role])
            check(st == want, f"{role}: PATCH hidden attribute of {eid[-2:]} → {want} (got {st})")
        for method, path, body in (
                ("POST", f"/ngsi-ld/v1/entities/{CAM2}/attrs", patch),
                ("PATCH", f"/ngsi-ld/v1/entities/{CAM1}", patch),
                ("DELETE", f"/ngsi-ld/v1/entities/{CAM1}/attrs/dispatch", None),
                ("PUT", f"/ngsi-ld/v1/entities/{CAM1}",
                 {"type": "Camera", "level": {"type": "Property", "value": 1}})):
            st, _, _ = c.request(method, path, body, headers=creds["staff"])
            check(st == 403, f"staff: {method} {path.rsplit('/', 2)[-2:]} naming or dropping a "
                             f"hidden attribute → 403 (got {st})")
        st, _, body = c.request("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
                                [{"id": CAM1, "type": "Camera", **patch}], headers=creds["staff"])
        check(st == 207 and not body.get("success"),
              f"staff: batch upsert of a hidden attribute fails for that entity ({st})")
        st, _, _ = c.request("PATCH", f"/ngsi-ld/v1/entities/{CAM1}/attrs/streamURL",
                             {"type": "Property", "value": "rtsp://vms.internal/dev"},
                             headers=creds["device"])
        check(st == 204, f"device: writes its type's staff attribute streamURL (got {st})")
        # ... nor through the temporal API or a CSV import
        inst = {"type": "Property", "value": "case-8", "observedAt": "2026-01-01T00:00:00Z"}
        for method, path, body, ctype in (
                ("POST", f"/ngsi-ld/v1/temporal/entities/{CAM1}/attrs", {"dispatch": [inst]}, None),
                ("POST", "/ngsi-ld/v1/temporal/entities",
                 {"id": CAM1, "type": "Camera", "dispatch": [inst]}, None),
                ("DELETE", f"/ngsi-ld/v1/temporal/entities/{CAM1}/attrs/dispatch", None, None),
                ("POST", "/cityroom/v1/history/import",
                 f"entityId,attribute,time,value\n{CAM1},dispatch,2026-01-01T00:00:00Z,x\n",
                 "text/csv")):
            hdrs = {**creds["staff"], **({"Content-Type": ctype} if ctype else {})}
            st, _, _ = c.request(method, path, body, headers=hdrs)
            check(st == 403, f"staff: temporal {method} {path.rsplit('/', 1)[-1]} of a hidden "
                             f"attribute → 403 (got {st})")
        q_now = urllib.parse.quote('dispatch=="case-7"')  # CAM1's value now (staff119 wrote it)
        st, _, body = c.request("GET", f"/ngsi-ld/v1/entities?type=Camera&q={q_now}",
                                headers=creds["staff119"])
        check(st == 200 and len(body) == 1, f"staff119 finds the camera by dispatch ({st})")
        st, _, _ = c.request("DELETE", f"/ngsi-ld/v1/entities?type=Camera&q={q_now}",
                             headers=creds["staff"])
        st2, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{CAM1}", headers=admin)
        check(st == 204 and st2 == 200, f"staff: purge by a hidden attribute deletes nothing "
                                        f"({st}, camera still {st2})")

        # /health is public liveness; /metrics is admin, or a scraper on the same host.
        st, _, body = c.request("GET", "/health")
        check(st == 200 and body == {"status": "ok"}, f"anonymous /health: status only ({body})")
        st, _, body = c.request("GET", "/health", headers=admin)
        check(st == 200 and "version" in body and "store" in body, f"admin /health: details")
        st, _, _ = c.request("GET", "/metrics")
        check(st == 200, f"anonymous /metrics from the server's host → 200 (got {st})")
        away = {"X-Forwarded-For": "203.0.113.9"}  # through a trusted proxy, from elsewhere
        for who, h, want in (("anonymous", {}, 401), ("public", creds["public"], 403),
                             ("staff", creds["staff"], 403), ("admin", admin, 200)):
            st, _, _ = c.request("GET", "/metrics", headers={**h, **away})
            check(st == want, f"{who}: /metrics from another host → {want} (got {st})")

        # cityroom import --url sends the key from --key or CITYROOM_API_KEY (never printed).
        mapping = Path(tmp) / "signs.json"
        mapping.write_text(json.dumps({
            "source": {"format": "csv"}, "entity": {"type": "Sign", "id": "urn:ngsi-ld:Sign:{id}"},
            "attributes": {"level": {"column": "n", "type": "integer"}}}))
        csv_file = Path(tmp) / "signs.csv"
        csv_file.write_text("id,n\nimp1,5\nimp2,6\n")
        url = f"http://127.0.0.1:{c.port}"
        staff_key = creds["staff"]["X-API-Key"]
        env = {k: v for k, v in os.environ.items() if k != "CITYROOM_API_KEY"}
        base = [binary, "import", "--url", url, "--mapping", str(mapping), str(csv_file)]
        p = subprocess.run(base, capture_output=True, text=True, timeout=60, env=env)
        check(p.returncode != 0 and "401" in p.stderr,
              f"import --url without a key is refused (rc {p.returncode}: {p.stderr.strip()[:120]})")
        p = subprocess.run(base, capture_output=True, text=True, timeout=60,
                           env={**env, "CITYROOM_API_KEY": staff_key})
        check(p.returncode == 0 and staff_key not in p.stdout + p.stderr,
              f"import --url with CITYROOM_API_KEY writes (rc {p.returncode}: {p.stderr[:120]})")
        p = subprocess.run(base + ["--key", staff_key], capture_output=True, text=True,
                           timeout=60, env=env)
        check(p.returncode == 0, f"import --url --key writes (rc {p.returncode})")
        st, _, body = c.request("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sign:imp2?options=keyValues")
        check(st == 200 and body.get("level") == 6, f"the imported sign is there ({st} {body})")
        log = Path(server.stderr_path).read_text(errors="replace")
        check(staff_key not in log, "the import's key is not in the server log")
    finally:
        server.stop()


# ---- revocation ends open streams and subscriptions at once ----------------------------------

def revocation(binary: str, tmp: str) -> None:
    data = os.path.join(tmp, "revoke")
    os.makedirs(data)
    vis = os.path.join(tmp, "visibility-revoke.json")
    Path(vis).write_text(json.dumps(VISIBILITY))
    server = run_cases.Server(binary, data, ["--visibility", vis, "--rate-limit-address", "0"],
                              auth=True)
    c = Client(server.start())
    try:
        admin = {"X-API-Key": make_key(binary, data, "admin", "admin")}
        time.sleep(0.4)
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/create",
                             [entity(k) for k in ENTITIES], headers=admin)
        check(st == 201, f"revocation: entities created ({st})")

        # A WebSocket stream opened with a key ends when the key is revoked over HTTP.
        st, _, made = c.request("POST", "/cityroom/v1/keys", {"name": "wall", "role": "staff"},
                                headers=admin)
        ws = wsclient.WebSocket.connect("127.0.0.1", c.port, "/live/v1/stream",
                                        headers=[("X-API-Key", made["key"])])
        ws.send_text(json.dumps({"op": "watch", "query": "v", "type": "Vehicle"}))
        first = json.loads(ws.recv(timeout=10))
        check(first.get("kind") == "snapshot" and len(first.get("entities", [])) == 1,
              f"the key's WebSocket stream gets its snapshot ({first.get('kind')})")
        st, _, _ = c.request("DELETE", f"/cityroom/v1/keys/{made['id']}", headers=admin)
        check(st == 204, f"admin revokes the key ({st})")
        closed_msg, code = None, None
        try:
            while True:
                m = json.loads(ws.recv(timeout=5))
                if m.get("kind") == "closed":
                    closed_msg = m
        except wsclient.Closed as e:
            code = e.code
        except wsclient.Timeout:
            pass
        check(closed_msg is not None and "revoked" in closed_msg.get("reason", ""),
              f"the stream is told why ({closed_msg})")
        check(code == 1008, f"the WebSocket closes with 1008 (got {code})")

        # A session's SSE stream ends at logout, and at a role change made with the CLI.
        p = cli(binary, data, "user", "add", "ana", "--role", "staff", "--department", "roads",
                stdin="ana-password\n")
        check(p.returncode == 0, "revocation: user added")
        time.sleep(0.4)

        def login() -> dict:
            st, hd, _ = c.request("POST", "/cityroom/v1/session",
                                  {"username": "ana", "password": "ana-password"})
            return {"Cookie": hd.get("set-cookie", "").split(";")[0]}

        for how in ("logout", "role change", "new password"):
            session = login()
            box: dict = {}

            def read(session=session, box=box) -> None:
                box["msgs"] = sse_messages(
                    c.port, "type=Vehicle&options=keyValues", session, seconds=8,
                    until=lambda m: any(x.get("kind") == "closed" for x in m))

            t = threading.Thread(target=read)
            t.start()
            time.sleep(1.0)
            if how == "logout":
                c.request("DELETE", "/cityroom/v1/session", headers=session)
            elif how == "role change":
                cli(binary, data, "user", "role", "ana", "--role", "staff", "--department", "parks")
            else:
                cli(binary, data, "user", "passwd", "ana", stdin="ana-password\n")
            t.join()
            msgs = box.get("msgs", [])
            kinds = [m.get("kind") for m in msgs]
            closed = [m for m in msgs if m.get("kind") == "closed"]
            check("snapshot" in kinds and closed,
                  f"a session's stream ends at {how}: {closed[0]['reason'] if closed else kinds}")

        # A revoked key's subscription stops notifying at once.
        sink = Sink()
        st, _, made = c.request("POST", "/cityroom/v1/keys", {"name": "int", "role": "staff"},
                                headers=admin)
        key = {"X-API-Key": made["key"]}
        st, _, _ = c.request("POST", "/ngsi-ld/v1/subscriptions", {
            "type": "Subscription", "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": {"uri": f"http://127.0.0.1:{sink.port}/k"}}},
            headers=key)
        check(st == 201, f"the key creates a subscription ({st})")
        c.request("PATCH", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}/attrs",
                  {"level": {"type": "Property", "value": 5}}, headers=admin)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sink.received.get("/k"):
            time.sleep(0.1)
        before = len(sink.received.get("/k", []))
        check(before >= 1, f"it is notified while the key holds ({before})")
        c.request("DELETE", f"/cityroom/v1/keys/{made['id']}", headers=admin)
        c.request("PATCH", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}/attrs",
                  {"level": {"type": "Property", "value": 6}}, headers=admin)
        time.sleep(1.5)
        after = len(sink.received.get("/k", []))
        check(after == before, f"the revoked key's subscription notifies nothing more "
                               f"({before} → {after})")
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    binary = args.binary
    tmp = tempfile.mkdtemp(prefix="cityroom-access-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    vis = os.path.join(tmp, "visibility.json")
    Path(vis).write_text(json.dumps(VISIBILITY))
    os.environ["CITYROOM_ADMIN_PASSWORD"] = ADMIN_PASSWORD

    # --no-auth is refused off loopback, with a clear message.
    p = subprocess.run([binary, "serve", "--no-auth", "--listen", "0.0.0.0:0", "--data-dir",
                        os.path.join(tmp, "refused")], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "--no-auth is refused" in p.stderr,
          f"--no-auth on 0.0.0.0 refused (rc {p.returncode}: {p.stderr.strip()[:120]})")

    server = run_cases.Server(binary, data, ["--visibility", vis, "--rate-limit-address", "0"],
                              auth=True)
    port = server.start()
    c = Client(port)
    try:
        admin = {"X-API-Key": make_key(binary, data, "admin", "admin", "--tenant", "*")}
        creds = {
            "anonymous": {},
            "public": {"Authorization": "Bearer " + make_key(binary, data, "pub", "public")},
            "device": {"X-API-Key": make_key(binary, data, "dev", "device", "--types", "Vehicle")},
            "staff": {"X-API-Key": make_key(binary, data, "staff", "staff", "--department",
                                            "roads")},
            "staff119": {"X-API-Key": make_key(binary, data, "s119", "staff", "--department",
                                               "119")},
            "executive": {"X-API-Key": make_key(binary, data, "mayor", "executive")},
            "admin": admin,
            "tenantB": {"X-API-Key": make_key(binary, data, "b", "staff", "--tenant", "b")},
        }
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/create",
                             [entity(k) for k in ENTITIES], headers=admin)
        check(st == 201, f"admin creates the four entities (got {st})")

        # Anonymous reads of public data need no setup at all.
        st, hd, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Camera']}")
        check(st == 200, "anonymous reads a public entity")
        for h in ("x-content-type-options", "x-frame-options", "content-security-policy",
                  "referrer-policy"):
            check(h in hd, f"security header {h} on every answer")
        st, hd, _ = c.request("GET", "/no/such/route")
        check(st == 404 and hd.get("x-content-type-options") == "nosniff",
              "security headers on a 404 too")

        run_matrix(c, creds)

        # ---- tenant isolation
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entities", entity("Vehicle"),
                             headers={**admin, "NGSILD-Tenant": "b"})
        check(st == 201, f"admin creates a Vehicle in tenant b (got {st})")
        tb = creds["tenantB"]
        st, _, body = c.request("GET", "/ngsi-ld/v1/entities?type=Vehicle",
                                headers={**tb, "NGSILD-Tenant": "b"})
        check(st == 200 and len(body) == 1, f"a tenant-b key reads tenant b (got {st})")
        st, _, _ = c.request("GET", "/ngsi-ld/v1/entities?type=Vehicle",
                             headers={**creds["staff"], "NGSILD-Tenant": "b"})
        check(st == 403, f"a default-tenant key reads nothing of tenant b (got {st})")
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Camera']}", headers=tb)
        check(st == 403, f"a tenant-b key reads nothing of the default tenant (got {st})")

        # ---- sessions and CSRF
        p = cli(binary, data, "user", "add", "ana", "--role", "staff", "--department", "roads",
                stdin="ana-password\n")
        check(p.returncode == 0, f"user add while the server runs ({p.stderr.strip()})")
        time.sleep(0.4)  # the server picks up the CLI's change within 250 ms
        st, hd, body = c.request("POST", "/cityroom/v1/session",
                                 {"username": "ana", "password": "ana-password"})
        cookie = hd.get("set-cookie", "")
        check(st == 200 and body == {"user": "ana", "role": "staff", "department": "roads",
                                     "csrfToken": body.get("csrfToken")} and body["csrfToken"],
              f"login answers who am I with a CSRF token ({st} {body})")
        check("HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie,
              f"session cookie is HttpOnly SameSite=Strict ({cookie[:20]}...)")
        session = {"Cookie": cookie.split(";")[0]}
        csrf = body["csrfToken"]
        st, _, me = c.request("GET", "/cityroom/v1/session", headers=session)
        check(st == 200 and me["user"] == "ana" and me["csrfToken"] == csrf, "GET session: who am I")
        st, _, me = c.request("GET", "/cityroom/v1/session")
        check(st == 200 and me["user"] is None and me["role"] == "public",
              "GET session without a cookie: anonymous, role public")
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}", headers=session)
        check(st == 200, "a staff session reads staff data")
        patch = {"level": {"type": "Property", "value": 9}}
        path = f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}/attrs"
        st, _, _ = c.request("PATCH", path, patch, headers=session)
        check(st == 403, f"cookie write without X-CSRF-Token → 403 (got {st})")
        st, _, _ = c.request("PATCH", path, patch, headers={**session, "X-CSRF-Token": "x" * 64})
        check(st == 403, f"cookie write with a wrong X-CSRF-Token → 403 (got {st})")
        st, _, _ = c.request("PATCH", path, patch, headers={**session, "X-CSRF-Token": csrf})
        check(st == 204, f"cookie write with its X-CSRF-Token → 204 (got {st})")
        st, _, _ = c.request("PATCH", path, patch, headers={**session, "X-CSRF-Token": csrf,
                                                            "Origin": "https://evil.example"})
        check(st == 403, f"cookie write from a foreign Origin → 403 (got {st})")
        st, hd, _ = c.request("DELETE", "/cityroom/v1/session", headers=session)
        check(st == 204 and "Max-Age=0" in hd.get("set-cookie", ""), "logout clears the cookie")
        st, _, _ = c.request("PATCH", path, patch, headers={**session, "X-CSRF-Token": csrf})
        check(st == 401, f"the ended session writes nothing (got {st})")
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}", headers=session)
        check(st == 404, f"the ended session reads as anonymous (got {st})")

        # ---- login throttling
        statuses = []
        for _ in range(6):
            st, hd, _ = c.request("POST", "/cityroom/v1/session",
                                  {"username": "ana", "password": "wrong"})
            statuses.append(st)
        check(statuses[:5] == [401] * 5 and statuses[5] == 429,
              f"5 wrong passwords → 401, then 429 ({statuses})")
        st, hd, _ = c.request("POST", "/cityroom/v1/session",
                              {"username": "ana", "password": "ana-password"})
        check(st == 429 and int(hd.get("retry-after", "0")) >= 1,
              f"even the right password waits, with Retry-After ({st}, {hd.get('retry-after')})")

        # ---- key revocation takes effect at once (HTTP) and within 250 ms (CLI)
        st, _, made = c.request("POST", "/cityroom/v1/keys",
                                {"name": "temp", "role": "staff"}, headers=admin)
        check(st == 201 and made["key"].startswith("crk_"), f"admin creates a key over HTTP ({st})")
        temp = {"X-API-Key": made["key"]}
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}", headers=temp)
        check(st == 200, "the new key reads")
        st, _, _ = c.request("DELETE", f"/cityroom/v1/keys/{made['id']}", headers=admin)
        check(st == 204, f"admin revokes it ({st})")
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}", headers=temp)
        check(st == 401, f"the revoked key is refused on the very next request ({st})")
        st, _, keys = c.request("GET", "/cityroom/v1/keys", headers=admin)
        listed = {k["id"]: k for k in keys} if st == 200 else {}
        check(listed.get(made["id"], {}).get("revoked") is not None and
              all("key" not in k for k in keys), "key list shows revoked, never secrets")
        cli_key = creds["executive"]["X-API-Key"]
        key_id = cli_key.split("_")[1]
        p = cli(binary, data, "key", "revoke", key_id)
        check(p.returncode == 0, "key revoke from the CLI while the server runs")
        deadline = time.monotonic() + 2
        st = 0
        while time.monotonic() < deadline:
            st, _, _ = c.request("GET", "/ngsi-ld/v1/types", headers=creds["executive"])
            if st == 401:
                break
            time.sleep(0.05)
        check(st == 401, f"a key revoked by the CLI is refused (got {st})")
        p = cli(binary, data, "key", "list")
        check(key_id in p.stdout and "REVOKED" in p.stdout and "crk_" not in p.stdout,
              "key list: revoked, last-used, no secrets")

        # ---- subscriptions notify only what their creator may see
        sink = Sink()
        subs = {}
        for role in ("public", "staff"):
            st, hd, _ = c.request("POST", "/ngsi-ld/v1/subscriptions", {
                "type": "Subscription", "entities": [{"type": t} for t in ENTITIES],
                "notification": {"endpoint": {"uri": f"http://127.0.0.1:{sink.port}/{role}"},
                                 "format": "keyValues"}}, headers=creds[role])
            check(st == 201, f"{role} key creates a subscription ({st})")
            subs[role] = hd.get("location", "").rsplit("/", 1)[-1]
        st, _, _ = c.request("POST", "/ngsi-ld/v1/subscriptions", {
            "type": "Subscription", "entities": [{"type": "Camera"}],
            "notification": {"endpoint": {"uri": f"http://127.0.0.1:{sink.port}/anon"}}})
        check(st == 401, f"anonymous cannot create subscriptions ({st})")
        st, _, listed = c.request("GET", "/ngsi-ld/v1/subscriptions", headers=creds["public"])
        check(st == 200 and [s["id"] for s in listed] == [subs["public"]],
              "a key lists only its own subscriptions")
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/subscriptions/{subs['staff']}",
                             headers=creds["public"])
        check(st == 404, f"another's subscription is answered as missing ({st})")
        st, _, _ = c.request("DELETE", f"/ngsi-ld/v1/subscriptions/{subs['staff']}",
                             headers=creds["public"])
        check(st == 404, f"and cannot be deleted ({st})")
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
                             [entity(k, 7) for k in ENTITIES], headers=admin)
        check(st == 204, f"admin changes all four ({st})")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (len(sink.ids("/staff")) < 3 or
                                               not sink.ids("/public")):
            time.sleep(0.1)
        time.sleep(0.3)
        pub = {i.split(":")[2] for i in sink.ids("/public")}
        stf = {i.split(":")[2] for i in sink.ids("/staff")}
        check(pub == {"Camera"}, f"the public subscription is notified of public data only ({pub})")
        check(stf == {"Camera", "Vehicle", "Unlisted"},
              f"the staff subscription gets staff data but not restricted ({stf})")

        # ---- after a restart: keys, sessions' users and subscriptions' owner scopes persist
        check(server.stop() == 0, "server stops cleanly")
        port = server.start()
        c = Client(port)
        before = {k: len(v) for k, v in sink.received.items()}
        st, _, _ = c.request("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update",
                             [entity(k, 8) for k in ENTITIES], headers=admin)
        check(st == 204, f"after a restart the admin key still writes ({st})")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(sink.received.get("/staff", [])) <= before["/staff"]:
            time.sleep(0.1)
        time.sleep(0.3)
        new_public = set()
        for n in sink.received.get("/public", [])[before.get("/public", 0):]:
            new_public.update(e["id"].split(":")[2] for e in n.get("data", []))
        check(new_public == {"Camera"},
              f"after a restart the public subscription still gets public data only ({new_public})")
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Vehicle']}",
                             headers=creds["executive"])
        check(st == 401, f"a revoked key stays revoked after a restart ({st})")

        # ---- audit: writes and restricted reads, who/when/what/where; admin only
        st, _, _ = c.request("GET", f"/ngsi-ld/v1/entities/{ENTITIES['Patient']}",
                             headers=creds["staff119"])
        check(st == 200, "staff of department 119 reads the restricted Patient")
        time.sleep(0.1)
        st, _, lines = c.request("GET", "/cityroom/v1/audit?limit=1000", headers=admin)
        check(st == 200 and isinstance(lines, list), f"admin reads the audit log ({st})")
        reads = [l for l in lines if l["action"] == "read-restricted"
                 and ENTITIES["Patient"] in l["detail"]]
        check(any(l["who"].startswith("key:") and l["address"] == "127.0.0.1" and l["at"]
                  for l in reads), "a restricted read is audited with who, when, where")
        writes = [l for l in lines if l["action"] == "PATCH" and l["status"] == 204]
        check(len(writes) >= 5, f"writes are audited with their outcome ({len(writes)})")
        check(any(l["action"] == "login" and l["status"] == 401 for l in lines),
              "failed logins are audited")
        dump = json.dumps(lines)
        check("crk_" not in dump and "ana-password" not in dump and ADMIN_PASSWORD not in dump,
              "no key or password in the audit log")
        st, _, _ = c.request("GET", "/cityroom/v1/audit?from=not-a-time", headers=admin)
        check(st == 400, f"bad audit query → 400 ({st})")

        # ---- CORS allow-list: not configured here → no CORS header, preflight refused
        st, hd, _ = c.request("OPTIONS", "/ngsi-ld/v1/entities",
                              headers={"Origin": "https://evil.example",
                                       "Access-Control-Request-Method": "POST"})
        check(st == 403 and "access-control-allow-origin" not in hd,
              f"preflight from an origin not allowed → 403 ({st})")

        log = Path(server.stderr_path).read_text(errors="replace")
        check("crk_" not in log and "ana-password" not in log, "no keys or passwords in the log")
    finally:
        rc = server.stop()
        check(rc == 0, f"server exits 0 (got {rc})")

    # ---- rate limits and CORS on a server with them configured
    data2 = os.path.join(tmp, "data2")
    os.makedirs(data2)
    server = run_cases.Server(binary, data2, ["--rate-limit-address", "2", "--cors-origin",
                                              "https://screens.example"], auth=True)
    port = server.start()
    c = Client(port)
    try:
        statuses = []
        retry = None
        for _ in range(30):
            st, hd, _ = c.request("GET", "/ngsi-ld/v1/types")
            statuses.append(st)
            if st == 429:
                retry = hd.get("retry-after")
        check(200 in statuses and 429 in statuses and retry and int(retry) >= 1,
              f"per-address rate limit: 429 with Retry-After ({statuses.count(429)} of 30)")
        time.sleep(1.1)
        st, hd, _ = c.request("OPTIONS", "/ngsi-ld/v1/entities",
                              headers={"Origin": "https://screens.example",
                                       "Access-Control-Request-Method": "PATCH",
                                       "Access-Control-Request-Headers": "x-api-key"})
        check(st == 204 and hd.get("access-control-allow-origin") == "https://screens.example"
              and "x-api-key" in hd.get("access-control-allow-headers", ""),
              f"preflight from an allowed origin → 204 ({st})")
    finally:
        server.stop()

    oidc_checks(binary, tmp)
    families(binary, tmp)
    attribute_matrix(binary, tmp)
    revocation(binary, tmp)

    print(f"\n{len(FAILURES)} failure(s)")
    for f in FAILURES:
        print("  " + f)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
