"""Fault injection for /v1 requests (`POST /_sim/faults`).

A fault matches on method and a path substring and fires for the next `count` matching requests:
- `status` (429, 5xx, or any 4xx): answer with a Stripe-shaped error instead of executing; nothing
  is stored under the idempotency key, so a retry with the same key runs normally (the request
  "failed before the endpoint began executing", https://docs.stripe.com/api/idempotent_requests).
- `after_execution: true`: execute (side effects, events and the idempotent result are kept), then
  answer with the error anyway: the lost-response case, where a retry with the same key replays
  the stored success.
- `delay` (seconds): hold the request that long first (with its idempotency key in flight, so a
  concurrent retry with the same key gets 409); with no `status`, only delay.
- `should_retry` true/false sets `Stripe-Should-Retry`, which Stripe's SDKs obey.
- `rate` (0-1, with `statuses` and `seed`): a chaos fault. It is never used up; each matching
  request meets it with that probability (seeded, so a run repeats), as one of `statuses`, and as a
  lost response (`after_execution`) with probability `lost_share`. It stays until cleared."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import StripeError, api_error, rate_limited


@dataclass
class Fault:
    status: int | None = None
    count: int = 1
    method: str | None = None
    path_contains: str | None = None
    should_retry: bool | None = None
    delay: float | None = None
    after_execution: bool = False
    type: str | None = None
    code: str | None = None
    message: str | None = None
    rate: float | None = None
    statuses: list[int] | None = None
    lost_share: float = 0.0
    seed: int | None = None
    fired: int = 0

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> "Fault":
        known = {f for f in cls.__dataclass_fields__ if f != "fired"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**raw)
        if fault.rate is not None:
            if not (isinstance(fault.rate, (int, float)) and 0 < fault.rate <= 1):
                raise ValueError("rate must be a probability in (0, 1]")
            if not fault.statuses or not all(isinstance(x, int) and 400 <= x <= 599 for x in fault.statuses):
                raise ValueError("a rate fault needs statuses, each an HTTP error status")
            fault.status = fault.statuses[0]
        if fault.status is None and not fault.delay:
            raise ValueError("a fault needs a status or a delay")
        if fault.status is not None and not (isinstance(fault.status, int) and 400 <= fault.status <= 599):
            raise ValueError("status must be an HTTP error status (400-599)")
        if not isinstance(fault.count, int) or fault.count < 1:
            raise ValueError("count must be a positive integer")
        if fault.method:
            fault.method = fault.method.upper()
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path)

    def error(self) -> StripeError:
        assert self.status is not None
        if self.status == 429:
            err = rate_limited()
        elif self.status >= 500:
            err = api_error(self.status)
        else:
            err = StripeError(self.status, "Injected fault", saved=False)
        err.type = self.type or err.type
        err.code = self.code or err.code
        err.message = self.message or err.message
        if self.should_retry is not None:
            err.headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        return err


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: list[Fault] = []
        self.rngs: dict[int, random.Random] = {}

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.active.append(fault)

    def clear(self) -> None:
        with self.lock:
            self.active.clear()
            self.rngs.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first active fault matching this request, consuming one of its `count`; a rate fault
        answers a copy with the status it drew, or lets the request through."""
        with self.lock:
            for fault in self.active:
                if fault.matches(method, path) and fault.rate is not None:
                    rng = self.rngs.setdefault(id(fault), random.Random(fault.seed))
                    if rng.random() >= fault.rate:
                        continue
                    fault.fired += 1
                    drawn = Fault(**{**asdict(fault), "rate": None})
                    drawn.status = rng.choice(fault.statuses or [500])
                    drawn.after_execution = rng.random() < fault.lost_share
                    return drawn
                if fault.matches(method, path):
                    fault.count -= 1
                    fault.fired += 1
                    if fault.count == 0:
                        self.active.remove(fault)
                    return fault
            return None

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(f) for f in self.active]
