#!/usr/bin/env python3
"""MQTT device ingestion end to end: Mosquitto → cityroom → the NGSI-LD API.

A throwaway Mosquitto runs on a free loopback port with a temporary config (persistence on, as a
real deployment would have). `cityroom serve --mqtt-config` ingests two mappings:
  - fields mode: city/bridge/+/telemetry → urn:ngsi-ld:BridgeSensor:{1}
  - ngsi-ld mode: city/entities/#
cityroom starts before the broker (it must keep trying). The test publishes with QoS 1 through `mosquitto_pub` and checks, through the HTTP API:
  1. device payloads become entities, and a second payload updates them;
  2. NGSI-LD payloads (normalized, concise array, with an @context) become entities;
     a burst far over the in-flight window (back-pressure) is ingested in full, in order;
  3. bad payloads (malformed JSON, missing field, invalid NGSI-LD) come out on the dead-letter
     topic with their topic, error and payload, and the good data is unchanged;
  4. messages published while cityroom is down are ingested when it comes back (persistent
     session, QoS 1);
  5. after the broker restarts, cityroom reconnects and ingestion resumes — also when the broker
     lost its state and cityroom must subscribe again;
  6. SIGTERM stops cityroom with exit code 0.
Everything waits by polling with a deadline; no timing is asserted.
Exit code 77 (skipped) when the mosquitto tools are not installed.
Usage: mqtt_ingest_test.py --binary PATH
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, str(HERE.parent / "api"))
import run_cases  # noqa: E402

MOSQUITTO = "/usr/sbin/mosquitto"
DEADLINE_S = 20           # longest wait for any one expected effect
BROKER_START_S = 10
DEAD_LETTER = "cityroom/dead-letter"
SKIP = 77
PROBE = '{"probe":true}'


class Failure(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, deadline_s: float = DEADLINE_S):
    """Polls check() until it returns a truthy value; raises Failure naming `what` at the end."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise Failure(f"timed out after {deadline_s} s waiting for {what} (last: {last!r})")


class Broker:
    """Mosquitto on a fixed loopback port; stop() + start() is a broker restart that keeps its
    persistence file (sessions, subscriptions and queued QoS 1 messages)."""

    def __init__(self, work: Path, port: int):
        self.dir = work / "broker"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.proc: subprocess.Popen | None = None
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join([
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            # As root mosquitto would switch to the "mosquitto" user, which cannot write here.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "persistence true",
            f"persistence_location {self.dir}/",
            f"log_dest file {self.dir}/mosquitto.log",
            "max_queued_messages 100000",
        ]) + "\n")
        self.conf = conf

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening():
            if self.proc.poll() is not None:
                raise Failure(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for("mosquitto to listen", listening, BROKER_START_S)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self) -> str:
        try:
            return "\n".join((self.dir / "mosquitto.log").read_text().splitlines()[-15:])
        except OSError:
            return "(no broker log)"


class Subscriber:
    """mosquitto_sub on one topic; each received payload (one line of JSON) goes to a queue."""

    def __init__(self, port: int, topic: str):
        self.messages: "queue.Queue[str]" = queue.Queue()
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for raw in self.proc.stdout:
            self.messages.put(raw.decode("utf-8", "replace").rstrip("\n"))

    def next(self, deadline_s: float = DEADLINE_S) -> str:
        end = time.monotonic() + deadline_s
        while True:
            try:
                line = self.messages.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise Failure(f"no message on the subscribed topic within {deadline_s} s")
            if line != PROBE:
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def publish(port: int, topic: str, payload: str | bytes) -> None:
    data = payload.encode() if isinstance(payload, str) else payload
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
                        "-s"], input=data, capture_output=True, timeout=DEADLINE_S)
    if r.returncode != 0:
        raise Failure(f"mosquitto_pub to {topic} failed: {r.stderr.decode(errors='replace')}")


def get_entity(port: int, eid: str, link: str | None = None) -> dict | None:
    headers = [("Accept", "application/json")]
    if link:
        headers.append(("Link", f'<{link}>; rel="http://www.w3.org/ns/json-ld#context"; '
                                'type="application/ld+json"'))
    r = run_cases.http_request(port, "GET", "/ngsi-ld/v1/entities/" + urllib.parse.quote(eid, safe=""),
                               headers)
    if r.status == 404:
        return None
    if r.status != 200:
        raise Failure(f"GET {eid}: {r.status} {r.text()}")
    return r.json()


