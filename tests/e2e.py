"""What the end-to-end suites on the deployed local stack share."""

import time
from decimal import Decimal
from pathlib import Path

from tally_local import wait_until
from tally_platforms import PlatformSim

ROOT = Path(__file__).resolve().parent.parent
EXPONENT = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
# Server-side confirmation of a PaymentIntent with automatic payment methods needs a
# return_url on real Stripe (and on our simulator); localstripe refuses the parameter.
RETURN_URL = "https://shop.example.com/checkout/return"


def minor(amount: str, currency: str) -> int:
    return int(Decimal(amount).scaleb(EXPONENT[currency]))


def wait_for_payment_intent(s, p: PlatformSim, order_id, timeout=60):
    return wait_until(lambda: (lambda found: found[0] if len(found) == 1 else None)(s.payment_intents_for(order_id, p.name)),
                      timeout, interval=1, what=f"one PaymentIntent for {p.name} order {order_id}")


def wait_for_payment_state(p: PlatformSim, order_id, state, timeout=90):
    return wait_until(lambda: (lambda x: x if x["payment_state"] == state else None)(p.summary(order_id)),
                      timeout, interval=1, what=f"{p.name} order {order_id} to be {state}")


def pay(s, pi_id, payment_method="pm_card_visa"):
    return s.stripe.call("POST", f"/v1/payment_intents/{pi_id}/confirm",
                         {"payment_method": payment_method, "return_url": RETURN_URL})


def confirm(s, pi_id, payment_method):
    """Attaches the card, then confirms (localstripe cannot confirm with a payment_method parameter)."""
    r = s.stripe.call("POST", f"/v1/payment_intents/{pi_id}", {"payment_method": payment_method})
    assert r.status_code == 200, r.text
    return s.stripe.call("POST", f"/v1/payment_intents/{pi_id}/confirm")


def payment_entries(s, p: PlatformSim, order_id) -> list:
    return [e for e in s.erp.entries(order_id, p.store, p.name) if "refund" not in e["references"]]


def place_and_pay(s, p: PlatformSim, currency="USD", price="19.99", qty=2) -> tuple[str, dict]:
    """An order placed (its event sent to Tally) and paid; (order id, PaymentIntent)."""
    order_id = p.place_order(currency=currency, items=[{"sku": "TEE", "name": "Tee", "qty": qty, "price": price}])["id"]
    pi = wait_for_payment_intent(s, p, order_id)
    r = pay(s, pi["id"])
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    wait_for_payment_state(p, order_id, "paid")
    return order_id, s.stripe.call("GET", f"/v1/payment_intents/{pi['id']}").json()


def assert_one_balanced_entry(s, p: PlatformSim, order_id, amount, currency, pi_id):
    wait_until(lambda: payment_entries(s, p, order_id) or None, 60, interval=1, what="the ERP entry")
    time.sleep(1)
    entries = payment_entries(s, p, order_id)
    assert len(entries) == 1, entries
    entry = entries[0]
    debits = sum(Decimal(l["debit"]) for l in entry["lines"] if "debit" in l)
    credits = sum(Decimal(l["credit"]) for l in entry["lines"] if "credit" in l)
    assert debits == credits == Decimal(amount)
    assert entry["currency"] == currency
    assert entry["references"]["payment_intent"] == pi_id
    if posts_sales_orders(s):
        assert_one_sales_order(s, p, order_id, amount, currency, entry["references"]["charge"])
    return entry


def posts_sales_orders(s) -> bool:
    return s.env.get("ERP_PAID_ORDERS") in ("sales_order", "both")


def assert_one_sales_order(s, p: PlatformSim, order_id, amount, currency, charge):
    """The order as one sales order: its lines, shipping, tax, discount and adjustment add up to the total, and
    the charge is applied as its payment."""
    sales = wait_until(lambda: s.erp.sales_orders(order_id, p.store, p.name) or None, 60, interval=1,
                       what="the ERP sales order")
    assert len(sales) == 1, sales
    sale = sales[0]
    assert sale["currency"] == currency and Decimal(sale["total"]) == Decimal(amount)
    assert sale["payment"] == {"amount": sale["total"], "reference": charge}
    assert sale["lines"] and all(line["sku"] for line in sale["lines"])
    parts = sum(Decimal(line["amount"]) for line in sale["lines"]) + Decimal(sale["shipping"]) \
        + Decimal(sale["tax"]) - Decimal(sale["discount"]) + Decimal(sale["adjustment"])
    assert parts == Decimal(sale["total"])
    return sale


def queue_messages_matching(s, queue_url: str, predicate) -> list:
    """Every message in the queue that `predicate` accepts, without consuming any
    (`Stack.peek_messages`)."""
    return [m for m in s.peek_messages(queue_url) if predicate(m)]


def dead_letters_matching(s, predicate) -> list:
    """Every message in the payments DLQ that `predicate` accepts (see `queue_messages_matching`)."""
    return queue_messages_matching(s, s["PAYMENTS_DLQ_URL"], predicate)


def dead_letter_matching(s, predicate):
    return next(iter(dead_letters_matching(s, predicate)), None)
