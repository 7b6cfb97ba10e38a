"""Refunds: https://docs.stripe.com/api/refunds/create?api-version=2024-06-20.

"You can optionally refund only part of a charge. You can repeat this until the entire charge
is refunded. After you entirely refund a charge, you can't refund it again. This method raises
an error when it's called on an already-refunded charge, or when you attempt to refund more
money than is left on a charge." Each refund emits charge.refunded (the charge, with
previous_attributes) and refund.created.

Later transitions, driven here by the control API (`POST /_sim/refunds/{id}/status`, and
`POST /_sim/refunds/next` to make the next refund start `pending`): pending -> succeeded, or
-> failed with a `failure_reason`, where the money returns to the charge (`amount_refunded`
drops, a `refund_failure` balance transaction is `failure_balance_transaction`). Each emits
refund.updated and charge.refund.updated, and a failure also refund.failed."""

from __future__ import annotations

from typing import Any

from . import params as P
from .charges import balance_transaction
from .errors import invalid, validation
from .state import Ctx, State, new_id, public
from .views import created_filter, paginate, render

CREATE = ["payment_intent", "charge", "amount", "reason", "metadata", "instructions_email",
          "refund_application_fee", "reverse_transfer", "origin", "currency", "customer"]


def create(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, CREATE)
    pi_id = P.optional_text(data, "payment_intent")
    charge_id = P.optional_text(data, "charge")
    amount = P.integer(data, "amount", minimum=1)
    reason = P.enum(data, "reason", ["duplicate", "fraudulent", "requested_by_customer"])
    meta = P.metadata(data) or {}
    if not pi_id and not charge_id:
        raise validation("One of the following params should be provided for this request: payment_intent or charge.",
                         "payment_intent", "parameter_missing")
    if pi_id:
        pi = state.require("payment_intent", pi_id, "payment_intent")
        charge = state.get("charge", pi["latest_charge"]) if pi["latest_charge"] else None
        if charge is None or charge["status"] != "succeeded":
            raise invalid(f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.", "payment_intent")
        if charge_id and charge_id != charge["id"]:
            raise invalid(f"Charge {charge_id} does not belong to PaymentIntent {pi_id}.", "charge")
    else:
        charge = state.require("charge", charge_id, "charge")
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge_id} has not succeeded and cannot be refunded.", "charge")
    if not charge["captured"]:
        raise invalid(f"Charge {charge['id']} has not been captured. Cancel its PaymentIntent to release "
                      "the authorization instead.", "charge", "charge_not_refundable")
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", "charge", "charge_already_refunded")
    amount = remaining if amount is None else amount
    if amount > remaining:
        cur = charge["currency"]
        raise invalid(f"Refund amount ({P.format_amount(amount, cur)}) is greater than unrefunded amount on "
                      f"charge ({P.format_amount(remaining, cur)})", "amount", "amount_too_large")

    refund_id = new_id("re_")
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction(state, ctx, -amount, charge["currency"], refund_id, "refund"),
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "destination_details": {"card": {"reference_status": "pending", "reference_type": "acquirer_reference_number",
                                         "type": "refund"}, "type": "card"},
        "metadata": meta,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": state.take_next_refund_status() or "succeeded",
        "failure_reason": None,
        "failure_balance_transaction": None,
        "transfer_reversal": None,
    }
    state.put("refund", refund)
    previous = {"amount_refunded": charge["amount_refunded"]}
    charge["amount_refunded"] += amount
    if charge["amount_refunded"] >= charge["amount"]:
        previous["refunded"] = charge["refunded"]
        charge["refunded"] = True
    state.emit(ctx, "charge.refunded", public(charge), previous)
    state.emit(ctx, "refund.created", public(refund))
    return render(state, "refund", refund, P.expand(data))


def retrieve(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, [])
    return render(state, "refund", state.require("refund", id, "id"), P.expand(data))


def update(state: State, ctx: Ctx, data: dict[str, Any], id: str) -> dict[str, Any]:
    P.check_allowed(data, ["metadata"])
    meta = P.metadata(data)
    refund = state.require("refund", id, "id")
    if meta is not None:
        merged = P.merge_metadata(refund["metadata"], meta, data.get("metadata") == "")
        if merged != refund["metadata"]:
            previous = {"metadata": dict(refund["metadata"])}
            refund["metadata"] = merged
            state.emit(ctx, "refund.updated", public(refund), previous)
    return render(state, "refund", refund, P.expand(data))


def list_(state: State, ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    P.check_allowed(data, ["payment_intent", "charge", "created", "limit", "starting_after", "ending_before"])
    pi, charge = P.string(data, "payment_intent"), P.string(data, "charge")
    keep = created_filter(data)
    items = [r for r in state.all("refund")
             if (pi is None or r["payment_intent"] == pi) and (charge is None or r["charge"] == charge) and keep(r)]
    return paginate(state, "refund", items, data, "/v1/refunds")


FAILURE_REASONS = ["lost_or_stolen_card", "expired_or_canceled_card", "charge_for_pending_refund_disputed",
                   "insufficient_funds", "declined", "merchant_request", "unknown"]


def settle(state: State, ctx: Ctx, refund_id: str, status: str, failure_reason: str | None) -> dict[str, Any]:
    """Moves a refund on as Stripe's processing would; ValueError for a move Stripe never makes."""
    refund = state.get("refund", refund_id)
    if refund is None:
        raise ValueError(f"no such refund: {refund_id}")
    moves = {"pending": {"succeeded", "failed", "canceled"}, "succeeded": {"failed"},
             "requires_action": {"succeeded", "failed", "canceled"}}
    if status not in moves.get(refund["status"], set()):
        raise ValueError(f"a {refund['status']} refund cannot become {status}")
    if status == "failed" and failure_reason not in FAILURE_REASONS:
        raise ValueError(f"failure_reason must be one of {FAILURE_REASONS}")
    previous = {"status": refund["status"]}
    refund["status"] = status
    if status in ("failed", "canceled"):
        charge = state.get("charge", refund["charge"])
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        if status == "failed":
            refund["failure_reason"] = failure_reason
            refund["failure_balance_transaction"] = balance_transaction(
                state, ctx, refund["amount"], refund["currency"], refund_id, "refund_failure")
    state.emit(ctx, "refund.updated", public(refund), previous)
    state.emit(ctx, "charge.refund.updated", public(refund), previous)
    if status == "failed":
        state.emit(ctx, "refund.failed", public(refund))
    return public(refund)
