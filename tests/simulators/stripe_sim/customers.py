"""Customers: https://docs.stripe.com/api/customers?api-version=2024-06-20.

Updates merge metadata (a key sent as "" is deleted, `metadata=""` clears all) and emit
customer.updated with `previous_attributes` holding the old values of what changed."""

from __future__ import annotations

from typing import Any

from . import cards
from . import params as P
from .errors import not_found
from .state import Ctx, State, new_id, public
from .views import created_filter, paginate, render, search as run_search

FIELDS = ["email", "name", "description", "metadata", "phone", "address", "shipping",
          "preferred_locales", "invoice_settings", "tax_exempt"]
SEARCH_FIELDS = {"email", "name", "phone", "metadata", "created"}


def _read(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "email" in data:
        values["email"] = P.email(data)
    for name in ("name", "description", "phone"):
        if name in data:
            values[name] = P.optional_text(data, name, 350 if name == "description" else 256)
    if "address" in data:
        P.check_nested(data, "address", ["city", "country", "line1", "line2", "postal_code", "state"])
        address = data["address"] or None
        # the hash is replaced whole; an empty string unsets a part
        values["address"] = None if address is None else {
            k: address.get(k) or None for k in ("city", "country", "line1", "line2", "postal_code", "state")}
    if "shipping" in data:
        values["shipping"] = data["shipping"] or None
    if "preferred_locales" in data:
        values["preferred_locales"] = P.string_list(data, "preferred_locales") or []
    if "tax_exempt" in data:
        values["tax_exempt"] = P.enum(data, "tax_exempt", ["none", "exempt", "reverse"])
    if "invoice_settings" in data:
        settings = P.check_nested(data, "invoice_settings", ["default_payment_method", "footer", "custom_fields", "rendering_options"]) or {}
        values["invoice_settings"] = {"custom_fields": None, "default_payment_method": settings.get("default_payment_method") or None,
                                      "footer": settings.get("footer") or None, "rendering_options": None}
    return values


def create(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, FIELDS + ["payment_method"])
    values = _read(data)
    meta = P.metadata(data) or {}
    pm_id = P.optional_text(data, "payment_method")
    customer_id = new_id("cus_", 14)
    pm = cards.resolve(state, ctx, pm_id) if pm_id else None
    customer = {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": customer_id[4:12].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False,
        "metadata": meta,
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    customer.update(values)
    if pm:
        pm["customer"] = customer_id
    state.put("customer", customer)
    state.emit(ctx, "customer.created", public(customer))
    return render(state, "customer", customer, P.expand(data))


def _live(state: State, customer_id: str) -> dict[str, Any]:
    return state.require("customer", customer_id, "id")


def retrieve(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    customer = _live(state, id)
    if customer.get("deleted"):
        return {"id": id, "object": "customer", "deleted": True}
    return render(state, "customer", customer, P.expand(data))


def update(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, FIELDS)
    values = _read(data)
    meta = P.metadata(data)
    customer = _live(state, id)
    if customer.get("deleted"):
        raise not_found("customer", id)
    previous: dict[str, Any] = {}
    for name, value in values.items():
        if customer[name] != value:
            previous[name] = customer[name]
            customer[name] = value
    if meta is not None:
        merged = P.merge_metadata(customer["metadata"], meta, data.get("metadata") == "")
        if merged != customer["metadata"]:
            old = customer["metadata"]
            previous["metadata"] = {k: old.get(k) for k in set(old) | set(merged) if old.get(k) != merged.get(k)}
            customer["metadata"] = merged
    if previous:
        state.emit(ctx, "customer.updated", public(customer), previous)
    return render(state, "customer", customer, P.expand(data))


def delete(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    customer = _live(state, id)
    if not customer.get("deleted"):
        state.emit(ctx, "customer.deleted", public(customer))
        customer["deleted"] = True
    return {"id": id, "object": "customer", "deleted": True}


def list_(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["email", "created", "limit", "starting_after", "ending_before", "test_clock"])
    email = P.string(data, "email", max_len=512)
    keep = created_filter(data)
    # The list's email filter is case-sensitive (API reference, "List all customers").
    items = [c for c in state.all("customer")
             if not c.get("deleted") and (email is None or c["email"] == email) and keep(c)]
    return paginate(state, "customer", items, data, "/v1/customers")


def search(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["query", "limit", "page"])
    return run_search(state, "customer", data, SEARCH_FIELDS, "/v1/customers/search")
