"""Shared pieces of the simulators: exact JSON, money precision, routing, fault injection,
the request log and a server that logs one line per request and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

# --- money -----------------------------------------------------------------------------------

# Same sets as Stripe's (shared/platforms.md), so a simulator never accepts an amount Tally
# could not represent in minor units.
ZERO_DECIMAL = set("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL = set("BHD JOD KWD OMR TND".split())


def currency_decimals(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def decimals_of(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_decimals(currency)), rounding=ROUND_HALF_UP)


DECIMAL_TEXT = re.compile(r"^-?\d+(\.\d+)?$")


def parse_decimal(value: Any) -> Decimal | None:
    """A decimal from a string like "12.30", an int, or a Decimal; floats are refused (inexact)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):  # from loads(), which keeps a JSON number's exact text
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and DECIMAL_TEXT.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def format_decimal(amount: Decimal) -> str:
    """Shortest exact text, never an exponent: 36.390 -> 36.39, 5E+3 -> 5000, 0.00 -> 0."""
    if amount == 0:
        return "0"
    return format(amount.normalize(), "f")


# --- JSON ------------------------------------------------------------------------------------


def dumps(obj: Any, php: bool = False) -> str:
    """Compact JSON where Decimals are emitted as exact numbers.

    php=True mimics PHP's json_encode defaults (what Magento emits): "/" is escaped as "\\/" and
    non-ASCII as \\uXXXX, so clients are exercised against the real bytes."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, Decimal):
        return format_decimal(obj)
    if isinstance(obj, (int, float)):
        return json.dumps(obj)
    if isinstance(obj, str):
        text = json.dumps(obj)
        return text.replace("/", "\\/") if php else text
    if isinstance(obj, dict):
        return "{" + ",".join(dumps(str(k), php) + ":" + dumps(v, php) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v, php) for v in obj) + "]"
    raise TypeError(f"cannot encode {type(obj).__name__}")


def loads(raw: bytes) -> Any:
    """JSON with numbers as Decimal, so amounts keep their exact text."""
    return json.loads(raw.decode("utf-8"), parse_float=Decimal)


# --- time ------------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def magento_time(moment: datetime | None = None) -> str:
    return (moment or utc_now()).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(moment: datetime | None = None) -> str:
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- requests, responses, routing ------------------------------------------------------------


class Request:
    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes):
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = parts.query
        self.params = parse_qsl(parts.query, keep_blank_values=True)
        self.headers = headers  # lower-cased names
        self.body = body

    def arg(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return default

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        return loads(self.body) if self.body.strip() else None

    def body_for_log(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return self.body.decode("utf-8", "replace")


class Response:
    def __init__(self, status: int, body: bytes = b"", content_type: str = "application/json",
                 headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        # drop the connection without answering (a chaos fault's connection reset)
        self.reset = False


def post_webhook(url: str, body: bytes, headers: dict[str, str], timeout: float) -> dict:
    """POSTs one webhook synchronously: the receiver's status and parsed answer, or the transport error."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    result = {"url": url, "time": magento_time(), "status": None, "body": None, "error": None}
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            result["status"], raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        result["status"], raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        result["error"] = str(exc)
        return result
    try:
        result["body"] = json.loads(raw) if raw.strip() else None
    except ValueError:
        result["body"] = raw.decode("utf-8", "replace")
    return result


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None, php: bool = False) -> Response:
    return Response(status, dumps(obj, php).encode(), "application/json; charset=utf-8", headers)


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")


class Router:
    """Regex routes; a handler receives the request and the named groups."""

    def __init__(self, ignore_case: bool = False):
        self.routes: list[tuple[str, re.Pattern, Callable]] = []
        # ASP.NET routing: the template matches in any case; the values keep theirs.
        self.flags = re.IGNORECASE if ignore_case else 0

    def add(self, method: str, pattern: str, handler: Callable) -> None:
        self.routes.append((method, re.compile("^" + pattern + "$", self.flags), handler))

    def match(self, method: str, path: str) -> tuple[Callable, dict] | None:
        for route_method, regex, handler in self.routes:
            found = regex.match(path)
            if found and route_method == method:
                return handler, found.groupdict()
        return None


# --- fault injection -------------------------------------------------------------------------


