#!/usr/bin/env python3
"""Acknowledged writes survive kill -9, and SIGTERM stops the server cleanly under load.

Crash trials (3 by default): a fresh server; several writer threads stream POST /entities and
PATCH /entities/{id}/attrs on their own entities and record every write answered 201/204; at a
seeded random number of acknowledgements the server is killed with SIGKILL; it is restarted on
the same data dir and EVERY acknowledged write must be there with its value. A write that was
in flight when the server died may or may not have landed: for it the old or the new value is
accepted, nothing else.

Graceful stop: writers in flight, SIGTERM → exit code 0 within 5 s; after a restart every
acknowledged write is there too.

Timing is never asserted beyond the 5 s stop bound; what is asserted is durability.
Usage: crash_test.py --binary PATH [--seed N] [--trials N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

WRITERS = 4
WRITES_PER_WRITER_MAX = 3000      # a bound on each writer's loop (the kill comes much earlier)
KILL_AFTER_ACKS = (300, 3000)     # the kill happens after a seeded number of acks in this range
GRACEFUL_STOP_S = 5
TENANT = "crash"


@dataclass
class EntityState:
    acked: int | None = None        # last value the server acknowledged (None: create not acked)
    pending: int | None = None      # value of a write sent without an answer (in flight at the kill)


@dataclass
class Ledger:
    """What each writer knows was acknowledged. One writer owns each entity, so per entity the
    writes are sequential and the last acknowledged value is the truth."""
    entities: dict[str, EntityState] = field(default_factory=dict)
    acks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_event: threading.Event = field(default_factory=threading.Event)
    kill_after: int = 0

    def ack(self) -> None:
        with self.lock:
            self.acks += 1
            if self.kill_after and self.acks >= self.kill_after:
                self.acked_event.set()


def entity_body(eid: str, value: int, writer: int) -> bytes:
    return json.dumps({
        "id": eid, "type": "CrashProbe",
        "reading": {"type": "Property", "value": value},
        "writer": {"type": "Property", "value": writer},
        "name": {"type": "Property", "value": f"역삼1동 센서 {value}"},
    }, ensure_ascii=False).encode("utf-8")


def writer_loop(port: int, writer: int, rng: random.Random, ledger: Ledger, stop: threading.Event,
                prefix: str) -> None:
    mine: list[str] = []
    headers_json = [("Content-Type", "application/json"), ("NGSILD-Tenant", TENANT)]
    for n in range(WRITES_PER_WRITER_MAX):
        if stop.is_set():
            return
        value = writer * 1_000_000 + n
        if not mine or rng.random() < 0.5:
            eid = f"urn:ngsi-ld:CrashProbe:{prefix}-w{writer}-{n}"
            state = EntityState(pending=value)
            with ledger.lock:
                ledger.entities[eid] = state
            method, target, body, ok = "POST", "/ngsi-ld/v1/entities", entity_body(eid, value, writer), 201
        else:
            eid = rng.choice(mine)
            with ledger.lock:
                state = ledger.entities[eid]
                state.pending = value
            body = json.dumps({"reading": {"type": "Property", "value": value}}).encode()
            method, target, ok = "PATCH", f"/ngsi-ld/v1/entities/{eid}/attrs", 204
        try:
            reply = run_cases.http_request(port, method, target, headers_json, body, timeout_s=10)
        except OSError:
            return  # the server is gone; this write stays pending (may or may not have landed)
        if reply.status == ok:
            with ledger.lock:
                state.acked, state.pending = value, None
            if method == "POST":
                mine.append(eid)
            ledger.ack()
        elif reply.status >= 500:
            return  # refusing while shutting down is fine; the write stays pending
        else:
            raise AssertionError(f"{method} {target}: unexpected {reply.status} {reply.text()[:300]}")


def start_writers(port: int, seed: int, ledger: Ledger, prefix: str, count: int = WRITERS):
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(w: int) -> None:
        try:
            writer_loop(port, w, random.Random(seed * 100 + w), ledger, stop, prefix)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(count)]
    for t in threads:
        t.start()
    return threads, stop, errors


def verify(port: int, ledger: Ledger) -> list[str]:
    """Every acknowledged write is there with its value (or the in-flight one)."""
    problems = []
    checked = 0
    for eid, st in sorted(ledger.entities.items()):
        reply = run_cases.http_request(port, "GET", f"/ngsi-ld/v1/entities/{eid}?options=keyValues",
                                       [("NGSILD-Tenant", TENANT)])
        if st.acked is None:
            # A create that was never acknowledged: absent, or present with its own value.
            if reply.status == 200 and reply.json().get("reading") != st.pending:
                problems.append(f"{eid}: unacknowledged create landed with a wrong value "
                                f"{reply.json().get('reading')} (sent {st.pending})")
            continue
        checked += 1
        if reply.status != 200:
            problems.append(f"{eid}: acknowledged (value {st.acked}) but GET gave {reply.status}")
            continue
        got = reply.json().get("reading")
        allowed = {st.acked} | ({st.pending} if st.pending is not None else set())
        if got not in allowed:
            problems.append(f"{eid}: reading is {got}, acknowledged {st.acked}"
                            + (f" (in flight {st.pending})" if st.pending is not None else ""))
    if checked == 0:
        problems.append("no write was acknowledged before the stop: the test proved nothing")
    return problems


def crash_trial(binary: str, seed: int, trial: int, extra: list[str]) -> list[str]:
    rng = random.Random(seed + trial)
    tmp = tempfile.mkdtemp(prefix=f"cityroom-crash-{trial}-")
    data = os.path.join(tmp, "data")
    server = run_cases.Server(binary, data, extra)
    problems: list[str] = []
    try:
        port = server.start()
        ledger = Ledger(kill_after=rng.randint(*KILL_AFTER_ACKS))
        threads, stop, errors = start_writers(port, seed + trial, ledger, f"t{trial}")
        if not ledger.acked_event.wait(timeout=60):
            problems.append(f"only {ledger.acks} acks in 60 s (wanted {ledger.kill_after} before the kill)")
        server.kill()  # kill -9 at a seeded point of the stream
        stop.set()
        for t in threads:
            t.join(timeout=15)
        problems += [f"writer error: {e}" for e in errors]
        restarted = run_cases.Server(binary, data, extra)
        try:
            port = restarted.start()
            problems += verify(port, ledger)
            # The restarted server takes new writes on the same data.
            reply = run_cases.http_request(port, "POST", "/ngsi-ld/v1/entities",
                                           [("Content-Type", "application/json"), ("NGSILD-Tenant", TENANT)],
                                           entity_body(f"urn:ngsi-ld:CrashProbe:after-{trial}", 1, 99))
            if reply.status != 201:
                problems.append(f"a write after the restart gave {reply.status}")
            rc = restarted.stop()
            if rc != 0:
                problems.append(f"the restarted server exited with {rc} after SIGTERM")
        finally:
            restarted.kill()
        acked = sum(1 for s in ledger.entities.values() if s.acked is not None)
        print(f"     trial {trial}: killed after {ledger.acks} acks, {acked} entities acknowledged")
    except run_cases.ServerError as e:
        problems.append(str(e))
    finally:
        server.kill()
        if problems:
            print(f"     (data dir and logs kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return problems


def graceful_stop(binary: str, seed: int, extra: list[str]) -> list[str]:
    tmp = tempfile.mkdtemp(prefix="cityroom-stop-")
    data = os.path.join(tmp, "data")
    server = run_cases.Server(binary, data, extra)
    problems: list[str] = []
    try:
        port = server.start()
        ledger = Ledger(kill_after=100)
        threads, stop, errors = start_writers(port, seed + 1000, ledger, "g")
        ledger.acked_event.wait(timeout=60)
        try:
            rc = server.stop(timeout_s=GRACEFUL_STOP_S)  # SIGTERM with writes in flight
            if rc != 0:
                problems.append(f"SIGTERM under load: exit code {rc}, want 0\n{server.log_tail()}")
        except run_cases.ServerError as e:
            problems.append(f"SIGTERM under load: {e}")
        stop.set()
        for t in threads:
            t.join(timeout=15)
        problems += [f"writer error: {e}" for e in errors]
        restarted = run_cases.Server(binary, data, extra)
        try:
            port = restarted.start()
            problems += verify(port, ledger)
            restarted.stop()
        finally:
            restarted.kill()
        print(f"     graceful stop after {ledger.acks} acks")
    except run_cases.ServerError as e:
        problems.append(str(e))
    finally:
        server.kill()
        if problems:
            print(f"     (data dir and logs kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return problems


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--seed", type=int, default=20240702)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--server-arg", action="append", default=[])
    args = ap.parse_args(argv)
    print(f"seed {args.seed}")
    failed = False
    for trial in range(1, args.trials + 1):
        problems = crash_trial(args.binary, args.seed, trial, args.server_arg)
        print(f"{'FAIL' if problems else 'PASS'} kill -9 trial {trial}")
        for p in problems[:30]:
            print(f"     - {p}")
        if len(problems) > 30:
            print(f"     ... and {len(problems) - 30} more")
        failed |= bool(problems)
    problems = graceful_stop(args.binary, args.seed, args.server_arg)
    print(f"{'FAIL' if problems else 'PASS'} SIGTERM with writes in flight")
    for p in problems[:30]:
        print(f"     - {p}")
    failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
