"""Payouts, the balance transactions they carry, and disputes (facts: ../shared/stripe/facts.md §2, §3).

Every charge, refund and dispute leaves a balance transaction with Stripe's signs and reporting
categories (a charge pays the simulator's processing fee; a dispute withdraws the amount as an
`adjustment` in category `dispute` and charges a 15.00 dispute fee; a won dispute reinstates both as
`dispute_reversal`). `POST /_sim/payouts` sweeps every transaction in the currency not yet paid out
(in the simulator funds are available at once) into an automatic payout whose own transaction is
`type=payout` for minus the payout amount, so the swept transactions' net equals the payout by
construction (`"skew"` breaks that on purpose, for tests). It sends `payout.created`,
`payout.reconciliation_completed` and `payout.paid`, and with `"fail_after_paid"` then
`payout.failed` (or later, `POST /_sim/payouts/{id}/fail`), whose `failure_balance_transaction` (`payout_failure`, category `payout_reversal`)
returns the money to the balance for the next payout.

`GET /v1/payouts/{id}`, `GET /v1/payouts`, `GET /v1/balance_transactions` (`payout` for automatic
payouts only, `type`, `source`, `currency`, cursors; newest first)."""

from __future__ import annotations

from typing import Any

from . import params as P
from .charges import balance_transaction, exponent
from .errors import invalid
from .state import Ctx, State, new_id, public
from .views import created_filter, paginate, render

DISPUTE_FEE_MAJOR = 15


def list_balance_transactions(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["payout", "type", "source", "currency", "created", "limit", "starting_after",
                           "ending_before", "expand"])
    payout_id, kind = P.string(data, "payout"), P.string(data, "type")
    source, currency = P.string(data, "source"), P.string(data, "currency")
    if payout_id is not None:
        payout = state.require("payout", payout_id, "payout", status=404)
        if not payout["automatic"]:
            raise invalid("Balance transaction history can only be filtered on automatic transfers, not manual.",
                          "payout")
    keep = created_filter(data)
    items = [t for t in state.all("balance_transaction")
             if (payout_id is None or t["_payout"] == payout_id) and (kind is None or t["type"] == kind)
             and (source is None or t["source"] == source) and (currency is None or t["currency"] == currency)
             and keep(t)]
    return paginate(state, "balance_transaction", items, data, "/v1/balance_transactions")


def retrieve_payout(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["expand"])
    return render(state, "payout", state.require("payout", id, "id"), P.expand(data))


def list_payouts(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["status", "created", "limit", "starting_after", "ending_before", "expand"])
    status, keep = P.string(data, "status"), created_filter(data)
    items = [p for p in state.all("payout") if (status is None or p["status"] == status) and keep(p)]
    return paginate(state, "payout", items, data, "/v1/payouts")


def create_payout(state: State, ctx: Ctx, currency: str, fail_after_paid: bool = False, skew: int = 0) -> dict[str, Any]:
    """Sweeps the currency's unpaid transactions into an automatic payout and sends its events."""
    currency = currency.lower()
    with state.lock:
        swept = [t for t in state.all("balance_transaction") if t["currency"] == currency and t["_payout"] is None]
        net = sum(t["net"] for t in swept)
        if net <= 0:
            raise ValueError(f"nothing to pay out in {currency}: the balance is {net}")
        payout_id = new_id("po_")
        amount = net + skew
        own = balance_transaction(state, ctx, -amount, currency, payout_id, "payout", description="STRIPE PAYOUT")
        for t in swept + [state.get("balance_transaction", own)]:
            t["_payout"], t["status"] = payout_id, "available"
        payout = state.put("payout", {
            "id": payout_id, "object": "payout", "amount": amount, "application_fee": None,
            "application_fee_amount": None, "arrival_date": ctx.now + 2 * 86400, "automatic": True,
            "balance_transaction": own, "created": ctx.now, "currency": currency, "description": "STRIPE PAYOUT",
            "destination": "ba_sim", "failure_balance_transaction": None, "failure_code": None,
            "failure_message": None, "livemode": False, "metadata": {}, "method": "standard",
            "original_payout": None, "reconciliation_status": "in_progress", "reversed_by": None,
            "source_type": "card", "statement_descriptor": None, "status": "pending", "type": "bank_account"})
        state.emit(ctx, "payout.created", public(payout))
        payout["reconciliation_status"] = "completed"
        state.emit(ctx, "payout.reconciliation_completed", public(payout), {"reconciliation_status": "in_progress"})
        payout["status"] = "paid"
        state.emit(ctx, "payout.paid", public(payout), {"status": "pending"})
        if fail_after_paid:
            return fail_payout(state, ctx, payout_id)
        return public(payout)


def fail_payout(state: State, ctx: Ctx, payout_id: str) -> dict[str, Any]:
    """The bank returns a paid payout (days later, in Stripe): its amount goes back to the balance as a
    `payout_failure` transaction (category `payout_reversal`) that the next payout sweeps."""
    with state.lock:
        payout = state.get("payout", payout_id)
        if payout is None or payout["status"] != "paid":
            raise ValueError(f"no paid payout {payout_id}")
        payout["status"], payout["failure_code"] = "failed", "account_closed"
        payout["failure_message"] = "The bank account has been closed."
        payout["failure_balance_transaction"] = balance_transaction(
            state, ctx, payout["amount"], payout["currency"], payout_id, "payout_failure",
            category="payout_reversal", description="REFUND FOR PAYOUT (STRIPE PAYOUT)")
        state.emit(ctx, "payout.failed", public(payout), {"status": "paid"})
        return public(payout)


def create_dispute(state: State, ctx: Ctx, charge_id: str, outcome: str | None) -> dict[str, Any]:
    """A dispute on a charge as the card network opens it; `outcome` closes it lost or won."""
    if outcome not in (None, "lost", "won"):
        raise ValueError("outcome must be lost or won")
    with state.lock:
        charge = state.get("charge", charge_id)
        if charge is None or not charge["captured"]:
            raise ValueError(f"no captured charge {charge_id}")
        if charge.get("disputed"):
            raise ValueError(f"charge {charge_id} is already disputed")
        currency, amount = charge["currency"], charge["amount"]
        fee = DISPUTE_FEE_MAJOR * 10 ** exponent(currency)
        dispute_id = new_id("dp_")
        withdrawn = balance_transaction(state, ctx, -amount, currency, dispute_id, "adjustment", category="dispute",
                                        fee=fee, description=f"Chargeback withdrawal for {charge_id}")
        dispute = state.put("dispute", {
            "id": dispute_id, "object": "dispute", "amount": amount, "balance_transactions": [withdrawn],
            "charge": charge_id, "created": ctx.now, "currency": currency, "evidence": {},
            "is_charge_refundable": False, "livemode": False, "metadata": {},
            "payment_intent": charge.get("payment_intent"), "reason": "fraudulent", "status": "needs_response"})
        charge["disputed"] = True
        state.emit(ctx, "charge.dispute.created", public(dispute))
        state.emit(ctx, "charge.dispute.funds_withdrawn", public(dispute))
        if outcome == "won":
            dispute["balance_transactions"].append(balance_transaction(
                state, ctx, amount, currency, dispute_id, "adjustment", category="dispute_reversal", fee=-fee,
                description=f"Chargeback reversal for {charge_id}"))
            dispute["status"] = "won"
            state.emit(ctx, "charge.dispute.funds_reinstated", public(dispute))
        if outcome:
            dispute["status"] = outcome
            state.emit(ctx, "charge.dispute.closed", public(dispute), {"status": "needs_response"})
        return public(dispute)