def value_of(entity: dict | None, attr: str):
    if not entity or attr not in entity:
        return None
    return entity[attr].get("value")


def write_config(path: Path, port: int) -> None:
    path.write_text(json.dumps({
        "broker": {"host": "127.0.0.1", "port": port, "clientId": "cityroom-scenario",
                   "reconnectDelayMinS": 1, "reconnectDelayMaxS": 2},
        "deadLetterTopic": DEAD_LETTER,
        # A tiny window, so that a burst makes intake wait for the store (back-pressure).
        "inFlightMax": 4,
        "mappings": [
            {"name": "bridges", "topic": "city/bridge/+/telemetry", "mode": "fields",
             "entityId": "urn:ngsi-ld:BridgeSensor:{1}", "entityType": "BridgeSensor",
             "observedAt": "ts",
             "fields": {"tilt_deg": {"attribute": "tilt", "unitCode": "DD"},
                        "temp_c": {"attribute": "temperature", "unitCode": "CEL",
                                   "optional": True}}},
            {"name": "entities", "topic": "city/entities/#", "mode": "ngsi-ld"},
        ],
    }, indent=2))


ENV_CONTEXT = "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"
B1 = "urn:ngsi-ld:BridgeSensor:b1"


def wait_subscribed(mqtt_port: int, http_port: int) -> None:
    """cityroom subscribes asynchronously: publish a probe until it shows up as an entity."""
    def probe():
        publish(mqtt_port, "city/bridge/probe/telemetry",
                '{"tilt_deg": 0, "ts": "2026-11-22T00:00:00Z"}')
        time.sleep(0.2)
        return get_entity(http_port, "urn:ngsi-ld:BridgeSensor:probe")
    wait_for("cityroom's MQTT subscription", probe)


def wait_dead_letter_subscriber(mqtt_port: int, dead: Subscriber) -> None:
    """mosquitto_sub has no "subscribed" signal: publish probes to the dead-letter topic
    ourselves until the subscriber sees one (later probes are skipped by Subscriber.next)."""
    def probe():
        publish(mqtt_port, DEAD_LETTER, PROBE)
        try:
            return dead.messages.get(timeout=0.3) == PROBE
        except queue.Empty:
            return False
    wait_for("the dead-letter subscriber", probe)


def check_fields(mqtt_port: int, http_port: int) -> None:
    publish(mqtt_port, "city/bridge/b1/telemetry", '{"tilt_deg": 0.4, "ts": "2026-11-22T01:00:00Z"}')
    e = wait_for("BridgeSensor b1", lambda: get_entity(http_port, B1))
    tilt = e["tilt"]
    if tilt["value"] != 0.4 or tilt.get("unitCode") != "DD" or \
            tilt.get("observedAt") != "2026-11-22T01:00:00.000Z" or e["type"] != "BridgeSensor":
        raise Failure(f"b1 as stored: {e}")
    publish(mqtt_port, "city/bridge/b1/telemetry",
            '{"tilt_deg": 0.5, "temp_c": 3.5, "ts": "2026-11-22T01:01:00Z"}')
    e = wait_for("b1 updated", lambda: (lambda x: x if value_of(x, "tilt") == 0.5 else None)(
        get_entity(http_port, B1)))
    if value_of(e, "temperature") != 3.5 or e["temperature"].get("unitCode") != "CEL":
        raise Failure(f"b1 update lost the temperature: {e}")
    print("ok: fields payloads create and update BridgeSensor entities")


