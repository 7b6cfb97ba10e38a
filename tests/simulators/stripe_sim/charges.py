"""Charges (created by confirming a PaymentIntent) and their balance transactions.

Shape per https://docs.stripe.com/api/charges/object?api-version=2024-06-20: since 2022-11-15 a
charge no longer embeds `refunds` unless you pass expand[]=refunds."""

from __future__ import annotations

from typing import Any

from . import params as P
from .cards import Decline
from .state import Ctx, State, new_id, public
from .views import created_filter, paginate, render


# The simulator's fee schedule (not Stripe's price list, which varies by country and card): 2.9% of
# the charge, rounded half up, plus a fixed 0.30 in two-decimal currencies (0.300 in three-decimal).
FEE_BASIS_POINTS = 290
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}


def exponent(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def processing_fee(amount: int, currency: str) -> int:
    fixed = {0: 0, 2: 30, 3: 300}[exponent(currency)]
    return (amount * FEE_BASIS_POINTS + 5_000) // 10_000 + fixed


def balance_transaction(state: State, ctx: Ctx, amount: int, currency: str, source: str, kind: str,
                        category: str | None = None, fee: int | None = None, description: str | None = None) -> str:
    """A balance transaction with Stripe's signs: money in positive; `net = amount - fee`. A charge
    pays the processing fee; `category` is the `reporting_category` when it differs from `kind`."""
    fee = processing_fee(amount, currency) if fee is None and kind == "charge" else (fee or 0)
    txn = {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": ctx.now + 2 * 86400,
        "created": ctx.now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [{"amount": fee, "application": None, "currency": currency,
                         "description": "Stripe processing fees", "type": "stripe_fee"}] if fee else [],
        "net": amount - fee,
        "reporting_category": category or kind,
        "source": source,
        "status": "pending",
        "type": kind,
        "_payout": None,
    }
    state.put("balance_transaction", txn)
    return txn["id"]


def new_charge(state: State, ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any], decline: Decline | None) -> dict[str, Any]:
    card = pm["card"]
    ok = decline is None
    captured = ok and pi["capture_method"] != "manual"
    charge_id = new_id("ch_")
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if captured else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction(state, ctx, pi["amount"], pi["currency"], charge_id, "charge") if captured else None,
        "billing_details": public(pm)["billing_details"],
        "calculated_statement_descriptor": "TALLY SIM" + (f"* {pi['statement_descriptor_suffix']}" if pi.get("statement_descriptor_suffix") else ""),
        "captured": captured,
        "created": ctx.now,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "destination": None,
        "dispute": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if ok else decline.code,
        "failure_message": None if ok else decline.message,
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": None if ok else decline.decline_code,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete." if ok else decline.seller_message,
            "type": "authorized" if ok else "issuer_declined",
        },
        "paid": ok,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": pi["amount"] if ok else None,
                "brand": card["brand"],
                "checks": dict(card["checks"]),
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "network": card["brand"],
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "radar_options": {},
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/sim_{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": pi.get("shipping"),
        "source": None,
        "source_transfer": None,
        "statement_descriptor": pi.get("statement_descriptor"),
        "statement_descriptor_suffix": pi.get("statement_descriptor_suffix"),
        "status": "succeeded" if ok else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }
    return state.put("charge", charge)


def retrieve(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    return render(state, "charge", state.require("charge", id, "id"), P.expand(data))


def update(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["description", "metadata", "receipt_email"])
    meta = P.metadata(data)
    description = P.optional_text(data, "description")
    receipt = P.email(data, "receipt_email")
    charge = state.require("charge", id, "id")
    previous: dict[str, Any] = {}
    if meta is not None:
        merged = P.merge_metadata(charge["metadata"], meta, data.get("metadata") == "")
        if merged != charge["metadata"]:
            previous["metadata"] = dict(charge["metadata"])
            charge["metadata"] = merged
    for name, value in (("description", description), ("receipt_email", receipt)):
        if name in data and charge[name] != value:
            previous[name] = charge[name]
            charge[name] = value
    if previous:
        state.emit(ctx, "charge.updated", public(charge), previous)
    return render(state, "charge", charge, P.expand(data))


def list_(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["payment_intent", "customer", "created", "limit", "starting_after", "ending_before"])
    pi, customer = P.string(data, "payment_intent"), P.string(data, "customer")
    keep = created_filter(data)
    items = [c for c in state.all("charge")
             if (pi is None or c["payment_intent"] == pi) and (customer is None or c["customer"] == customer) and keep(c)]
    return paginate(state, "charge", items, data, "/v1/charges")


def retrieve_balance_transaction(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    return render(state, "balance_transaction", state.require("balance_transaction", id, "id"))
