"""Pieces of tests/test_stripe_crosscheck.py: start localstripe and the project's simulator as
subprocesses, a raw HTTP client that encodes exactly as stripe-python does, and a local webhook
receiver."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode

import requests
from stripe._encode import _api_encode  # the SDK's own form encoder: metadata[k], expand[0], true/false

TESTS = Path(__file__).resolve().parent
VENV_BIN = TESTS.parent / ".venv" / "bin"
API_VERSION = "2024-06-20"
KEY = "sk_test_crosscheck_4242"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(cmd: list[str], port: int, log_path: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    """Start a server, wait until it accepts connections, SIGTERM it afterwards."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} did not start:\n{log_path.read_text()}")
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def sim_command(port: int, *extra: str) -> list[str]:
    return [str(VENV_BIN / "python"), "-m", "simulators.stripe_sim", "--host", "127.0.0.1", "--port", str(port),
            "--webhook-delay", "0.05", "--webhook-retry-delays", "0.1,0.2,0.4", *extra]


def localstripe_command(port: int) -> list[str]:
    return [str(VENV_BIN / "localstripe"), "--port", str(port), "--from-scratch"]


class Client:
    """Raw HTTP the way a Stripe SDK sends it: form-encoded bodies, Bearer key, pinned version."""

    def __init__(self, base: str, name: str, key: str = KEY):
        self.base, self.name, self.key = base, name, key
        self.http = requests.Session()

    def __repr__(self) -> str:
        return self.name

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, *, idempotency_key: str | None = None,
             key: str | None = None, raw: str | None = None, headers: dict[str, str] | None = None) -> requests.Response:
        sent = {"Stripe-Version": API_VERSION, **(headers or {})}
        if key is not False:
            sent["Authorization"] = f"Bearer {key or self.key}"
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        encoded = raw if raw is not None else urlencode(list(_api_encode(params or {})))
        url = self.base + path
        if method in ("GET", "DELETE"):
            return self.http.request(method, url + ("?" + encoded if encoded else ""), headers=sent, timeout=10)
        sent["Content-Type"] = "application/x-www-form-urlencoded"
        return self.http.request(method, url, data=encoded, headers=sent, timeout=10)

    def ok(self, method: str, path: str, params: dict[str, Any] | None = None, **kw) -> dict[str, Any]:
        resp = self.call(method, path, params, **kw)
        assert resp.status_code == 200, f"{self.name} {method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def post(self, path: str, params: dict[str, Any] | None = None, **kw) -> dict[str, Any]:
        return self.ok("POST", path, params, **kw)

    def get(self, path: str, params: dict[str, Any] | None = None, **kw) -> dict[str, Any]:
        return self.ok("GET", path, params, **kw)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, self.base + path, json=body, timeout=10)
        assert resp.status_code == 200, f"{self.name} {method} {path}: {resp.status_code} {resp.text}"
        return resp.json()


def ref_id(value: Any) -> Any:
    """An expandable field's id whether it came back as an id or as an embedded object."""
    return value["id"] if isinstance(value, dict) else value


class Receiver:
    """Collects webhook POSTs by path; `script(path, [500, ...])` answers the next ones with those statuses."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.scripted: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    queue = receiver.scripted.get(self.path) or []
                    status = queue.pop(0) if queue else 200
                    receiver.received.append({"path": self.path, "body": body, "status": status,
                                              "headers": {k: v for k, v in self.headers.items()}})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, path: str, statuses: list[int]) -> None:
        with self.lock:
            self.scripted[path] = list(statuses)

    def wait_for(self, path: str, predicate, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Deliveries to `path` whose parsed event satisfies `predicate`, once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                hits = [r for r in self.received if r["path"] == path and predicate(json.loads(r["body"]))]
            if hits or time.monotonic() > deadline:
                return hits
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
