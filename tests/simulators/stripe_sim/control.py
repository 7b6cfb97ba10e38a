"""Unauthenticated test controls: /_sim/* (this simulator's) and /_config/* (localstripe's)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .faults import Fault, Faults
from .forms import FormError, decode_pairs
from .state import KINDS, State, public
from .webhooks import Endpoint, Webhooks


def _ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, indent=2, ensure_ascii=False))


def _bad(message: str) -> web.Response:
    return _ok({"error": message}, 400)


async def _body(request: web.Request) -> dict[str, Any]:
    """JSON, or a form (localstripe's /_config accepts both)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type == "application/json" or raw.lstrip()[:1] in (b"{", b"["):
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data
    return decode_pairs(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


class Control:
    def __init__(self, state: State, webhooks: Webhooks, faults: Faults):
        self.state, self.webhooks, self.faults = state, webhooks, faults

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/health", self.health),
            web.get("/_sim/state", self.get_state),
            web.get("/_sim/requests", self.requests),
            web.get("/_sim/deliveries", self.deliveries),
            web.post("/_sim/reset", self.reset),
            web.get("/_sim/faults", self.get_faults),
            web.post("/_sim/faults", self.add_fault),
            web.delete("/_sim/faults", self.clear_faults),
            web.get("/_sim/delivery", self.get_delivery),
            web.post("/_sim/delivery", self.set_delivery),
            web.post("/_sim/refunds/next", self.next_refund),
            web.post("/_sim/refunds/{id}/status", self.refund_status),
            web.post("/_sim/payouts", self.payout),
            web.post("/_sim/payouts/{id}/fail", self.fail_payout),
            web.post("/_sim/disputes", self.dispute),
            web.post("/_config/webhooks/{id}", self.register_webhook),
            web.delete("/_config/webhooks/{id}", self.unregister_webhook),
            web.delete("/_config/data", self.reset),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return _ok({"ok": True})

    async def get_state(self, request: web.Request) -> web.Response:
        with self.state.lock:
            body = {
                "counts": self.state.counts(),
                "objects": {kind: [public(o) for o in self.state.all(kind)] for kind in KINDS},
                "webhooks": [e.describe() for e in self.webhooks.endpoints.values()],
                "delivery": self.webhooks.mode(),
                "faults": self.faults.describe(),
            }
        return _ok(body)

    async def requests(self, request: web.Request) -> web.Response:
        needle = request.query.get("path_contains")
        with self.state.lock:
            data = [r for r in self.state.requests if not needle or needle in r["path"]]
        return _ok(data)

    async def deliveries(self, request: web.Request) -> web.Response:
        event_type = request.query.get("type")
        offset = int(request.query.get("offset", "0") or 0)  # the records after the first `offset`
        with self.state.lock:
            data = [dict(d) for d in self.webhooks.deliveries[offset:] if not event_type or d["type"] == event_type]
        return _ok(data)

    async def reset(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
        except (ValueError, FormError) as exc:
            return _bad(str(exc))
        with self.state.lock:
            self.state.reset()
            self.webhooks.clear()
            self.faults.clear()
            if body.get("webhooks"):
                self.webhooks.endpoints.clear()
        return _ok({"ok": True})

    async def get_faults(self, request: web.Request) -> web.Response:
        return _ok({"data": self.faults.describe()})

    async def add_fault(self, request: web.Request) -> web.Response:
        try:
            fault = Fault.parse(await _body(request))
        except (ValueError, TypeError, FormError) as exc:
            return _bad(str(exc))
        self.faults.add(fault)
        return _ok({"data": self.faults.describe()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return _ok({"data": []})

    async def get_delivery(self, request: web.Request) -> web.Response:
        return _ok(self.webhooks.mode())

    async def set_delivery(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            auto, delay, flush = body.get("auto"), body.get("delay"), bool(body.get("flush", False))
            if auto is not None and not isinstance(auto, bool):
                raise ValueError("auto must be true or false")
            if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
                raise ValueError("delay must be a non-negative number of seconds")
        except (ValueError, FormError) as exc:
            return _bad(str(exc))
        return _ok(self.webhooks.set_mode(auto, delay, flush))

    async def next_refund(self, request: web.Request) -> web.Response:
        """`{"status": "pending"}`: the next refund created starts pending (as a slow card refund does)."""
        body = await _body(request)
        if body.get("status") not in ("pending", "requires_action", None):
            return _bad("status must be pending or requires_action")
        with self.state.lock:
            self.state.next_refund_status = body.get("status")
        return _ok({"next_refund_status": body.get("status")})

    async def refund_status(self, request: web.Request) -> web.Response:
        """`{"status": "succeeded" | "failed" | "canceled", "failure_reason"}`: Stripe settling a refund later."""
        from . import refunds
        from .state import Ctx, new_id

        body = await _body(request)
        try:
            with self.state.lock:
                refund = refunds.settle(self.state, Ctx(request_id=new_id("req_")), request.match_info["id"],
                                        str(body.get("status")), body.get("failure_reason"))
        except ValueError as exc:
            return _bad(str(exc))
        return _ok(refund)

    async def payout(self, request: web.Request) -> web.Response:
        """`{"currency", "fail_after_paid": bool, "skew": minor units}`: an automatic payout of the balance."""
        from . import payouts
        from .state import Ctx, new_id

        body = await _body(request)
        try:
            skew = body.get("skew", 0)
            if not isinstance(skew, int) or isinstance(skew, bool):
                raise ValueError("skew must be an integer number of minor units")
            payout = payouts.create_payout(self.state, Ctx(request_id=new_id("req_")), str(body.get("currency") or ""),
                                           bool(body.get("fail_after_paid")), skew)
        except ValueError as exc:
            return _bad(str(exc))
        return _ok(payout)

    async def fail_payout(self, request: web.Request) -> web.Response:
        """The bank returns a paid payout: `payout.failed`, its amount back in the balance."""
        from . import payouts
        from .state import Ctx, new_id

        try:
            payout = payouts.fail_payout(self.state, Ctx(request_id=new_id("req_")), request.match_info["id"])
        except ValueError as exc:
            return _bad(str(exc))
        return _ok(payout)

    async def dispute(self, request: web.Request) -> web.Response:
        """`{"charge", "outcome": "lost" | "won"}`: a dispute the card network opens (and closes)."""
        from . import payouts
        from .state import Ctx, new_id

        body = await _body(request)
        try:
            dispute = payouts.create_dispute(self.state, Ctx(request_id=new_id("req_")), str(body.get("charge") or ""),
                                             body.get("outcome"))
        except ValueError as exc:
            return _bad(str(exc))
        return _ok(dispute)

    async def register_webhook(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
        except (ValueError, FormError) as exc:
            return _bad(str(exc))
        url, secret, events = body.get("url"), body.get("secret"), body.get("events")
        if not isinstance(url, str) or not url.startswith("http") or not isinstance(secret, str) or not secret:
            return _bad("url (http...) and secret are required")
        if isinstance(events, str):
            events = [e.strip() for e in events.split(",") if e.strip()]
        if events is not None and not (isinstance(events, list) and all(isinstance(e, str) for e in events)):
            return _bad("events must be a list of event types or a comma-separated string")
        self.webhooks.register(Endpoint(request.match_info["id"], url, secret, events or None))
        return _ok({"ok": True})

    async def unregister_webhook(self, request: web.Request) -> web.Response:
        found = self.webhooks.unregister(request.match_info["id"])
        return _ok({"deleted": found}, 200 if found else 404)
