"""Webhook delivery, registered the way localstripe does (`POST /_config/webhooks/{id}`).

Each event is serialised once (state.emit) and those exact bytes are POSTed and signed:
`Stripe-Signature: t={unix},v1={hex HMAC-SHA256(secret, f"{t}." + payload)}`
(https://docs.stripe.com/webhooks#verify-manually), where t is the time of the attempt. A non-2xx
answer or a network failure is retried after each of `retry_delays`; every attempt is recorded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from .state import State

log = logging.getLogger("stripe_sim.webhooks")


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    events: list[str] | None  # None: every event type

    def wants(self, event_type: str) -> bool:
        return self.events is None or "*" in self.events or event_type in self.events

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": self.events,
                "secret": self.secret[:6] + "…" if self.secret else None}


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class Webhooks:
    def __init__(self, state: State, delay: float = 0.2, retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0),
                 timeout: float = 10.0):
        self.state = state
        self.delay = delay
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.endpoints: dict[str, Endpoint] = {}
        self.auto = True
        self.held: list[tuple[dict[str, Any], bytes, Endpoint]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task] = set()
        state.deliverer = self

    # --- lifecycle (aiohttp on_startup / on_cleanup) --------------------------------------------

    async def start(self, _app=None) -> None:
        self.loop = asyncio.get_running_loop()
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def stop(self, _app=None) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session:
            await self.session.close()

    # --- configuration --------------------------------------------------------------------------

    def register(self, endpoint: Endpoint) -> None:
        with self.state.lock:
            self.endpoints[endpoint.id] = endpoint

    def unregister(self, endpoint_id: str) -> bool:
        with self.state.lock:
            return self.endpoints.pop(endpoint_id, None) is not None

    def set_mode(self, auto: bool | None = None, delay: float | None = None, flush: bool = False) -> dict[str, Any]:
        with self.state.lock:
            if delay is not None:
                self.delay = delay
            if auto is not None:
                self.auto = auto
            if self.auto and self.held:
                held, self.held = self.held, []
                for record, payload, endpoint in held:
                    if flush:
                        record["state"] = "pending"
                        self._schedule(record, payload, endpoint)
                    else:
                        record["state"] = "not_sent"
            return self.mode()

    def mode(self) -> dict[str, Any]:
        return {"auto": self.auto, "delay": self.delay, "retry_delays": list(self.retry_delays),
                "held": len(self.held)}

    def clear(self) -> None:
        with self.state.lock:
            self.deliveries.clear()
            self.held.clear()

    # --- State.deliverer protocol ----------------------------------------------------------------

    def endpoints_for(self, event_type: str) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.wants(event_type)]

    def submit(self, event_id: str, event_type: str, payload: bytes, endpoints: list[Endpoint]) -> None:
        with self.state.lock:
            for endpoint in endpoints:
                record = {"event_id": event_id, "type": event_type, "endpoint": endpoint.id,
                          "url": endpoint.url, "state": "pending", "attempts": [], "statuses": []}
                self.deliveries.append(record)
                if self.auto:
                    self._schedule(record, payload, endpoint)
                else:
                    record["state"] = "held"
                    self.held.append((record, payload, endpoint))

    # --- delivery ---------------------------------------------------------------------------------

    def _schedule(self, record: dict[str, Any], payload: bytes, endpoint: Endpoint) -> None:
        if self.loop is None or self.loop.is_closed():
            record["state"] = "not_sent"
            return
        self.loop.call_soon_threadsafe(self._spawn, record, payload, endpoint)

    def _spawn(self, record: dict[str, Any], payload: bytes, endpoint: Endpoint) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(record, payload, endpoint))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, record: dict[str, Any], payload: bytes, endpoint: Endpoint) -> None:
        await asyncio.sleep(self.delay)
        for attempt_no, wait in enumerate((0.0, *self.retry_delays), start=1):
            if wait:
                await asyncio.sleep(wait)
            now = int(time.time())
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, endpoint.secret, now),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            }
            attempt: dict[str, Any] = {"at": now, "status": None, "error": None}
            started = time.monotonic()
            try:
                assert self.session is not None
                async with self.session.post(endpoint.url, data=payload, headers=headers) as resp:
                    await resp.read()
                    attempt["status"] = resp.status
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                attempt["error"] = f"{type(exc).__name__}: {exc}"
            attempt["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            ok = attempt["status"] is not None and 200 <= attempt["status"] < 300
            with self.state.lock:
                record["attempts"].append(attempt)
                record["statuses"].append(attempt["status"])
                record["state"] = "delivered" if ok else "retrying"
            log.info("webhook %s %s -> %s attempt %d: %s", record["event_id"], record["type"], endpoint.url,
                     attempt_no, attempt["status"] or attempt["error"])
            if ok:
                self.state.delivered(record["event_id"])
                return
        with self.state.lock:
            record["state"] = "failed"
