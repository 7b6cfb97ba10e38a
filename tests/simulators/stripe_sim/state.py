"""The simulator's memory: objects by kind, events, the request log, idempotent results.

Every read and write of API state happens under `State.lock` (an RLock), so handlers are atomic
with respect to each other whether they run on the event loop or on other threads."""

from __future__ import annotations

import copy
import itertools
import json
import random
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .errors import not_found

ACCOUNT_API_VERSION = "2024-06-20"

PREFIXES = {
    "payment_intent": "pi_",
    "charge": "ch_",
    "refund": "re_",
    "customer": "cus_",
    "payment_method": "pm_",
    "balance_transaction": "txn_",
    "payout": "po_",
    "dispute": "dp_",
    "event": "evt_",
    "webhook_endpoint": "we_",
}
KINDS = list(PREFIXES)

_ALPHABET = string.ascii_letters + string.digits
_rng = random.SystemRandom()


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(_rng.choice(_ALPHABET) for _ in range(length))


def kind_of(obj_id: str) -> str | None:
    for kind, prefix in PREFIXES.items():
        if obj_id.startswith(prefix):
            return kind
    return None


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without the simulator's private `_fields`."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


@dataclass
class Ctx:
    """What a request contributes to the objects and events it creates."""

    request_id: str
    idempotency_key: str | None = None
    api_key: str | None = None
    version: str = ACCOUNT_API_VERSION
    now: int = field(default_factory=lambda: int(time.time()))


class Deliverer(Protocol):
    def endpoints_for(self, event_type: str) -> list[Any]: ...

    def submit(self, event_id: str, event_type: str, payload: bytes, endpoints: list[Any]) -> None: ...


class State:
    def __init__(self, api_version: str = ACCOUNT_API_VERSION, idempotency_ttl: float = 24 * 3600):
        self.lock = threading.RLock()
        self.api_version = api_version
        self.idempotency_ttl = idempotency_ttl
        self.deliverer: Deliverer | None = None
        # Stripe refuses to confirm an intent with automatic payment methods (allow_redirects
        # "always") and no return_url; --no-return-url-check turns that off.
        self.require_return_url = True
        self.clock: Callable[[], float] = time.time
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
            self.payloads: dict[str, bytes] = {}
            self.requests: deque[dict[str, Any]] = deque(maxlen=10_000)
            self.idempotency: dict[tuple[str, str], dict[str, Any]] = {}
            self.inflight: set[tuple[str, str]] = set()
            self._seq = itertools.count()
            self.next_refund_status: str | None = None

    def take_next_refund_status(self) -> str | None:
        """The status the next refund starts in, if the control API set one (used once)."""
        with self.lock:
            status, self.next_refund_status = self.next_refund_status, None
            return status

    # --- objects --------------------------------------------------------------------------

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj.setdefault("_seq", next(self._seq))
            self.objects[kind][obj["id"]] = obj
            return obj

    def get(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects[kind].get(obj_id)

    def require(self, kind: str, obj_id: Any, param: str | None = "id", status: int | None = None) -> dict[str, Any]:
        obj = self.get(kind, obj_id) if isinstance(obj_id, str) else None
        if obj is None:
            raise not_found(kind, str(obj_id), param, status)
        return obj

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Newest first, as Stripe lists."""
        with self.lock:
            return sorted(self.objects[kind].values(), key=lambda o: o["_seq"], reverse=True)

    # --- events ---------------------------------------------------------------------------

    def emit(self, ctx: Ctx, event_type: str, snapshot: dict[str, Any],
             previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record an event whose data.object is `snapshot` (already public), serialise it once,
        and hand the exact bytes to the webhook deliverer."""
        with self.lock:
            endpoints = self.deliverer.endpoints_for(event_type) if self.deliverer else []
            data: dict[str, Any] = {"object": snapshot}
            if previous is not None:
                data["previous_attributes"] = previous
            event = {
                "id": new_id("evt_"),
                "object": "event",
                "api_version": self.api_version,
                "created": ctx.now,
                "data": data,
                "livemode": False,
                "pending_webhooks": len(endpoints),
                "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
                "type": event_type,
            }
            self.put("event", event)
            payload = json.dumps(public(event), indent=2, ensure_ascii=False).encode("utf-8")
            self.payloads[event["id"]] = payload
            if self.deliverer:
                self.deliverer.submit(event["id"], event_type, payload, endpoints)
            return event

    def delivered(self, event_id: str) -> None:
        with self.lock:
            event = self.objects["event"].get(event_id)
            if event and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    # --- idempotency ------------------------------------------------------------------------

    def idempotent_result(self, scope: tuple[str, str]) -> dict[str, Any] | None:
        with self.lock:
            entry = self.idempotency.get(scope)
            if entry and self.clock() - entry["at"] > self.idempotency_ttl:
                del self.idempotency[scope]
                return None
            return entry

    def counts(self) -> dict[str, int]:
        with self.lock:
            counts = {kind: len(objs) for kind, objs in self.objects.items()}
            counts["requests"] = len(self.requests)
            counts["idempotency_keys"] = len(self.idempotency)
            return counts