def check_burst(mqtt_port: int, http_port: int) -> None:
    """A burst far over the in-flight window: every message lands, the last value wins."""
    sensors, rounds = 20, 10
    lines = []
    for r in range(rounds):
        for k in range(sensors):
            lines.append(json.dumps({"tilt_deg": r * 100 + k, "ts": "2026-11-22T01:10:00Z"}))
    # One mosquitto_pub per sensor topic, each sending its `rounds` lines in order (-l).
    for k in range(sensors):
        data = "\n".join(lines[r * sensors + k] for r in range(rounds)) + "\n"
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mqtt_port), "-q", "1",
                            "-t", f"city/bridge/burst{k}/telemetry", "-l"], input=data.encode(),
                           capture_output=True, timeout=DEADLINE_S)
        if r.returncode != 0:
            raise Failure(f"mosquitto_pub -l failed: {r.stderr.decode(errors='replace')}")
    for k in range(sensors):
        eid = f"urn:ngsi-ld:BridgeSensor:burst{k}"
        want = (rounds - 1) * 100 + k
        wait_for(f"{eid} at its last value {want}",
                 lambda: value_of(get_entity(http_port, eid), "tilt") == want)
    print(f"ok: a burst of {sensors * rounds} messages over an in-flight window of 4 is ingested "
          "in order")


def check_ngsi_ld(mqtt_port: int, http_port: int) -> None:
    publish(mqtt_port, "city/entities/parking", json.dumps({
        "id": "urn:ngsi-ld:ParkingSpot:p1", "type": "ParkingSpot",
        "status": {"type": "Property", "value": "free"}}))
    publish(mqtt_port, "city/entities/air", json.dumps([
        {"id": "urn:ngsi-ld:AirQualityObserved:a1", "type": "AirQualityObserved",
         "temperature": 12.5, "@context": ENV_CONTEXT},
        {"id": "urn:ngsi-ld:Thing:t1", "type": "Thing", "label": "concise"}]))
    p1 = wait_for("ParkingSpot p1", lambda: get_entity(http_port, "urn:ngsi-ld:ParkingSpot:p1"))
    if value_of(p1, "status") != "free":
        raise Failure(f"p1 as stored: {p1}")
    a1 = wait_for("AirQualityObserved a1",
                  lambda: get_entity(http_port, "urn:ngsi-ld:AirQualityObserved:a1", ENV_CONTEXT))
    if value_of(a1, "temperature") != 12.5:
        raise Failure(f"a1 read with its @context has no temperature 12.5: {a1}")
    t1 = wait_for("Thing t1", lambda: get_entity(http_port, "urn:ngsi-ld:Thing:t1"))
    if value_of(t1, "label") != "concise":
        raise Failure(f"t1 as stored: {t1}")
    # Upsert with update semantics: a later message adds to p1 and keeps its other attributes.
    publish(mqtt_port, "city/entities/parking", json.dumps({
        "id": "urn:ngsi-ld:ParkingSpot:p1", "type": "ParkingSpot", "category": "onstreet"}))
    p1 = wait_for("p1 appended", lambda: (lambda x: x if value_of(x, "category") else None)(
        get_entity(http_port, "urn:ngsi-ld:ParkingSpot:p1")))
    if value_of(p1, "status") != "free":
        raise Failure(f"upsert-update dropped status: {p1}")
    print("ok: NGSI-LD payloads (normalized, concise array, own @context) are upserted")


def check_dead_letters(mqtt_port: int, http_port: int, dead: Subscriber) -> None:
    bad = [
        ("city/bridge/b1/telemetry", '{"tilt_deg": 9.9, "ts": ', "invalid JSON"),
        ("city/bridge/b1/telemetry", '{"temp_c": 99, "ts": "2026-11-22T01:02:00Z"}',
         "'tilt_deg' is missing"),
        ("city/entities/x", '{"id": "not a uri", "type": "X"}', "must be a URI"),
        ("city/entities/x", '[1, 2]', "entity object"),
    ]
    for topic, payload, _ in bad:
        publish(mqtt_port, topic, payload)
    letters = {}
    for _ in bad:
        letter = json.loads(dead.next())
        letters[(letter.get("topic"), letter.get("payload"))] = letter
    for topic, payload, error in bad:
        letter = letters.get((topic, payload))
        if not letter or error not in letter.get("error", "") or "receivedAt" not in letter:
            raise Failure(f"dead letter for {payload!r} on {topic}: {letter} (want error "
                          f"containing {error!r}; all: {list(letters.values())})")
    b1 = get_entity(http_port, B1)
    if value_of(b1, "tilt") != 0.5 or value_of(b1, "temperature") != 3.5:
        raise Failure(f"a bad payload changed b1: {b1}")
    print("ok: bad payloads go to the dead-letter topic; good data unchanged")


