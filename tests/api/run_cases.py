#!/usr/bin/env python3
"""Runs cityroom's declarative API case files against a fresh server.

Usage: run_cases.py --binary PATH [--server-arg ARG]... FILE.case...

For each case file a fresh `cityroom serve` is started (new temp data dir, port 0), the cases
run in order against it, and it is stopped with SIGTERM (it must exit 0 within 10 s).
Exit status is non-zero when any case fails. Python 3 standard library only.

Case file format (see tests/api/README.md for the full reference):

    # comment (a line starting with '#')
    name:    create an entity
    request: POST /ngsi-ld/v1/entities
    headers: Content-Type: application/json
             NGSILD-Tenant: t1
    body:    {"id": "urn:ngsi-ld:Bridge:1", "type": "Bridge"}
    expect:  201
    header:  Location: /ngsi-ld/v1/entities/urn:ngsi-ld:Bridge:1
    ---
    name:    next case ...

Keys start at column 0; a value runs on over the following lines until the next key.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10
REQUEST_TIMEOUT_S = 30
BODY_SHOWN_MAX = 3000
READY_RE = re.compile(r"^cityroom listening on http://127\.0\.0\.1:(\d+)\s*$")

KEYS = {
    "name", "request", "headers", "header-in", "body", "body-file", "body-bytes", "transport",
    "expect", "header", "json", "json-exact", "count", "text", "action",
}
KEY_RE = re.compile(r"^([a-z][a-z-]*):(.*)$")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def shared_data_dir() -> Path | None:
    """The shared real-data folder: <repo>/../shared/data, else /work/shared/data."""
    for candidate in (REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return None


# ----------------------------------------------------------------------------------------------
# Server process


class ServerError(Exception):
    pass


class Server:
    """One `cityroom serve` process on a data dir; start() waits for the listening line."""

    def __init__(self, binary: str, data_dir: str, extra_args: list[str] | None = None,
                 auth: bool = False):
        self.binary = binary
        self.data_dir = data_dir
        self.extra_args = extra_args or []
        # Tests that are not about access control run with it off (--no-auth, loopback only);
        # tests/scenario/access_test.py passes auth=True.
        self.auth = auth
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.stderr_path = os.path.join(data_dir + ".logs", "stderr.txt")
        self._stdout_lines: "queue.Queue[str | None]" = queue.Queue()

    def start(self) -> int:
        os.makedirs(os.path.dirname(self.stderr_path), exist_ok=True)
        # Appends: a restarted server's log follows the previous one's.
        self._stderr = open(self.stderr_path, "ab")
        cmd = [self.binary, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0"]
        if not self.auth:
            cmd.append("--no-auth")
        self.proc = subprocess.Popen(cmd + self.extra_args, stdout=subprocess.PIPE,
                                     stderr=self._stderr, stdin=subprocess.DEVNULL)
        # A fresh queue per process: the previous process's reader may still post its EOF.
        self._stdout_lines = queue.Queue()
        threading.Thread(target=self._drain_stdout, args=(self.proc, self._stdout_lines),
                         daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ServerError(f"no listening line within {START_TIMEOUT_S} s\n{self.log_tail()}")
            try:
                line = self._stdout_lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait()
                raise ServerError(f"server exited with {rc} before listening\n{self.log_tail()}")
            m = READY_RE.match(line)
            if not m:
                self.kill()
                raise ServerError(f"unexpected first stdout line {line!r} (want "
                                  f"'cityroom listening on http://127.0.0.1:PORT')")
            self.port = int(m.group(1))
            return self.port

    @staticmethod
    def _drain_stdout(proc: subprocess.Popen, lines: "queue.Queue[str | None]") -> None:
        assert proc.stdout
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace"))
        lines.put(None)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM; returns the exit code. Raises when it does not exit in time."""
        assert self.proc
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"server did not exit within {timeout_s} s of SIGTERM")
        finally:
            self._stderr.close()
        return rc

    def kill(self) -> None:
        """SIGKILL (kill -9) if still running; also what cleanup calls."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "_stderr", None) and not self._stderr.closed:
            self._stderr.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.stderr_path).read_text("utf-8", "replace")
        except OSError:
            return "(no server log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- server stderr (last {lines} lines) ---\n{tail}" if tail else "(server log empty)"


# ----------------------------------------------------------------------------------------------
# HTTP over a raw socket: we need control over Content-Length, chunking and huge bodies that
# the server may refuse before reading them.


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))


SAFE_URL_CHARS = "/:?&=;,%+!$'()*@~-._"


def encode_target(target: str) -> str:
    """Percent-encodes what may not appear raw in a request target (spaces, quotes, <>, [],
    |, ^, non-ASCII...). Existing %XX escapes pass through untouched."""
    return urllib.parse.quote(target, safe=SAFE_URL_CHARS)


def http_request(port: int, method: str, target: str, headers: list[tuple[str, str]] | None = None,
                 body: bytes | None = None, transport: str = "", host: str = "127.0.0.1",
                 timeout_s: float = REQUEST_TIMEOUT_S) -> Reply:
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {encode_target(target)} HTTP/1.1", f"Host: {host}:{port}"]
    if "connection" not in names:
        lines.append("Connection: close")
    payload = b""
    if transport == "chunked":
        lines.append("Transfer-Encoding: chunked")
        data = body or b""
        chunk = 4096
        for i in range(0, len(data), chunk):
            part = data[i:i + chunk]
            payload += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        payload += b"0\r\n\r\n"
    elif transport == "no-content-length":
        pass  # neither Content-Length nor a body: the server must ask for the length (411)
    elif body is not None or method in ("POST", "PUT", "PATCH"):
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(body or b'')}")
        payload = body or b""
    elif transport:
        raise ValueError(f"unknown transport {transport!r}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    sock = socket.create_connection((host, port), timeout=timeout_s)
    try:
        _send_watching(sock, head, payload)
        return _read_reply(sock, method)
    finally:
        sock.close()


def _send_watching(sock: socket.socket, head: bytes, payload: bytes) -> None:
    """Sends the head then the body in slices, stopping early when the server already
    answered (e.g. 413 after reading only the headers) or closed its side."""
    try:
        sock.sendall(head)
        step = 64 * 1024
        for i in range(0, len(payload), step):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                return
            sock.sendall(payload[i:i + step])
    except (BrokenPipeError, ConnectionResetError):
        return


def _read_reply(sock: socket.socket, method: str) -> Reply:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed before a full response head ({buf[:200]!r})")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    head_lines = head.decode("latin-1").split("\r\n")
    parts = head_lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in head_lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    lower = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Reply(status, reason, headers, b"")
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body = _read_chunked(sock, rest)
    elif "content-length" in lower:
        length = int(lower["content-length"])
        while len(rest) < length:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        body = rest[:length]
    else:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        body = rest
    # Header values are bytes on the wire; decode UTF-8 where possible (Korean in Location).
    headers = [(k, _latin1_to_utf8(v)) for k, v in headers]
    return Reply(status, reason, headers, body)


def _latin1_to_utf8(v: str) -> str:
    try:
        return v.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return v


def _read_chunked(sock: socket.socket, rest: bytes) -> bytes:
    out = b""
    buf = rest

    def need(n: int) -> None:
        nonlocal buf
        while len(buf) < n:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed inside a chunked body")
            buf += data

    while True:
        while b"\r\n" not in buf:
            need(len(buf) + 1)
        size_line, buf = buf.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        need(size + 2)
        out += buf[:size]
        buf = buf[size + 2:]


# ----------------------------------------------------------------------------------------------
# Case files


class CaseFileError(Exception):
    pass


@dataclass
class Field:
    key: str
    value: str
    line: int


@dataclass
class Case:
    path: Path
    line: int
    fields: list[Field] = field(default_factory=list)

    def get(self, key: str) -> Field | None:
        found = [f for f in self.fields if f.key == key]
        if len(found) > 1:
            raise CaseFileError(f"{self.path}:{found[1].line}: '{key}:' given twice")
        return found[0] if found else None

    def all(self, key: str) -> list[Field]:
        return [f for f in self.fields if f.key == key]

    @property
    def name(self) -> str:
        f = self.get("name")
        return f.value if f else f"(unnamed case at line {self.line})"


def parse_case_file(path: Path) -> list[Case]:
    cases: list[Case] = []
    current: Case | None = None
    last: Field | None = None
    lines = path.read_text("utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip() == "---":
            current, last = None, None
            continue
        if line.startswith("#"):
            continue
        m = KEY_RE.match(line)
        if m and m.group(1) in KEYS:
            if current is None:
                current = Case(path, number)
                cases.append(current)
            last = Field(m.group(1), m.group(2).strip(), number)
            current.fields.append(last)
            continue
        if m:
            raise CaseFileError(f"{path}:{number}: unknown key '{m.group(1)}:' (keys: "
                                f"{', '.join(sorted(KEYS))})")
        if not line.strip():
            if last is not None:
                last.value += "\n"
            continue
        if last is None:
            raise CaseFileError(f"{path}:{number}: text outside any key: {line!r}")
        last.value += "\n" + line
    for case in cases:
        for f in case.fields:
            f.value = f.value.strip()
            if f.key not in ("json", "json-exact", "body", "headers", "header-in", "header", "text"):
                if "\n" in f.value:
                    raise CaseFileError(f"{path}:{f.line}: '{f.key}:' must be one line "
                                        f"(a key at column 0 may be missing its colon)")
        validate_case(case)
    return cases


def validate_case(case: Case) -> None:
    where = f"{case.path}:{case.line}"
    action = case.get("action")
    if action:
        if action.value not in ("restart",):
            raise CaseFileError(f"{case.path}:{action.line}: unknown action {action.value!r}")
        return
    if not case.get("request"):
        raise CaseFileError(f"{where}: case '{case.name}' has no 'request:'")
    if not case.get("expect"):
        raise CaseFileError(f"{where}: case '{case.name}' has no 'expect:'")
    bodies = [k for k in ("body", "body-file", "body-bytes") if case.get(k)]
    if len(bodies) > 1:
        raise CaseFileError(f"{where}: case '{case.name}' has more than one of {bodies}")


# ----------------------------------------------------------------------------------------------
# Variables and matching

PLACEHOLDER_RE = re.compile(r"\$\{([^}]*)\}")
DATETIME_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"
ABSENT = object()


class Mismatch(Exception):
    pass


class Vars:
    def __init__(self) -> None:
        self.values: dict = {}

    def substitute(self, text: str, where: str) -> str:
        """Replaces ${NAME} in request text with captured values."""
        def repl(m: re.Match) -> str:
            name = m.group(1)
            if name not in self.values:
                raise CaseFileError(f"{where}: unknown variable ${{{name}}} (captured so far: "
                                    f"{sorted(self.values) or 'none'})")
            v = self.values[name]
            return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        return PLACEHOLDER_RE.sub(repl, text)

    def match_string(self, expected: str, actual: str, path: str) -> None:
        """Matches a string template: literal text with ${any}, ${capture:N}, ${N},
        ${datetime}, ${number}; a whole-string ${regex:RE}; '~text' means contains."""
        if expected.startswith("${regex:") and expected.endswith("}"):
            pattern = expected[len("${regex:"):-1]
            if not re.fullmatch(pattern, actual, re.S):
                raise Mismatch(f"{path}: {actual!r} does not match regex {pattern!r}")
            return
        contains = expected.startswith("~")
        template = expected[1:].lstrip() if contains else expected
        regex, captures = "", []
        pos = 0
        for m in PLACEHOLDER_RE.finditer(template):
            regex += re.escape(template[pos:m.start()])
            regex += self._placeholder_regex(m.group(1), captures, path)
            pos = m.end()
        regex += re.escape(template[pos:])
        found = re.search(regex, actual, re.S) if contains else re.fullmatch(regex, actual, re.S)
        if not found:
            how = "does not contain" if contains else "is not"
            raise Mismatch(f"{path}: {actual!r} {how} {template!r}")
        for i, name in enumerate(captures, start=1):
            self.values[name] = found.group(i)

    def _placeholder_regex(self, inner: str, captures: list[str], path: str) -> str:
        if inner == "any":
            return "(?:.*)"
        if inner == "datetime":
            return f"(?:{DATETIME_RE})"
        if inner == "number":
            return r"(?:-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
        if inner.startswith("capture:"):
            captures.append(inner[len("capture:"):])
            return "(.*)"
        if inner in self.values:
            v = self.values[inner]
            return re.escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
        raise Mismatch(f"{path}: unknown variable ${{{inner}}} in expectation")

    def match_json(self, expected, actual, path: str, exact: bool) -> None:
        if isinstance(expected, str) and expected.startswith("${") and expected.endswith("}") \
                and PLACEHOLDER_RE.fullmatch(expected):
            inner = expected[2:-1]
            if inner == "any":
                if actual is ABSENT:
                    raise Mismatch(f"{path}: missing (expected any value)")
                return
            if inner == "absent":
                if actual is not ABSENT:
                    raise Mismatch(f"{path}: expected absent, got {short(actual)}")
                return
            if actual is ABSENT:
                raise Mismatch(f"{path}: missing (expected {expected})")
            if inner.startswith("capture:"):
                self.values[inner[len("capture:"):]] = actual
                return
            if inner == "number":
                if isinstance(actual, bool) or not isinstance(actual, (int, float)):
                    raise Mismatch(f"{path}: expected a number, got {short(actual)}")
                return
            if inner == "string":
                if not isinstance(actual, str):
                    raise Mismatch(f"{path}: expected a string, got {short(actual)}")
                return
            if inner in self.values:
                self.match_json(self.values[inner], actual, path, exact=True)
                return
            # ${datetime}, ${regex:...} fall through to the string matcher.
        if actual is ABSENT:
            raise Mismatch(f"{path}: missing (expected {short(expected)})")
        if isinstance(expected, dict):
            if not isinstance(actual, dict):
                raise Mismatch(f"{path}: expected an object, got {short(actual)}")
            for k, v in expected.items():
                self.match_json(v, actual.get(k, ABSENT), f"{path}.{k}", exact)
            if exact:
                extra = sorted(set(actual) - set(expected))
                if extra:
                    raise Mismatch(f"{path}: unexpected keys {extra}")
            return
        if isinstance(expected, list):
            self._match_array(expected, actual, path, exact)
            return
        if isinstance(expected, str):
            if not isinstance(actual, str):
                raise Mismatch(f"{path}: expected string {expected!r}, got {short(actual)}")
            if "${" in expected:
                self.match_string(expected, actual, path)
            elif expected != actual:
                raise Mismatch(f"{path}: expected {expected!r}, got {actual!r}")
            return
        if isinstance(expected, bool) or expected is None:
            if actual is not expected:
                raise Mismatch(f"{path}: expected {json.dumps(expected)}, got {short(actual)}")
            return
        if isinstance(expected, (int, float)):
            if isinstance(actual, bool) or not isinstance(actual, (int, float)) or actual != expected:
                raise Mismatch(f"{path}: expected {expected}, got {short(actual)}")
            return
        raise Mismatch(f"{path}: cannot compare {expected!r}")

    def _match_array(self, expected: list, actual, path: str, exact: bool) -> None:
        if not isinstance(actual, list):
            raise Mismatch(f"{path}: expected an array, got {short(actual)}")
        mode = None
        if expected and expected[0] in ("${unordered}", "${contains}"):
            mode, expected = expected[0][2:-1], expected[1:]
        if mode != "contains" and len(expected) != len(actual):
            raise Mismatch(f"{path}: expected {len(expected)} elements, got {len(actual)}: "
                           f"{short(actual)}")
        if mode is None:
            for i, (e, a) in enumerate(zip(expected, actual)):
                self.match_json(e, a, f"{path}[{i}]", exact)
            return
        used: set[int] = set()
        for i, e in enumerate(expected):
            for j, a in enumerate(actual):
                if j in used:
                    continue
                saved = dict(self.values)
                try:
                    self.match_json(e, a, f"{path}[{j}]", exact)
                except Mismatch:
                    self.values = saved
                    continue
                used.add(j)
                break
            else:
                raise Mismatch(f"{path}: no element matches expected[{i}] = {short(e)}; "
                               f"actual: {short(actual)}")


def short(v, limit: int = 300) -> str:
    if v is ABSENT:
        return "(absent)"
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


# ----------------------------------------------------------------------------------------------
# Running


class Runner:
    def __init__(self, binary: str, server_args: list[str], verbose: bool):
        self.binary = binary
        self.server_args = server_args
        self.verbose = verbose

    def run_file(self, path: Path) -> tuple[int, int]:
        """Returns (passed, failed)."""
        try:
            cases = parse_case_file(path)
        except (CaseFileError, OSError) as e:
            print(f"ERROR {e}")
            return 0, 1
        tmp = tempfile.mkdtemp(prefix="cityroom-api-")
        data_dir = os.path.join(tmp, "data")
        server = Server(self.binary, data_dir, self.server_args)
        passed = failed = 0
        try:
            try:
                server.start()
            except ServerError as e:
                print(f"FAIL {path}: server did not start: {e}")
                return 0, len(cases) or 1
            vars_ = Vars()
            for case in cases:
                ok = self.run_case(case, server, vars_)
                passed += ok
                failed += not ok
                if not server.alive():
                    print(f"FAIL {path}: server died after case '{case.name}'\n{server.log_tail()}")
                    return passed, failed + 1
            try:
                rc = server.stop()
                if rc != 0:
                    print(f"FAIL {path}: server exited with {rc} after SIGTERM (want 0)\n"
                          f"{server.log_tail()}")
                    failed += 1
            except ServerError as e:
                print(f"FAIL {path}: {e}\n{server.log_tail()}")
                failed += 1
        finally:
            server.kill()
            if failed == 0:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"     (data dir and server log kept in {tmp})")
        return passed, failed

    def run_case(self, case: Case, server: Server, vars_: Vars) -> bool:
        where = f"{case.path}:{case.line}"
        action = case.get("action")
        if action:
            return self.restart(case, server)
        try:
            request = self.build_request(case, vars_)
        except CaseFileError as e:
            print(f"FAIL {where} {case.name}\n     {e}")
            return False
        method, target, headers, body, transport = request
        try:
            reply = http_request(server.port, method, target, headers, body, transport)
        except (OSError, ValueError) as e:
            print(f"FAIL {where} {case.name}\n     {method} {target}: no response: {e}\n"
                  f"{server.log_tail()}")
            return False
        problems = self.check(case, reply, vars_)
        if problems:
            self.report_failure(case, request, reply, problems)
            return False
        print(f"PASS {where} {case.name}")
        return True

    def restart(self, case: Case, server: Server) -> bool:
        where = f"{case.path}:{case.line}"
        try:
            rc = server.stop()
            if rc != 0:
                print(f"FAIL {where} restart: server exited with {rc} after SIGTERM (want 0)")
                return False
            server.start()
        except ServerError as e:
            print(f"FAIL {where} restart: {e}")
            return False
        print(f"PASS {where} {case.name if case.get('name') else 'restart'}")
        return True

    def build_request(self, case: Case, vars_: Vars):
        req = case.get("request")
        assert req
        where = f"{case.path}:{req.line}"
        parts = vars_.substitute(req.value, where).split(None, 1)
        if len(parts) != 2:
            raise CaseFileError(f"{where}: 'request:' wants 'METHOD PATH', got {req.value!r}")
        method, target = parts[0].upper(), parts[1].strip()
        headers: list[tuple[str, str]] = []
        for f in case.all("headers") + case.all("header-in"):
            for line in f.value.splitlines():
                line = line.strip()
                if not line:
                    continue
                k, sep, v = line.partition(":")
                if not sep:
                    raise CaseFileError(f"{case.path}:{f.line}: header line {line!r} has no ':'")
                v = v.strip()
                if v != "${none}":
                    v = vars_.substitute(v, f"{case.path}:{f.line}")
                headers.append((k.strip(), v))
        body = self.build_body(case, vars_)
        names = {k.lower() for k, _ in headers}
        if body is not None and "content-type" not in names:
            headers.append(("Content-Type", "application/json"))
        headers = [(k, v) for k, v in headers if v != "${none}"]
        transport = case.get("transport").value if case.get("transport") else ""
        return method, target, headers, body, transport

    def build_body(self, case: Case, vars_: Vars) -> bytes | None:
        f = case.get("body")
        if f:
            return vars_.substitute(f.value, f"{case.path}:{f.line}").encode("utf-8")
        f = case.get("body-file")
        if f:
            return self.find_body_file(case, f).read_bytes()
        f = case.get("body-bytes")
        if f:
            return padded_entity(int(f.value))
        return None

    @staticmethod
    def find_body_file(case: Case, f: Field) -> Path:
        roots = [case.path.parent, REPO]
        shared = shared_data_dir()
        if shared:
            roots.append(shared)
        for root in roots:
            p = root / f.value
            if p.is_file():
                return p
        raise CaseFileError(f"{case.path}:{f.line}: body-file {f.value!r} not found under "
                            f"{', '.join(str(r) for r in roots)}")

    def check(self, case: Case, reply: Reply, vars_: Vars) -> list[str]:
        problems: list[str] = []
        exp = case.get("expect")
        assert exp
        wanted = [int(s) for s in re.split(r"[|\s]+", exp.value) if s]
        if reply.status not in wanted:
            problems.append(f"{case.path}:{exp.line}: status: expected {exp.value}, "
                            f"got {reply.status} {reply.reason}")
        for f in case.all("header"):
            for line in f.value.splitlines():
                line = line.strip()
                if line:
                    problems += self.check_header(line, reply, vars_, f"{case.path}:{f.line}")
        for f in case.all("text"):
            text = reply.text()
            for line in f.value.splitlines():
                line = line.strip()
                if not line:
                    continue
                neg = line.startswith("!")
                needle = line[1:] if neg else line
                if neg == (needle in text):
                    how = "must not contain" if neg else "does not contain"
                    problems.append(f"{case.path}:{f.line}: body {how} {needle!r}")
        json_checks = [(k, case.get(k)) for k in ("json", "json-exact", "count") if case.get(k)]
        if json_checks:
            try:
                actual = reply.json() if reply.body else ABSENT
            except (ValueError, UnicodeError) as e:
                return problems + [f"{case.path}:{json_checks[0][1].line}: body is not JSON ({e})"]
            for key, f in json_checks:
                problems += self.check_json(key, f, actual, vars_, case)
        return problems

    def check_json(self, key: str, f: Field, actual, vars_: Vars, case: Case) -> list[str]:
        where = f"{case.path}:{f.line}"
        if key == "count":
            if not isinstance(actual, list):
                return [f"{where}: count: body is not an array: {short(actual)}"]
            if len(actual) != int(f.value):
                return [f"{where}: count: expected {f.value} elements, got {len(actual)}"]
            return []
        try:
            expected = json.loads(f.value)
        except ValueError as e:
            raise CaseFileError(f"{where}: '{key}:' is not valid JSON: {e}")
        try:
            vars_.match_json(expected, actual, "$", exact=(key == "json-exact"))
        except Mismatch as e:
            return [f"{where}: {key}: {e}"]
        return []

    @staticmethod
    def check_header(line: str, reply: Reply, vars_: Vars, where: str) -> list[str]:
        if line.startswith("!"):
            name = line[1:].strip()
            if reply.header(name) is not None:
                return [f"{where}: header {name} must be absent, got {reply.header(name)!r}"]
            return []
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        values = reply.header_all(name)
        if not values:
            return [f"{where}: header {name} missing"]
        if not sep or not value:
            return []
        errors = []
        for v in values:
            try:
                vars_.match_string(value, v, f"header {name}")
                return []
            except Mismatch as e:
                errors.append(str(e))
        return [f"{where}: " + "; ".join(errors)]

    def report_failure(self, case: Case, request, reply: Reply, problems: list[str]) -> None:
        method, target, headers, body, transport = request
        print(f"FAIL {case.path}:{case.line} {case.name}")
        print(f"     request: {method} {target}" + (f" [{transport}]" if transport else ""))
        for k, v in headers:
            print(f"              {k}: {v}")
        if body is not None:
            shown = body[:BODY_SHOWN_MAX].decode("utf-8", "replace")
            print(f"     body:    {shown}" + (" ..." if len(body) > BODY_SHOWN_MAX else ""))
        for p in problems:
            print(f"     - {p}")
        print(f"     actual:  {reply.status} {reply.reason}")
        for k, v in reply.headers:
            print(f"              {k}: {v}")
        print("     actual body:")
        print(indent(pretty_body(reply.body), "       "))


def pretty_body(body: bytes) -> str:
    if not body:
        return "(empty)"
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        text = body.decode("utf-8", "replace")
    return text if len(text) <= BODY_SHOWN_MAX else text[:BODY_SHOWN_MAX] + "\n... (truncated)"


def indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def padded_entity(size: int) -> bytes:
    """A valid NGSI-LD entity of exactly `size` bytes (for body-size limits)."""
    head = '{"id": "urn:ngsi-ld:Padding:1", "type": "Padding", "pad": {"type": "Property", "value": "'
    tail = '"}}'
    fill = size - len(head) - len(tail)
    if fill < 0:
        raise CaseFileError(f"body-bytes {size} is smaller than the smallest padded entity")
    return (head + "x" * fill + tail).encode("ascii")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="path of the cityroom executable")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for 'cityroom serve' (repeatable)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if not os.access(args.binary, os.X_OK):
        print(f"ERROR: {args.binary} is not an executable")
        return 2
    runner = Runner(args.binary, args.server_arg, args.verbose)
    total_pass = total_fail = 0
    for path in args.files:
        p, f = runner.run_file(path)
        total_pass += p
        total_fail += f
    print(f"\n{total_pass} passed, {total_fail} failed")
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
