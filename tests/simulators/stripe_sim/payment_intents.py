"""PaymentIntents: https://docs.stripe.com/api/payment_intents?api-version=2024-06-20 and the
status machine of https://docs.stripe.com/payments/paymentintents/lifecycle.

requires_payment_method -> requires_confirmation -> succeeded (or requires_capture with
capture_method=manual); a decline puts the intent back to requires_payment_method with
`last_payment_error` and `payment_method: null`, ready to be confirmed again with another
payment method; canceled is final."""

from __future__ import annotations

from typing import Any

from . import cards, charges
from . import params as P
from .charges import balance_transaction
from .errors import DOCS, StripeError, invalid, unexpected_state, validation
from .state import Ctx, State, new_id, public
from .views import created_filter, paginate, render, search as run_search

CREATE = ["amount", "currency", "customer", "description", "metadata", "payment_method",
          "payment_method_types", "capture_method", "confirm", "automatic_payment_methods",
          "statement_descriptor", "statement_descriptor_suffix", "receipt_email", "return_url",
          "setup_future_usage", "off_session", "confirmation_method", "payment_method_options",
          "shipping", "transfer_group", "error_on_requires_action", "use_stripe_sdk", "mandate_data"]
UPDATE = ["amount", "currency", "customer", "description", "metadata", "payment_method",
          "payment_method_types", "receipt_email", "setup_future_usage", "shipping",
          "statement_descriptor", "statement_descriptor_suffix", "capture_method",
          "payment_method_options", "transfer_group"]
CONFIRM = ["payment_method", "return_url", "off_session", "receipt_email", "setup_future_usage",
           "capture_method", "payment_method_options", "payment_method_types", "shipping",
           "error_on_requires_action", "mandate_data", "use_stripe_sdk"]
# What may still change once the money has moved.
AFTER_SUCCESS = {"description", "metadata", "receipt_email", "shipping", "expand"}
OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
SEARCH_FIELDS = {"amount", "currency", "customer", "status", "metadata", "created"}


def _amount(data: dict[str, Any], required: bool) -> int | None:
    amount = P.integer(data, "amount", required=required, minimum=1)
    if amount is not None and amount > 99_999_999:
        raise validation("Amount must be no more than 99999999", "amount", "amount_too_large")
    return amount


def create(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, CREATE)
    amount = _amount(data, True)
    currency = P.currency(data)
    customer_id = P.optional_text(data, "customer")
    description = P.optional_text(data, "description", 1000)
    meta = P.metadata(data) or {}
    pm_param = P.optional_text(data, "payment_method")
    pm_types = P.string_list(data, "payment_method_types")
    apm = P.check_nested(data, "automatic_payment_methods", ["enabled", "allow_redirects"])
    capture = P.enum(data, "capture_method", ["automatic", "automatic_async", "manual"]) or "automatic_async"
    confirm = P.boolean(data, "confirm")
    off_session = P.boolean(data, "off_session")
    confirmation = P.enum(data, "confirmation_method", ["automatic", "manual"]) or "automatic"
    descriptor = P.optional_text(data, "statement_descriptor", 22)
    suffix = P.optional_text(data, "statement_descriptor_suffix", 22)
    receipt = P.email(data, "receipt_email")
    return_url = P.optional_text(data, "return_url")
    future = P.enum(data, "setup_future_usage", ["off_session", "on_session"])
    if pm_types is not None and apm is not None:
        raise validation("You may only specify one of these parameters: automatic_payment_methods, "
                         "payment_method_types.", "automatic_payment_methods")
    if off_session is not None and not confirm:
        raise validation("You can only pass `off_session` when `confirm=true`.", "off_session")
    if return_url and not confirm:
        raise validation("You can only pass `return_url` when `confirm=true`.", "return_url")
    automatic = None
    if apm is not None:
        enabled = P.boolean(apm, "enabled")
        if enabled is None:
            raise validation("Missing required param: automatic_payment_methods[enabled].",
                             "automatic_payment_methods[enabled]", "parameter_missing")
        redirects = P.enum(apm, "allow_redirects", ["always", "never"]) or "always"
        automatic = {"allow_redirects": redirects, "enabled": enabled} if enabled else None
    elif pm_types is None:
        # Since 2023-08-16 automatic payment methods are on unless payment_method_types is given.
        automatic = {"allow_redirects": "always", "enabled": True}

    if customer_id:
        _customer(state, customer_id)
    pm = cards.resolve(state, ctx, pm_param) if pm_param else None
    pi_id = new_id("pi_")
    pi = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": automatic,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture,
        "client_secret": f"{pi_id}_secret_{new_id('', 25)}",
        "confirmation_method": confirmation,
        "created": ctx.now,
        "currency": currency,
        "customer": customer_id,
        "description": description,
        "invoice": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": meta,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": {"id": "pmc_sim_default", "parent": None} if automatic else None,
        "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                            "request_three_d_secure": "automatic"}},
        "payment_method_types": pm_types or ["card"],
        "processing": None,
        "receipt_email": receipt,
        "review": None,
        "setup_future_usage": future,
        "shipping": data.get("shipping") or None,
        "source": None,
        "statement_descriptor": descriptor,
        "statement_descriptor_suffix": suffix,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": P.optional_text(data, "transfer_group"),
        "_return_url": return_url,
    }
    state.put("payment_intent", pi)
    state.emit(ctx, "payment_intent.created", public(pi))
    if confirm:
        _confirm(state, ctx, pi, return_url)
    return render(state, "payment_intent", pi, P.expand(data))


