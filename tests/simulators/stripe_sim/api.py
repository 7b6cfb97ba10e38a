"""The /v1 pipeline: API version, auth, form decoding, faults, idempotency, dispatch.

Idempotency (https://docs.stripe.com/api/idempotent_requests): on POST, the status and body of the
first request with a key are saved once the endpoint has begun executing (card declines and 500s
included; parameter validation failures not), per API key, for 24 hours. A retry with the same
parameters gets those exact bytes back with `Idempotent-Replayed: true` and causes nothing new; the
same key with other parameters, or on another endpoint, is an idempotency_error; the same key while
the first request is still running is a 409."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from . import charges, customers, events, payment_intents as pis, payouts, refunds, webhook_endpoints
from .errors import StripeError, api_error, unauthorized, validation
from .faults import Faults
from .forms import FormError, decode_pairs, fingerprint
from .state import Ctx, State

Handler = Callable[..., dict[str, Any]]
log_ = logging.getLogger("stripe_sim")

ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/v1/customers", customers.create),
    ("GET", "/v1/customers/search", customers.search),
    ("GET", "/v1/customers", customers.list_),
    ("GET", "/v1/customers/{id}", customers.retrieve),
    ("POST", "/v1/customers/{id}", customers.update),
    ("DELETE", "/v1/customers/{id}", customers.delete),
    ("POST", "/v1/payment_intents", pis.create),
    ("GET", "/v1/payment_intents/search", pis.search),
    ("GET", "/v1/payment_intents", pis.list_),
    ("GET", "/v1/payment_intents/{id}", pis.retrieve),
    ("POST", "/v1/payment_intents/{id}", pis.update),
    ("POST", "/v1/payment_intents/{id}/confirm", pis.confirm),
    ("POST", "/v1/payment_intents/{id}/cancel", pis.cancel),
    ("POST", "/v1/payment_intents/{id}/capture", pis.capture),
    ("GET", "/v1/charges", charges.list_),
    ("GET", "/v1/charges/{id}", charges.retrieve),
    ("POST", "/v1/charges/{id}", charges.update),
    ("POST", "/v1/refunds", refunds.create),
    ("GET", "/v1/refunds", refunds.list_),
    ("GET", "/v1/refunds/{id}", refunds.retrieve),
    ("POST", "/v1/refunds/{id}", refunds.update),
    ("GET", "/v1/events", events.list_),
    ("GET", "/v1/events/{id}", events.retrieve),
    ("GET", "/v1/payment_methods/{id}", events.retrieve_payment_method),
    ("GET", "/v1/balance_transactions", payouts.list_balance_transactions),
    ("GET", "/v1/balance_transactions/{id}", charges.retrieve_balance_transaction),
    ("GET", "/v1/payouts", payouts.list_payouts),
    ("GET", "/v1/payouts/{id}", payouts.retrieve_payout),
    ("POST", "/v1/webhook_endpoints", webhook_endpoints.create),
    ("GET", "/v1/webhook_endpoints", webhook_endpoints.list_),
    ("GET", "/v1/webhook_endpoints/{id}", webhook_endpoints.retrieve),
    ("POST", "/v1/webhook_endpoints/{id}", webhook_endpoints.update),
]
_COMPILED = [(m, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", p) + "$"), f) for m, p, f in ROUTES]
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
NO_KEY = ("You did not provide an API key. You need to provide your API key in the Authorization header, "
          "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
          "for details, or we can help at https://support.stripe.com/.")


def route(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    for m, pattern, fn in _COMPILED:
        match = pattern.match(path)
        if match and m == method:
            return fn, match.groupdict()
    return None


def api_key(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip()).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise unauthorized(NO_KEY)
    if not key.startswith("sk_test_") or len(key) <= len("sk_test_"):
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
        raise unauthorized(f"Invalid API Key provided: {shown}")
    return key


def mask(key: str | None) -> str | None:
    return None if key is None else f"{key[:8]}…{key[-4:]}"


def _flat(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`{"metadata[order_id]": "1", "expand[]": ["a", "b"]}`: what the client put on the wire."""
    flat: dict[str, Any] = {}
    for key, value in pairs:
        if key in flat:
            flat[key] = [*flat[key], value] if isinstance(flat[key], list) else [flat[key], value]
        else:
            flat[key] = value
    return flat