def check_queued_while_down(server: run_cases.Server, mqtt_port: int) -> int:
    rc = server.stop()
    if rc != 0:
        raise Failure(f"cityroom exited with {rc} on SIGTERM")
    publish(mqtt_port, "city/bridge/b2/telemetry", '{"tilt_deg": 1.25, "ts": "2026-11-22T01:03:00Z"}')
    http_port = server.start()
    e = wait_for("b2 published while cityroom was down",
                 lambda: get_entity(http_port, "urn:ngsi-ld:BridgeSensor:b2"))
    if value_of(e, "tilt") != 1.25:
        raise Failure(f"b2 as stored: {e}")
    print("ok: QoS 1 messages queued while cityroom was down are ingested after its restart")
    return http_port


def check_broker_restart(broker: Broker, mqtt_port: int, http_port: int, dead: Subscriber) -> None:
    dead.stop()
    broker.stop()
    time.sleep(0.5)  # let cityroom notice the loss (not asserted; the restart works either way)
    broker.start()
    publish(mqtt_port, "city/bridge/b1/telemetry", '{"tilt_deg": 0.75, "ts": "2026-11-22T01:04:00Z"}')
    wait_for("b1 updated after the broker restart",
             lambda: value_of(get_entity(http_port, B1), "tilt") == 0.75)
    publish(mqtt_port, "city/bridge/b3/telemetry", '{"tilt_deg": 2, "ts": "2026-11-22T01:05:00Z"}')
    wait_for("b3 after the broker restart",
             lambda: get_entity(http_port, "urn:ngsi-ld:BridgeSensor:b3"))
    print("ok: ingestion resumes after a broker restart")

    # A broker that lost its state (no persistence file) no longer knows our subscriptions:
    # cityroom must subscribe again after reconnecting. Messages published before that are
    # lost by the broker, so publish until one arrives.
    broker.stop()
    for f in broker.dir.glob("mosquitto.db*"):
        f.unlink()
    broker.start()

    def ingested_after_state_loss():
        publish(mqtt_port, "city/bridge/b4/telemetry", '{"tilt_deg": 4, "ts": "2026-11-22T01:06:00Z"}')
        time.sleep(0.3)
        return get_entity(http_port, "urn:ngsi-ld:BridgeSensor:b4")
    wait_for("b4 after a broker restart without its state", ingested_after_state_loss)
    print("ok: subscriptions are sent again to a broker that forgot them")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    for tool in (MOSQUITTO, "mosquitto_pub", "mosquitto_sub"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not installed (apt-get install mosquitto mosquitto-clients)")
            return SKIP

    work = Path(tempfile.mkdtemp(prefix="cityroom-mqtt-"))
    mqtt_port = free_port()
    broker = Broker(work, mqtt_port)
    config = work / "mqtt.json"
    write_config(config, mqtt_port)
    server = run_cases.Server(args.binary, str(work / "data"), ["--mqtt-config", str(config)])
    dead: Subscriber | None = None
    try:
        # cityroom first: it must keep trying until the broker is there.
        http_port = server.start()
        broker.start()
        dead = Subscriber(mqtt_port, DEAD_LETTER)
        wait_subscribed(mqtt_port, http_port)
        wait_dead_letter_subscriber(mqtt_port, dead)
        check_fields(mqtt_port, http_port)
        check_ngsi_ld(mqtt_port, http_port)
        check_burst(mqtt_port, http_port)
        check_dead_letters(mqtt_port, http_port, dead)
        http_port = check_queued_while_down(server, mqtt_port)
        check_broker_restart(broker, mqtt_port, http_port, dead)
        rc = server.stop()
        if rc != 0:
            raise Failure(f"cityroom exited with {rc} on SIGTERM")
        print("ok: SIGTERM stops cityroom with exit code 0")
        return 0
    except (Failure, run_cases.ServerError) as e:
        print(f"FAIL: {e}")
        print(server.log_tail(40))
        print("--- broker log ---\n" + broker.log_tail())
        return 1
    finally:
        if dead:
            dead.stop()
        server.kill()
        broker.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(str(work / "data") + ".logs", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