def _customer(state: State, customer_id: str) -> dict[str, Any]:
    customer = state.require("customer", customer_id, "customer")
    if customer.get("deleted"):
        raise invalid(f"No such customer: '{customer_id}'", "customer", "resource_missing")
    return customer


def _confirm(state: State, ctx: Ctx, pi: dict[str, Any], return_url: str | None,
             new_pm: dict[str, Any] | None = None, receipt: str | None = None,
             capture: str | None = None) -> None:
    """Attempt a payment; `new_pm` (confirm's payment_method) is attached only once the intent
    is known to be confirmable, so a refused confirmation leaves the intent untouched."""
    status = pi["status"]
    if status not in OPEN:
        if status == "succeeded":
            message = "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed."
        else:
            message = (f"You cannot confirm this PaymentIntent because it has a status of {status}. Only a "
                       "PaymentIntent with one of the following statuses may be confirmed: "
                       "requires_confirmation, requires_payment_method, requires_action.")
        raise unexpected_state(message)
    if not (new_pm or pi["payment_method"]):
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You can either "
            "update the PaymentIntent with a payment method and then confirm it again, or confirm it "
            "again directly with a payment method.")
    automatic = pi["automatic_payment_methods"]
    if (state.require_return_url and automatic and automatic["enabled"]
            and automatic["allow_redirects"] == "always" and not (return_url or pi["_return_url"])):
        raise invalid(
            "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. "
            "Because some of these payment methods might redirect your customer off of your page, you "
            "must provide a `return_url`. If you don't want to accept redirect-based payment methods, "
            "set `automatic_payment_methods[enabled]` to `true` and "
            "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
            "Payment Intents.", "return_url")
    pi["_return_url"] = return_url or pi["_return_url"]
    if new_pm:
        pi["payment_method"] = new_pm["id"]
    if receipt:
        pi["receipt_email"] = receipt
    if capture:
        pi["capture_method"] = capture
    pm = state.require("payment_method", pi["payment_method"], "payment_method")
    decline = cards.decline_for(pm)
    charge = charges.new_charge(state, ctx, pi, pm, decline)
    pi["latest_charge"] = charge["id"]
    if decline:
        pi["status"] = "requires_payment_method"
        pi["payment_method"] = None
        pi["last_payment_error"] = {
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": DOCS + decline.code.replace("_", "-"),
            "message": decline.message,
            "payment_method": public(pm),
            "type": "card_error",
        }
        state.emit(ctx, "charge.failed", public(charge))
        state.emit(ctx, "payment_intent.payment_failed", public(pi))
        raise StripeError(402, decline.message, type="card_error", code=decline.code,
                          decline_code=decline.decline_code,
                          extra={"charge": charge["id"], "payment_intent": public(pi), "payment_method": public(pm)})
    pi["last_payment_error"] = None
    state.emit(ctx, "charge.succeeded", public(charge))
    if charge["captured"]:
        pi.update(status="succeeded", amount_received=pi["amount"], amount_capturable=0)
        state.emit(ctx, "payment_intent.succeeded", public(pi))
    else:
        pi.update(status="requires_capture", amount_capturable=pi["amount"])
        state.emit(ctx, "payment_intent.amount_capturable_updated", public(pi))


def confirm(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, CONFIRM)
    pm_param = P.optional_text(data, "payment_method")
    return_url = P.optional_text(data, "return_url")
    receipt = P.email(data, "receipt_email")
    capture = P.enum(data, "capture_method", ["automatic", "automatic_async", "manual"])
    P.boolean(data, "off_session")
    pi = state.require("payment_intent", id, "intent")
    new_pm = cards.resolve(state, ctx, pm_param) if pm_param else None
    _confirm(state, ctx, pi, return_url, new_pm, receipt, capture)
    return render(state, "payment_intent", pi, P.expand(data))


def retrieve(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["client_secret"])
    return render(state, "payment_intent", state.require("payment_intent", id, "intent"), P.expand(data))


