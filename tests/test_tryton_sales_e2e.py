"""End to end with Tryton taking sales (the `tryton_sales_stack`: erp.adapter tryton, erp.paid_orders sales_order,
its own Stripe simulator and a Magento store whose ids start past any the ledger has seen): a paid order is a
Tryton sale carried to `done` with its invoice paid from Stripe clearing, and each refund, from either side, a
customer credit note paid back; all read from Tryton itself."""

import json
import time
from decimal import Decimal

from e2e import pay, wait_for_payment_intent, wait_for_payment_state
from tally_local import post, sign, wait_until
from tryton_client import Ledger


def credit_notes(ledger, sale_key) -> list:
    found = ledger.search_read("account.invoice", [["description", "like", f"%for [{sale_key}]"]],
                               ["reference", "state", "total_amount", "party"])
    return [n for n in found if n["state"] == "paid"]


def test_a_paid_order_is_a_done_sale_and_each_refund_a_credit_note_paid_back(tryton_sales_stack):
    s, p = tryton_sales_stack, tryton_sales_stack.magento
    ledger = Ledger(s)
    order = p.place_order(currency="USD", items=[{"sku": "BOOK", "name": "Ledger book", "qty": 3, "price": "12.50",
                                                  "discount": "2.50"}],
                          shipping_amount="5.00", tax_amount="2.88")["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pi["amount"] == 4288, "37.50 + 5.00 + 2.88 - 2.50"
    assert pay(s, pi["id"]).json()["status"] == "succeeded"
    wait_for_payment_state(p, order, "paid")

    key = f"tally-magento-trs-{order}-sale"

    def done():
        found = ledger.search_read("sale.sale", [["reference", "=", key]],
                                   ["state", "invoice_state", "total_amount", "party"])
        return found if found and found[0]["state"] == "done" else None

    sale = wait_until(done, 90, interval=1, what="the sale done in Tryton")
    assert len(sale) == 1 and sale[0]["invoice_state"] == "paid", sale
    assert Decimal(sale[0]["total_amount"]["decimal"]) == Decimal("42.88")
    lines = ledger.search_read("sale.line", [["sale", "=", sale[0]["id"]]], ["description", "quantity", "unit_price"])
    assert sorted((line["description"], line["quantity"], Decimal(line["unit_price"]["decimal"])) for line in lines) \
        == sorted([("BOOK Ledger book", 3.0, Decimal("12.50")), ("Shipping", 1.0, Decimal("5.00")),
                   ("Tax (as the platform charged it)", 1.0, Decimal("2.88")), ("Discount", 1.0, Decimal("-2.50"))])
    email = ledger.search_read("party.contact_mechanism", [["value", "=", "ada@example.com"]], ["party"])
    assert sale[0]["party"] in {m["party"] for m in email}, "the customer's party, found by email"

    re = s.stripe.call("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 1000}).json()
    wait_until(lambda: credit_notes(ledger, key) or None, 60, interval=1, what="the Stripe refund's credit note")
    assert p.sim("POST", f"orders/{order}/refunds", json={"amount": "5.00", "notify": False}).status_code == 201
    assert s.poll("magento")["refunds"]["enqueued"] >= 1
    notes = wait_until(lambda: (lambda n: n if len(n) == 2 else None)(credit_notes(ledger, key)), 60, interval=1,
                       what="the Magento credit memo's credit note")
    assert sorted(Decimal(n["total_amount"]["decimal"]) for n in notes) == [Decimal("-10.00"), Decimal("-5.00")]
    assert f"tally-magento-trs-{order}-credit-{re['id']}" in {n["reference"] for n in notes}

    # every event delivered again: nothing more in the ledger
    for event in s.stripe.call("GET", "/v1/events", params={"limit": 100}).json()["data"]:
        obj = event["data"]["object"]
        if pi["id"] in (obj.get("id"), obj.get("payment_intent")):
            body = json.dumps(event, separators=(",", ":")).encode()
            assert post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))[0] == 200
    time.sleep(5)
    assert len(ledger.search_read("sale.sale", [["reference", "=", key]], ["id"])) == 1
    assert len(ledger.search_read("account.invoice", [["description", "like", f"%for [{key}]"]], ["id"])) == 2
    # Stripe clearing: 42.88 in with the sale's payment, 15.00 back out with the two refunds
    moved = Decimal(0)
    for move in ledger.moves(f"tally-magento-trs-{order}-"):
        moved += move["lines"].get("1150", Decimal(0))
    assert moved == Decimal("27.88")
