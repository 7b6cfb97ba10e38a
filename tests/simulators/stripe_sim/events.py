"""Events (https://docs.stripe.com/api/events?api-version=2024-06-20) and PaymentMethods."""

from __future__ import annotations

import fnmatch
from typing import Any

from . import cards
from . import params as P
from .state import Ctx, State
from .views import created_filter, paginate, render


def retrieve(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    return render(state, "event", state.require("event", id, "id"))


def list_(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["type", "types", "created", "limit", "starting_after", "ending_before", "delivery_success"])
    one = P.string(data, "type")
    many = P.string_list(data, "types")
    patterns = ([one] if one else []) + (many or [])
    keep = created_filter(data)
    # `type` accepts a wildcard: type=payment_intent.* (API reference, "List all events").
    items = [e for e in state.all("event")
             if (not patterns or any(fnmatch.fnmatchcase(e["type"], p) for p in patterns)) and keep(e)]
    return paginate(state, "event", items, data, "/v1/events")


def retrieve_payment_method(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    # Like Stripe, retrieving a test id (pm_card_visa) mints a fresh PaymentMethod.
    return render(state, "payment_method", cards.resolve(state, ctx, id, "payment_method", 404), P.expand(data))