def update(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, UPDATE)
    amount = _amount(data, False)
    currency = P.currency(data, required=False)
    customer_id = P.optional_text(data, "customer")
    description = P.optional_text(data, "description", 1000)
    meta = P.metadata(data)
    pm_param = P.optional_text(data, "payment_method")
    pm_types = P.string_list(data, "payment_method_types")
    receipt = P.email(data, "receipt_email")
    suffix = P.optional_text(data, "statement_descriptor_suffix", 22)
    descriptor = P.optional_text(data, "statement_descriptor", 22)
    capture = P.enum(data, "capture_method", ["automatic", "automatic_async", "manual"])
    future = P.enum(data, "setup_future_usage", ["off_session", "on_session"])
    pi = state.require("payment_intent", id, "intent")
    status = pi["status"]
    if status == "canceled":
        raise unexpected_state(
            "This PaymentIntent could not be updated because it has a status of canceled. You may only "
            "update a PaymentIntent with one of the following statuses: requires_payment_method, "
            "requires_confirmation, requires_action.")
    frozen = sorted(set(data) - AFTER_SUCCESS)
    if status not in OPEN and frozen:
        raise unexpected_state(
            f"You cannot update the {frozen[0]} of this PaymentIntent because it has a status of {status}. "
            "You may only update it when the PaymentIntent has one of the following statuses: "
            "requires_payment_method, requires_confirmation, requires_action.")
    if customer_id:
        _customer(state, customer_id)
    if "payment_method" in data:
        pm = cards.resolve(state, ctx, pm_param) if pm_param else None
        pi["payment_method"] = pm["id"] if pm else None
    changes = {"amount": amount, "currency": currency, "payment_method_types": pm_types,
               "capture_method": capture}
    for name, value in changes.items():
        if value is not None:
            pi[name] = value
    for name, value in (("customer", customer_id), ("description", description), ("receipt_email", receipt),
                        ("statement_descriptor_suffix", suffix), ("statement_descriptor", descriptor),
                        ("setup_future_usage", future)):
        if name in data:
            pi[name] = value
    if "shipping" in data:
        pi["shipping"] = data["shipping"] or None
    if meta is not None:
        pi["metadata"] = P.merge_metadata(pi["metadata"], meta, data.get("metadata") == "")
    if status in OPEN:
        pi["last_payment_error"] = None
        pi["status"] = "requires_confirmation" if pi["payment_method"] else "requires_payment_method"
    return render(state, "payment_intent", pi, P.expand(data))


def cancel(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["cancellation_reason"])
    reason = P.enum(data, "cancellation_reason", ["duplicate", "fraudulent", "requested_by_customer", "abandoned"])
    pi = state.require("payment_intent", id, "intent")
    if pi["status"] not in CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "
            "requires_capture, requires_confirmation, requires_action, processing.")
    if pi["status"] == "requires_capture":
        charge = state.require("charge", pi["latest_charge"])
        charge.update(amount_refunded=charge["amount"], refunded=True)
    pi.update(status="canceled", canceled_at=ctx.now, cancellation_reason=reason, amount_capturable=0,
              last_payment_error=None)
    state.emit(ctx, "payment_intent.canceled", public(pi))
    return render(state, "payment_intent", pi, P.expand(data))


def capture(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["amount_to_capture", "metadata", "statement_descriptor", "statement_descriptor_suffix"])
    amount = P.integer(data, "amount_to_capture", minimum=1)
    meta = P.metadata(data)
    pi = state.require("payment_intent", id, "intent")
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture.")
    amount = pi["amount_capturable"] if amount is None else amount
    if amount > pi["amount_capturable"]:
        raise invalid(f"The amount_to_capture ({amount}) must be less than or equal to the "
                      f"amount_capturable ({pi['amount_capturable']}).", "amount_to_capture", "amount_too_large")
    charge = state.require("charge", pi["latest_charge"])
    previous = {"amount_captured": 0, "captured": False, "balance_transaction": None}
    charge.update(captured=True, amount_captured=amount, amount_refunded=charge["amount"] - amount,
                  balance_transaction=balance_transaction(state, ctx, amount, charge["currency"], charge["id"], "charge"))
    if meta is not None:
        pi["metadata"] = P.merge_metadata(pi["metadata"], meta, data.get("metadata") == "")
    pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
    state.emit(ctx, "charge.captured", public(charge), previous)
    state.emit(ctx, "payment_intent.succeeded", public(pi))
    return render(state, "payment_intent", pi, P.expand(data))


def list_(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["customer", "created", "limit", "starting_after", "ending_before"])
    customer = P.string(data, "customer")
    keep = created_filter(data)
    items = [p for p in state.all("payment_intent") if (customer is None or p["customer"] == customer) and keep(p)]
    return paginate(state, "payment_intent", items, data, "/v1/payment_intents")


def search(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["query", "limit", "page"])
    return run_search(state, "payment_intent", data, SEARCH_FIELDS, "/v1/payment_intents/search")
