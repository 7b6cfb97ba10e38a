"""Stripe-shaped errors: `{"error": {"type", "code", "message", "param", ...}}`.

https://docs.stripe.com/api/errors: type is one of api_error, card_error, idempotency_error,
invalid_request_error; 400 bad request, 401 no valid key, 402 request failed (card errors),
404 missing resource, 409 idempotency conflict, 429 rate limited, 5xx Stripe's fault."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """`saved=False` marks errors raised before an endpoint starts executing (parameter
    validation): Stripe stores no idempotent result for those, so a retry runs afresh."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        saved: bool = True,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}
        self.saved = saved

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = DOCS + self.code.replace("_", "-")
        if self.decline_code:
            err["decline_code"] = self.decline_code
        err["message"] = self.message
        if self.param:
            err["param"] = self.param
        err.update(self.extra)
        if request_id and self.status != 401:
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        err["type"] = self.type
        return {"error": err}


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400, **kw) -> StripeError:
    return StripeError(status, message, param=param, code=code, **kw)


def validation(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code, saved=False)


def unknown_param(name: str) -> StripeError:
    return validation(f"Received unknown parameter: {name}", name, "parameter_unknown")


def missing_param(name: str) -> StripeError:
    return validation(f"Missing required param: {name}.", name, "parameter_missing")


# Real Stripe names the PaymentIntent path parameter `intent`; other resources use `id`.
NOUNS = {
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "customer": "customer",
    "payment_method": "PaymentMethod",
    "event": "event",
    "balance_transaction": "balance_transaction",
    "payout": "payout",
    "dispute": "dispute",
}


def not_found(kind: str, obj_id: str, param: str | None = "id", status: int | None = None) -> StripeError:
    """404 for the object named in the URL; a missing object named by a body parameter
    (`customer=cus_x` on create) is a 400 with the same code."""
    status = status or (404 if param in ("id", "intent") else 400)
    return StripeError(status, f"No such {NOUNS.get(kind, kind)}: '{obj_id}'", param=param, code="resource_missing")


def unexpected_state(message: str) -> StripeError:
    return StripeError(400, message, code="payment_intent_unexpected_state")


def unauthorized(message: str) -> StripeError:
    return StripeError(401, message, saved=False)


def api_error(status: int = 500) -> StripeError:
    return StripeError(
        status,
        "Sorry, something went wrong. We've already been notified of the problem, but if you need "
        "any help, you can reach us at https://support.stripe.com/contact.",
        type="api_error",
        saved=False,
    )


def rate_limited() -> StripeError:
    # Stripe's 429s are typed invalid_request_error with code rate_limit (stripe-node/python
    # raise RateLimitError from the status alone).
    return StripeError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        saved=False,
    )
