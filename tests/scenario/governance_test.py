#!/usr/bin/env python3
"""Governance end to end (docs/GOVERNANCE.md) against real server processes.

1. privacy on the live stream: an SSE client watches type=ServiceRequest; an Open311 POST
   with first_name, last_name, phone and email arrives on the stream (its description does)
   and none of the personal values ever does; nor in a subscription-free NGSI-LD read.
2. derived index rebuilt at start: requests and a pledge are searchable, the server is
   stopped, the index file deleted, the server started again → the same searches find the
   same ids (the index is rebuilt from the hub), and statistics count the same requests.
3. the command line import: `cityroom governance import-pledges FILE --data-dir D` with the
   server stopped, then serve → the summary reproduces Boryeong's 77.7 % over 65 pledges.
No timing asserts: "eventually" waits with generous deadlines.
Usage: governance_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

REPO = HERE.parent.parent
PLEDGES = REPO / "data" / "governance" / "pledges_boryeong_2021-12-31.csv"
DEADLINE_S = 60
PERSONAL = {"first_name": "길동", "last_name": "홍", "phone": "010-5555-0101",
            "email": "gildong@example.org"}


def form_post(port: int, fields: dict[str, str]) -> run_cases.Reply:
    body = urllib.parse.urlencode(fields).encode()
    return run_cases.http_request(port, "POST", "/open311/v2/requests.json",
                                  [("Content-Type", "application/x-www-form-urlencoded")], body)


def get_json(port: int, target: str):
    reply = run_cases.http_request(port, "GET", target)
    assert reply.status == 200, (target, reply.status, reply.text()[:300])
    return reply.json()


def new_request(port: int, description: str, code: str = "noise") -> str:
    fields = {"api_key": "cityroom-demo-key", "service_code": code, "lat": "37.5",
              "long": "127.03", "description": description, **PERSONAL}
    reply = form_post(port, fields)
    assert reply.status == 201, (reply.status, reply.text())
    return reply.json()[0]["service_request_id"]


def part_stream_privacy(binary: str, root: Path) -> None:
    server = run_cases.Server(binary, str(root / "privacy"))
    port = server.start()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
        sock.sendall((f"GET /live/v1/stream?type=ServiceRequest&options=keyValues HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n").encode())
        received = b""
        deadline = time.monotonic() + DEADLINE_S
        while b"snapshot" not in received:  # the stream is open once its snapshot arrived
            assert time.monotonic() < deadline, received[:500]
            received += sock.recv(65536)
        rid = new_request(port, "스트림 개인정보 확인용 소음 민원")
        while "스트림 개인정보".encode() not in received:
            assert time.monotonic() < deadline, f"the request never reached the stream: {received[:800]!r}"
            received += sock.recv(65536)
        sock.close()
        text = received.decode("utf-8", "replace")
        for name, value in PERSONAL.items():
            assert value not in text, f"{name} on the live stream"
        entity = run_cases.http_request(port, "GET", f"/ngsi-ld/v1/entities/urn:ngsi-ld:ServiceRequest:{rid}")
        for name, value in PERSONAL.items():
            assert value not in entity.text(), f"{name} in the NGSI-LD entity"
        print("PASS stream privacy")
    finally:
        assert server.stop() == 0


def part_rebuild(binary: str, root: Path) -> None:
    data = root / "rebuild"
    server = run_cases.Server(binary, str(data))
    port = server.start()
    try:
        ids = {new_request(port, "공영주차장 불법 주차", "illegal-parking"),
               new_request(port, "가로등이 꺼져 밤길이 어둡습니다", "streetlight")}
        reply = run_cases.http_request(port, "POST", "/cityroom/v1/pledges/import?city=t&by=test",
                                       [("Content-Type", "text/csv")], PLEDGES.read_bytes())
        assert reply.status == 200, reply.text()
        queries = ["주차", "길", "어둡", "고속도로", "주차장"]
        before = {q: sorted(h["id"] for h in get_json(port, f"/cityroom/v1/search?q={q}&limit=100"))
                  for q in queries}
        assert before["주차"] and before["길"] and before["고속도로"], before
        stats_before = get_json(port, "/cityroom/v1/requests/stats")["total"]
        assert stats_before == 2, stats_before
    finally:
        assert server.stop() == 0
    (data / "governance-index.db").unlink()
    for extra in ("governance-index.db-wal", "governance-index.db-shm"):
        (data / extra).unlink(missing_ok=True)
    port = server.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            after = {q: sorted(h["id"] for h in get_json(port, f"/cityroom/v1/search?q={q}&limit=100"))
                     for q in queries}
            if after == before:
                break
            assert time.monotonic() < deadline, (before, after)
            time.sleep(0.2)
        assert get_json(port, "/cityroom/v1/requests/stats")["total"] == stats_before
        listed = {r["service_request_id"] for r in get_json(port, "/open311/v2/requests.json")}
        assert listed == ids, (listed, ids)
        print("PASS index rebuilt from the hub")
    finally:
        assert server.stop() == 0


def part_cli_import(binary: str, root: Path) -> None:
    data = root / "cli"
    out = subprocess.run([binary, "governance", "import-pledges", str(PLEDGES), "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "65 rows, 65 new" in out.stdout and "77.7 %" in out.stdout, out.stdout
    bad = subprocess.run([binary, "governance", "import-pledges", str(root / "missing.csv"),
                          "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2, (bad.returncode, bad.stderr)
    server = run_cases.Server(binary, str(data))
    port = server.start()
    try:
        summary = get_json(port, "/cityroom/v1/pledges/summary")
        assert summary["count"] == 65 and summary["implementationRate"] == 77.7, summary
        pledge = get_json(port, "/cityroom/v1/pledges/boryeong:1-1")
        assert pledge["modifiedBy"] == "import:pledges_boryeong_2021-12-31.csv", pledge
        print("PASS command-line pledge import")
    finally:
        assert server.stop() == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cityroom-governance-"))
    try:
        part_stream_privacy(args.binary, root)
        part_rebuild(args.binary, root)
        part_cli_import(args.binary, root)
    except AssertionError as e:
        print(f"FAIL {e!r}")
        print(f"(data kept in {root})")
        return 1
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