class Faults:
    """The next `count` requests matching method + path substring fail with `status`,
    or, with `"passthrough": true`, are only slowed by `delay` and then served as usual.

    A chaos fault (`"rate"`: a probability, with `"statuses"` and a `"seed"`) is never used up:
    each matching request meets it with that probability, as one of `statuses`, where `"reset"`
    drops the connection without an answer and `"timeout"` holds the request `delay` seconds
    (longer than the client waits) and then refuses it, unexecuted. It stays until cleared."""

    def __init__(self, default_body: Callable[[int], Any]):
        self._lock = threading.Lock()
        self._faults: list[dict] = []
        self._default_body = default_body

    def add(self, spec: Any) -> dict:
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        if "rate" in spec:
            return self._add_chaos(spec)
        passthrough = bool(spec.get("passthrough", False))
        status = spec.get("status", 200 if passthrough else None)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        count = spec.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        retry_after = spec.get("retry_after", 1 if status == 429 else None)
        fault = {
            "method": (spec.get("method") or "").upper() or None,
            "path_contains": spec.get("path_contains") or "",
            "status": status,
            "count": count,
            "retry_after": retry_after,
            "delay": float(spec.get("delay", 0)),  # seconds, to exercise client timeouts
            "passthrough": passthrough,
            "body": spec["body"] if "body" in spec else self._default_body(status),
        }
        with self._lock:
            self._faults.append(fault)
        return fault

    def _add_chaos(self, spec: dict) -> dict:
        rate, statuses = spec.get("rate"), spec.get("statuses")
        if isinstance(rate, bool) or not isinstance(rate, (int, float, Decimal)) or not 0 < rate <= 1:
            raise ValueError("rate must be a probability in (0, 1]")
        if not statuses or not all(s in ("reset", "timeout") or (isinstance(s, int) and 400 <= s <= 599)
                                   for s in statuses):
            raise ValueError('statuses must list HTTP error statuses, "reset" or "timeout"')
        fault = {"method": (spec.get("method") or "").upper() or None, "path_contains": spec.get("path_contains") or "",
                 "rate": float(rate), "statuses": list(statuses), "delay": float(spec.get("delay", 6)),
                 "retry_after": spec.get("retry_after", 1), "rng": random.Random(spec.get("seed")), "fired": 0}
        with self._lock:
            self._faults.append(fault)
        return {k: v for k, v in fault.items() if k != "rng"}

    def _draw(self, fault: dict) -> dict | None:
        """A chaos fault's answer to one request, or None to let it through."""
        rng = fault["rng"]
        if rng.random() >= fault["rate"]:
            return None
        fault["fired"] += 1
        kind = rng.choice(fault["statuses"])
        status = 503 if kind == "timeout" else 502 if kind == "reset" else kind
        return {"status": status, "count": 1, "retry_after": fault["retry_after"] if status in (429, 503) else None,
                "delay": fault["delay"] if kind == "timeout" else 0.0, "passthrough": False,
                "reset": kind == "reset", "body": self._default_body(status)}

    def take(self, method: str, path: str) -> dict | None:
        with self._lock:
            for fault in self._faults:
                if (fault["method"] in (None, method)) and fault["path_contains"] in path and "rate" in fault:
                    drawn = self._draw(fault)
                    if drawn:
                        return drawn
                    continue
                if (fault["method"] in (None, method)) and fault["path_contains"] in path:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self._faults.remove(fault)
                    return dict(fault)
        return None

    def response(self, fault: dict, php: bool = False) -> Response:
        if fault["delay"]:
            time.sleep(fault["delay"])
        headers = {}
        if fault["retry_after"] is not None and fault["status"] in (429, 503):
            headers["Retry-After"] = str(fault["retry_after"])
        response = json_response(fault["status"], fault["body"], headers, php)
        response.reset = bool(fault.get("reset"))
        return response

    def list(self) -> list[dict]:
        with self._lock:
            return [{k: v for k, v in f.items() if k != "rng"} for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


def control_route(router: "Router", req: "Request", respond: Callable[[int, Any], "Response"],
                  errors: tuple[type[Exception], ...]) -> "Response":
    """A `/_sim/` request through the control API's router; `errors` are the caller's mistakes (400)."""
    found = router.match(req.method, req.path)
    if not found:
        return respond(404, {"error": "unknown simulator route"})
    handler, args = found
    try:
        return handler(req, **args)
    except errors as exc:
        return respond(400, {"error": str(exc)})


def injected_fault(faults: "Faults", requests: "RequestLog", req: "Request", php: bool = False) -> "Response | None":
    """The fault the request meets, as its response (logged), or None to serve it (after any delay)."""
    fault = faults.take(req.method, req.path)
    if fault and not fault["passthrough"]:
        response = faults.response(fault, php)
        requests.record(req, response.status, fault=True)
        return response
    if fault:
        time.sleep(fault["delay"])
    return None


# --- request log -----------------------------------------------------------------------------

SECRET_HEADERS = {"authorization", "x-tally-signature"}


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries: list[dict] = []

    def record(self, request: Request, status: int, fault: bool = False) -> None:
        headers = {k: ("<redacted>" if k in SECRET_HEADERS else v) for k, v in request.headers.items()}
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "status": status,
            "time": iso_time(),
            "headers": headers,
            "body": request.body_for_log(),
            "fault": fault,
        }
        with self._lock:
            self._entries.append(entry)

    def list(self, path_contains: str | None = None, method: str | None = None) -> list[dict]:
        with self._lock:
            entries = list(self._entries)
        return [
            e for e in entries
            if (not path_contains or path_contains in e["path"]) and (not method or e["method"] == method.upper())
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- server ----------------------------------------------------------------------------------


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline().strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def make_handler(name: str, app: Callable[[Request], Response]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real servers
        server_version = f"{name}-simulator"

        def _serve(self) -> None:
            started = time.monotonic()
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, self.path, headers, _read_body(self))
            try:
                response = app(request)
            except Exception as exc:  # a simulator bug must still answer, and show in the log
                response = json_response(500, {"message": f"simulator error: {exc!r}"})
            if response.reset:
                # RST instead of FIN: the client sees "connection reset by peer"
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                print(f"{iso_time()} {name} {self.command} {self.path} reset", flush=True)
                return
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(response.body)
            elapsed = (time.monotonic() - started) * 1000
            print(f"{iso_time()} {name} {self.command} {self.path} {response.status} {elapsed:.1f}ms", flush=True)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            # Requests are logged by _serve; this only sees protocol errors.
            print(f"{iso_time()} {name} {format % args}", flush=True)

        def log_request(self, code="-", size="-") -> None:
            pass

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:  # a connection this handler reset on purpose
                pass

    return Handler


class SimServer(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections must not hold up exit
    request_queue_size = 128  # the default backlog of 5 resets bursts of concurrent clients


def serve(name: str, app: Callable[[Request], Response], host: str, port: int) -> None:
    server = SimServer((host, port), make_handler(name, app))

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.server_address[:2]
    print(f"{iso_time()} {name} simulator listening on http://{bound_host}:{bound_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print(f"{iso_time()} {name} simulator stopped", flush=True)
    sys.exit(0)