def _json(body: dict[str, Any]) -> bytes:
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class Api:
    def __init__(self, state: State, faults: Faults):
        self.state = state
        self.faults = faults

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        req_id: str = request["request_id"]
        method, path = request.method, request.path
        sent_version = request.headers.get("Stripe-Version")
        version = sent_version if sent_version and VERSION.match(sent_version) else self.state.api_version
        headers = {"Stripe-Version": version}
        log: dict[str, Any] = {"id": req_id, "time": time.time(), "method": method, "path": path, "params": None,
                               "decoded": None, "idempotency_key": None, "api_key": None, "stripe_version": sent_version,
                               "status": None, "replayed": False, "fault": False}
        request["log"] = log
        owned = None  # the (api key, idempotency key) this request holds in flight
        try:
            if sent_version and not VERSION.match(sent_version):
                raise validation(f"Invalid Stripe API version: {sent_version}")
            key = api_key(request)
            log["api_key"] = mask(key)
            pairs = await self._pairs(request)
            log["params"] = _flat(pairs)
            try:
                params = decode_pairs(pairs)
            except FormError as exc:
                raise validation(str(exc)) from exc
            log["decoded"] = params
            found = route(method, path)
            if found is None:
                raise StripeError(404, f"Unrecognized request URL ({method}: {path}). Please see "
                                  "https://stripe.com/docs or we can help at https://support.stripe.com/.", saved=False)
            fn, match = found
            idem = request.headers.get("Idempotency-Key") if method == "POST" else None
            log["idempotency_key"] = idem
            if idem is not None:
                headers["Idempotency-Key"] = idem
                if len(idem) > 255:
                    raise validation("Keys for idempotent requests can only be 255 characters long.")

            fault = self.faults.take(method, path)
            if fault:
                log["fault"] = True
            if fault and fault.status and not fault.after_execution:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                raise fault.error()

            scope = (key, idem) if idem is not None else None
            if scope is not None:
                replay = self._idempotency_check(scope, method, path, params, idem)
                if replay is not None:
                    log["replayed"] = True
                    headers.update({"Idempotent-Replayed": "true", "Original-Request": replay["request_id"]})
                    return self._respond(log, started, replay["status"], replay["body"], headers)
                owned = scope
            if fault and fault.delay:
                await asyncio.sleep(fault.delay)

            ctx = Ctx(request_id=req_id, idempotency_key=idem, api_key=key, version=version)
            with self.state.lock:
                try:
                    status, body = 200, _json(fn(self.state, ctx, params, **match))
                    saved = True
                except StripeError as err:
                    status, body, saved = err.status, _json(err.body(req_id)), err.saved
                    headers.update(err.headers)
                except Exception:  # a simulator bug: answer like Stripe's 500, keep nothing
                    log_.exception("%s %s failed", method, path)
                    status, body, saved = 500, _json(api_error().body(req_id)), False
                if scope is not None and saved:
                    self.state.idempotency[scope] = {"method": method, "path": path, "fingerprint": fingerprint(params),
                                                     "status": status, "body": body, "request_id": req_id,
                                                     "at": self.state.clock()}
            if fault and fault.after_execution and fault.status:
                raise fault.error()
            return self._respond(log, started, status, body, headers)
        except StripeError as err:
            headers.update(err.headers)
            return self._respond(log, started, err.status, _json(err.body(req_id)), headers)
        finally:
            if owned is not None:
                self.state.inflight.discard(owned)

    async def _pairs(self, request: web.Request) -> list[tuple[str, str]]:
        """The form fields as sent: the body of a POST, the query string otherwise."""
        if request.method != "POST":
            return parse_qsl(request.query_string, keep_blank_values=True)
        raw = await request.read()
        if not request.headers.get("Content-Type", "application/x-www-form-urlencoded").startswith(
                "application/x-www-form-urlencoded"):
            return []
        try:
            return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise validation("Request body is not valid UTF-8") from exc

    def _idempotency_check(self, scope, method: str, path: str, params: dict[str, Any], idem: str):
        with self.state.lock:
            if scope in self.state.inflight:
                raise StripeError(
                    409, "There is currently another in-progress request using this Idempotent Key (probably "
                    "because of a timeout). Please retry this request later.", type="idempotency_error",
                    code="idempotency_key_in_use", headers={"Stripe-Should-Retry": "true"}, saved=False)
            stored = self.state.idempotent_result(scope)
            if stored is None:
                self.state.inflight.add(scope)
                return None
            if (stored["method"], stored["path"]) != (method, path):
                raise StripeError(
                    400, "Keys for idempotent requests can only be used for the same endpoint they were first "
                    f"used for ('{stored['method']} {stored['path']}' vs '{method} {path}'). Try using a key other "
                    f"than '{idem}' if you meant to execute a different request.", type="idempotency_error", saved=False)
            if stored["fingerprint"] != fingerprint(params):
                raise StripeError(
                    400, "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{idem}' if you meant to execute a different request.",
                    type="idempotency_error", saved=False)
            return stored

    def _respond(self, log: dict[str, Any], started: float, status: int, body: bytes,
                 headers: dict[str, str]) -> web.Response:
        log["status"] = status
        log["duration_ms"] = round((time.monotonic() - started) * 1000, 2)
        with self.state.lock:
            self.state.requests.append(log)
        return web.Response(body=body, status=status, headers=headers, content_type="application/json")
