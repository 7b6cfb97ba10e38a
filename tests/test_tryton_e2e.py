"""End to end with Tryton as the ERP (the `tryton_stack`: the same code, `erp.adapter` tryton, its
own Stripe simulator and Magento store): what Tally posts is read back from Tryton's own ledger,
where a posted move is final and the balances are Tryton's arithmetic, not ours. What every ERP must
show (one posting per fact however events arrive, refunds both ways, reversals, declines) runs on
Tryton and the ERP simulator alike in test_ledger_e2e.py; here is what only a ledger shows: account
balances, a currency the company does not keep (at the ledger's own rate), a payout's bank and fees."""

import json
import time
from decimal import Decimal

import requests

from e2e import pay, queue_messages_matching, wait_for_payment_intent, wait_for_payment_state
from tally_local import post, sign, wait_until
from tryton_client import Ledger


def charge_of(s, pi) -> str:
    return s.stripe.call("GET", f"/v1/payment_intents/{pi['id']}").json()["latest_charge"]


def posted_moves(ledger, key: str, what: str, timeout: float = 60) -> list:
    """The moves named by `key` once they are all posted: Tally creates a move and then posts
    it, two calls, so a read between them sees a draft (CI caught the test doing that)."""
    def posted():
        moves = ledger.moves(key)
        return moves if moves and all(m["state"] == "posted" for m in moves) else None
    return wait_until(posted, timeout, interval=1, what=what)


def paid_and_posted(s, ledger, sku, price) -> tuple[str, dict, str]:
    """A USD Magento order paid and its payment's move found in Tryton: (order id, PaymentIntent, charge)."""
    p = s.magento
    order = p.place_order(currency="USD", items=[{"sku": sku, "name": sku.title(), "qty": 1, "price": price}])["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")
    charge = charge_of(s, pi)
    posted_moves(ledger, f"tally-magento-tr-{order}-payment-{charge}", "the payment's move posted in Tryton")
    return order, pi, charge


def test_a_paid_order_and_its_refund_are_posted_moves_in_trytons_ledger(tryton_stack):
    s, p = tryton_stack, tryton_stack.magento
    ledger = Ledger(s)
    before = {code: ledger.balance(code) for code in ("1150", "1200", "4500")}
    order = p.place_order(currency="USD", items=[{"sku": "LEDGER", "name": "Ledger", "qty": 2, "price": "12.50"}])["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")
    # with the charge: the ledger outlives `make down`, the simulator's order ids do not
    key = f"tally-magento-tr-{order}-payment-{charge_of(s, pi)}"
    moves = posted_moves(ledger, key, "the payment's move posted in Tryton")
    assert len(moves) == 1 and moves[0]["state"] == "posted", moves
    assert moves[0]["lines"] == {"1150": Decimal("25.00"), "1200": Decimal("-25.00")}
    assert ledger.balance("1150") - before["1150"] == Decimal("25.00")
    assert ledger.balance("1200") - before["1200"] == Decimal("-25.00")

    refund = s.stripe.call("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 1000}).json()
    refunded = posted_moves(ledger, refund["id"], "the refund's move posted")
    assert len(refunded) == 1 and refunded[0]["state"] == "posted", refunded
    assert refunded[0]["lines"] == {"4500": Decimal("10.00"), "1150": Decimal("-10.00")}
    assert ledger.balance("1150") - before["1150"] == Decimal("15.00"), "Stripe clearing holds what is left"
    assert ledger.balance("4500") - before["4500"] == Decimal("10.00")
    # every event delivered again: nothing more is booked
    for event in s.stripe.call("GET", "/v1/events", params={"limit": 50}).json()["data"]:
        obj = event["data"]["object"]
        if pi["id"] in (obj.get("id"), obj.get("payment_intent")) or obj.get("id") == refund["id"]:
            body = json.dumps(event, separators=(",", ":")).encode()
            assert post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))[0] == 200
    time.sleep(4)
    assert len(ledger.moves(key)) == 1 and len(ledger.moves(refund["id"])) == 1


def test_a_yen_payment_is_booked_in_dollars_at_trytons_rate_with_the_yen_beside(tryton_stack):
    """The local company keeps USD, and its ledger has 150 yen a dollar: a JPY payment is one posted move in
    dollars at that rate, each line keeping its exact yen as the second currency's amount."""
    s, p = tryton_stack, tryton_stack.magento
    ledger = Ledger(s)
    order = p.place_order(currency="JPY", items=[{"sku": "YEN", "name": "Yen", "qty": 1, "price": "1500"}])["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")
    key = f"tally-magento-tr-{order}-payment-{charge_of(s, pi)}"
    moves = posted_moves(ledger, key, "the payment's move posted in Tryton")
    assert len(moves) == 1 and moves[0]["state"] == "posted", moves
    assert moves[0]["lines"] == {"1150": Decimal("10.00"), "1200": Decimal("-10.00")}
    yen = ledger.search_read("currency.currency", [["code", "=", "JPY"]], ["id"])[0]["id"]
    kept = ledger.search_read("account.move.line", [["move", "=", moves[0]["id"]]],
                              ["second_currency", "amount_second_currency"])
    assert sorted((line["second_currency"], Decimal(line["amount_second_currency"]["decimal"])) for line in kept) == \
        [(yen, Decimal("-1500")), (yen, Decimal("1500"))]


def test_a_payment_in_a_currency_tryton_has_no_rate_for_is_dead_lettered_with_its_reason(tryton_stack):
    """The local ledger has GBP but no rate for it: the entry is refused, said why, and left for a person (who adds
    the rate and redrives it)."""
    s, p = tryton_stack, tryton_stack.magento
    order = p.place_order(currency="GBP", items=[{"sku": "POUND", "name": "Pound", "qty": 1, "price": "15.00"}])["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")

    def dead_letter():
        found = queue_messages_matching(s, s["PAYMENTS_DLQ_URL"], lambda m: pi["id"] in m["Body"] or any(
            pi["id"] in json.dumps(v) for v in m.get("MessageAttributes", {}).values()))
        return found or None

    letters = wait_until(dead_letter, 90, interval=2, what="the refused entry in the DLQ")
    reason = letters[0]["MessageAttributes"]["failure_reason"]["StringValue"]
    assert "no rate for GBP" in reason, reason


def test_a_payout_is_a_balanced_posted_move_with_the_bank_and_the_fees(tryton_stack):
    s = tryton_stack
    ledger = Ledger(s)
    paid_and_posted(s, ledger, "PAYOUT", "40.00")
    bank = ledger.balance("1000")
    made = requests.post(f"{s.stripe.base}/_sim/payouts", json={"currency": "usd"}, timeout=60)
    assert made.status_code == 200, made.text
    po = made.json()
    moves = posted_moves(ledger, f"tally-payout-{po['id']}", "the payout's move posted", timeout=120)
    assert len(moves) == 1 and moves[0]["state"] == "posted", moves
    booked = moves[0]["lines"]
    assert sum(booked.values()) == 0, booked
    assert booked["1000"] == Decimal(po["amount"]).scaleb(-2), booked
    rows = [r for r in s.stripe.call("GET", "/v1/balance_transactions",
                                     params={"payout": po["id"], "limit": 100}).json()["data"]
            if r["source"] != po["id"]]
    fees = sum(r["fee"] for r in rows)
    if fees:
        assert booked["6150"] == Decimal(fees).scaleb(-2), booked
    assert ledger.balance("1000") - bank == Decimal(po["amount"]).scaleb(-2), "the bank holds the payout"
