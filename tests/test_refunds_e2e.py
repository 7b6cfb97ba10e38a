"""Refunds made in Stripe, end to end on the deployed local stack, once per platform:
a refund created through Stripe's API (as the Dashboard does) comes back as Stripe's
signed webhooks, and Tally records it on the platform (Magento: an offline credit memo
for the amount; Znode: a refund payment row and note) keyed on the Refund id, and posts
a balanced ERP credit memo. A refund that fails later is reversed in the ERP and noted
on the order."""

import concurrent.futures
import json
import random
import time
from decimal import Decimal

import pytest

from e2e import dead_letters_matching, minor, pay, place_and_pay, posts_sales_orders
from tally_local import post, sign, wait_until


def refund(s, pi_id, amount=None) -> dict:
    r = s.stripe.call("POST", "/v1/refunds", {"payment_intent": pi_id, **({"amount": amount} if amount else {})})
    assert r.status_code == 200, r.text
    return r.json()


def recorded(p, order_id) -> dict:
    """The order's refunds on the platform, by Stripe refund id."""
    return {r["stripe_refund_id"]: r for r in p.summary(order_id)["refunds"]}


def wait_for_refund(p, order_id, refund_id, timeout=60) -> dict:
    return wait_until(lambda: recorded(p, order_id).get(refund_id), timeout, interval=1,
                      what=f"{p.name} order {order_id} to show refund {refund_id}")


def credit_memos(s, p, order_id) -> list:
    return [e for e in s.erp.entries(order_id, p.store, p.name) if "refund" in e["references"]]


def lines(entry) -> list:
    return [(l["account"], "debit" if "debit" in l else "credit", Decimal(l.get("debit") or l["credit"]))
            for l in entry["lines"]]


@pytest.mark.parametrize("currency,price,refunded", [
    ("USD", "19.99", "10.00"),
    ("JPY", "2500", "5000"),
    ("KWD", "6.170", "0.005"),
])
def test_a_stripe_refund_reaches_the_platform_and_the_erp(stack, platform, currency, price, refunded):
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency=currency, price=price)
    re = refund(s, pi["id"], minor(refunded, currency))
    shown = wait_for_refund(p, order_id, re["id"])
    assert Decimal(str(shown["amount"])) == Decimal(refunded)
    full = Decimal(refunded) == Decimal(price) * 2
    want = "refunded" if full else "partially_refunded"
    wait_until(lambda: p.summary(order_id)["payment_state"] == want, 30, interval=1, what=f"the order {want}")
    wait_until(lambda: credit_memos(s, p, order_id), 60, interval=1, what="the ERP credit memo")
    time.sleep(2)
    memos = credit_memos(s, p, order_id)
    assert len(memos) == 1, memos
    assert memos[0]["currency"] == currency
    assert memos[0]["references"] | {"refund": re["id"], "charge": pi["latest_charge"], "payment_intent": pi["id"]} \
        == memos[0]["references"]
    assert lines(memos[0]) == [("4500", "debit", Decimal(refunded)), ("1150", "credit", Decimal(refunded))]
    if posts_sales_orders(s):
        sale = s.erp.sales_orders(order_id, p.store, p.name)[0]
        credited = wait_until(lambda: s.erp.credit_memos(sale["idempotency_key"]) or None, 60, interval=1,
                              what="the credit memo against the sales order")
        assert [(m["amount"], m["references"]["refund"]) for m in credited] == [(refunded, re["id"])]


def test_two_partial_refunds_and_the_rest_add_up_to_the_order(stack, platform):
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99")
    first, second = refund(s, pi["id"], 1_000), refund(s, pi["id"], 999)
    rest = refund(s, pi["id"])  # what is left: 19.99
    for r in (first, second, rest):
        wait_for_refund(p, order_id, r["id"])
    shown = recorded(p, order_id)
    assert sorted(Decimal(str(r["amount"])) for r in shown.values()) == [Decimal("9.99"), Decimal("10.00"), Decimal("19.99")]
    wait_until(lambda: p.summary(order_id)["payment_state"] == "refunded", 30, interval=1, what="the order refunded")
    wait_until(lambda: len(credit_memos(s, p, order_id)) == 3, 60, interval=1, what="three ERP credit memos")
    total = sum(lines(m)[0][2] for m in credit_memos(s, p, order_id))
    assert total == Decimal("39.98"), "to the cent"
    if posts_sales_orders(s):
        sale = s.erp.sales_orders(order_id, p.store, p.name)[0]
        credited = wait_until(lambda: (lambda m: m if len(m) == 3 else None)(
            s.erp.credit_memos(sale["idempotency_key"])), 60, interval=1, what="three sales credit memos")
        assert sum(Decimal(m["amount"]) for m in credited) == Decimal(sale["total"]), "the whole sale credited"


def test_every_refund_event_three_times_shuffled_gives_one_record_each(stack, platform):
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency="JPY", price="3000")
    s.stripe_sim_delivery(auto=False)
    try:
        refunds = [refund(s, pi["id"], 1_000), refund(s, pi["id"], 2_000)]
        ids = {r["id"] for r in refunds} | {pi["latest_charge"]}
        events = [e for e in s.stripe.call("GET", "/v1/events", params={"limit": 100}).json()["data"]
                  if e["data"]["object"].get("id") in ids and e["type"].startswith(("refund.", "charge.refund"))]
        assert {e["type"] for e in events} == {"refund.created", "charge.refunded"}
        work = events * 3
        random.Random(20261127).shuffle(work)

        def deliver(event):
            body = json.dumps(event, separators=(",", ":")).encode()
            status, _ = post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))
            assert status == 200

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(deliver, work))
        for r in refunds:
            wait_for_refund(p, order_id, r["id"])
        time.sleep(3)  # let every redelivery finish before counting
        assert len(p.summary(order_id)["refunds"]) == 2
        assert len(credit_memos(s, p, order_id)) == 2
    finally:
        s.stripe_sim_delivery(auto=True)


def test_a_pending_refund_waits_and_one_that_fails_later_is_reversed_and_noted(stack, platform):
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99")
    s.stripe.call_sim_post("refunds/next", {"status": "pending"})
    re = refund(s, pi["id"], 1_500)
    assert re["status"] == "pending"
    time.sleep(4)
    assert recorded(p, order_id) == {} and credit_memos(s, p, order_id) == [], "nothing until it settles"

    s.stripe.call_sim_post(f"refunds/{re['id']}/status", {"status": "succeeded"})
    wait_for_refund(p, order_id, re["id"])
    wait_until(lambda: credit_memos(s, p, order_id), 60, interval=1, what="the credit memo")

    s.stripe.call_sim_post(f"refunds/{re['id']}/status", {"status": "failed", "failure_reason": "lost_or_stolen_card"})
    reversal = wait_until(lambda: [m for m in credit_memos(s, p, order_id) if "reverses" in m["references"]], 60,
                          interval=1, what="the ERP reversal")
    assert lines(reversal[0]) == [("1150", "debit", Decimal("15.00")), ("4500", "credit", Decimal("15.00"))]
    notes = wait_until(lambda: [n for n in p.notes(order_id) if f"refund {re['id']} failed" in n["text"]], 30,
                       interval=1, what="the failure note")
    assert len(notes) == 1 and "lost_or_stolen_card" in notes[0]["text"]
    time.sleep(3)
    assert len(credit_memos(s, p, order_id)) == 2, "the credit memo and one reversal"
    if posts_sales_orders(s):
        # the sales credit memo is the ERP's document: voiding it is the ERP's call, so it goes to review
        review = wait_until(lambda: dead_letters_matching(s, lambda m: re["id"] in m["Body"] and "void the credit memo"
                                                          in m["MessageAttributes"]["failure_reason"]["StringValue"]),
                            60, interval=1, what="the credit memo sent to review")
        assert "lost_or_stolen_card" in review[0]["MessageAttributes"]["failure_reason"]["StringValue"]


# --- refunds made on the platform (Magento credit memos; Znode's returns are not collected yet) ---

def stripe_refunds_of(s, charge_id) -> list:
    return s.stripe.call("GET", "/v1/refunds", params={"charge": charge_id, "limit": 100}).json()["data"]


@pytest.mark.parametrize("currency,price,refunded", [("USD", "19.99", "7.50"), ("JPY", "2500", "5000"),
                                                     ("KWD", "6.170", "1.235")])
def test_a_refund_made_on_the_platform_is_refunded_in_stripe_once(stack, platform, currency, price, refunded):
    """Magento: a credit memo with no webhook (Open Source: the poll is the intake). Znode: an approved return."""
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency=currency, price=price)
    made = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": refunded, "notify": False})
    assert made.status_code == 201, made.text
    record = made.json()["id"]
    report = s.poll(p.name)
    assert report["refunds"]["enqueued"] >= 1, report
    sent = wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the Stripe refund")
    assert len(sent) == 1
    assert sent[0]["amount"] == minor(refunded, currency)
    assert sent[0]["metadata"]["tally_platform_record"] == f"{p.name}/{p.store}/{order_id}/refund/{record}"
    # the record now names its Stripe refund, and Stripe's webhooks do not make a second one
    shown = wait_until(lambda: recorded(p, order_id).get(sent[0]["id"]), 60, interval=1,
                       what=f"the {p.refund_record} naming it")
    assert shown["id"] == record and Decimal(str(shown["amount"])) == Decimal(refunded)
    memo_entry = wait_until(lambda: credit_memos(s, p, order_id), 60, interval=1, what="the ERP credit memo")
    assert lines(memo_entry[0]) == [("4500", "debit", Decimal(refunded)), ("1150", "credit", Decimal(refunded))]
    time.sleep(6)
    assert s.poll(p.name)["refunds"]["enqueued"] == 0 or p.name == "magento"
    time.sleep(3)
    assert len(p.summary(order_id)["refunds"]) == 1, f"no echo back to {p.title}"
    assert len(stripe_refunds_of(s, pi["latest_charge"])) == 1, "refunded once"
    assert len(credit_memos(s, p, order_id)) == 1


def test_two_partial_refunds_made_on_the_platform_add_up_to_the_order(stack, platform):
    """A line, then the rest by amount: two Stripe refunds, the charge fully refunded to the cent."""
    s, p = stack, platform
    items = [{"sku": "MUG", "name": "Mug", "qty": 2, "price": "7.25"}, {"sku": "TEE", "name": "Tee", "qty": 1, "price": "5.50"}]
    order_id = p.place_order(currency="USD", items=items)["id"]
    pi = wait_until(lambda: (s.payment_intents_for(order_id, p.name) or [None])[0], 60, interval=1, what="the PaymentIntent")
    assert pay(s, pi["id"]).status_code == 200
    wait_until(lambda: p.summary(order_id)["payment_state"] == "paid", 60, interval=1, what="the order paid")
    pi = s.stripe.call("GET", f"/v1/payment_intents/{pi['id']}").json()
    first = p.sim("POST", f"orders/{order_id}/refunds", json={"items": [{"sku": "MUG", "qty": 1}], "notify": False})
    assert first.status_code == 201, first.text
    s.poll(p.name)
    wait_until(lambda: len(stripe_refunds_of(s, pi["latest_charge"])) == 1, 60, interval=1, what="the first refund")
    rest = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "12.75", "notify": False})
    assert rest.status_code == 201, rest.text
    s.poll(p.name)
    wait_until(lambda: len(stripe_refunds_of(s, pi["latest_charge"])) == 2, 60, interval=1, what="the second refund")
    charge = s.stripe.call("GET", f"/v1/charges/{pi['latest_charge']}").json()
    assert (charge["amount_refunded"], charge["refunded"]) == (2000, True)
    wait_until(lambda: len(credit_memos(s, p, order_id)) == 2, 60, interval=1, what="two ERP credit memos")
    assert sorted(Decimal(str(e["lines"][0]["debit"])) for e in credit_memos(s, p, order_id)) == [Decimal("7.25"),
                                                                                                   Decimal("12.75")]
    wait_until(lambda: all(r["stripe_refund_id"] for r in p.summary(order_id)["refunds"]) and
               len(p.summary(order_id)["refunds"]) == 2, 60, interval=1, what="both records naming their refunds")


def test_a_refund_request_delivered_three_times_is_refunded_once(stack, platform):
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99")
    record = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "3.00", "notify": False}).json()["id"]
    hint = {"schema_version": 1, "source": p.name, "event_id": f"{p.name}/{p.store}/{order_id}/refund/{record}/requested",
            "event_type": "refund.requested", "received_at_ms": int(time.time() * 1000),
            "event": {"platform": p.name, "store": p.store, "order_id": order_id, "refund_id": record}}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: s.sqs.send_message(QueueUrl=s["PAYMENTS_QUEUE_URL"], MessageBody=json.dumps(hint)),
                      range(3)))
    s.poll(p.name)
    wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the Stripe refund")
    time.sleep(5)
    assert len(stripe_refunds_of(s, pi["latest_charge"])) == 1
    assert len(p.summary(order_id)["refunds"]) == 1


def test_a_refund_for_more_than_is_left_in_stripe_goes_to_review_once(stack, platform):
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99")
    s.stripe_sim_delivery(auto=False)  # a Dashboard refund the platform has not heard of yet
    try:
        refund(s, pi["id"], 3_000)
    finally:
        s.stripe_sim_delivery(auto=True)
    record = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "19.99", "notify": False}).json()["id"]
    s.poll(p.name)

    def dead_letters():
        return dead_letters_matching(s, lambda m: f"refund/{record}/requested" in m["Body"])

    message = wait_until(lambda: (dead_letters() or [None])[0], 60, interval=1, what="the refund sent to review")
    reason = message["MessageAttributes"]["failure_reason"]["StringValue"]
    assert "needs review" in reason and "only 9.98 USD is left" in reason, reason
    assert len(stripe_refunds_of(s, pi["latest_charge"])) == 1, "nothing refunded beyond the charge"
    # Znode's return stays approved and every poll reads it: it is left to the person, not dead-lettered again
    again = s.poll(p.name)["refunds"]
    if p.name == "znode":
        assert again["in_review"] >= 1 and again["enqueued"] == 0, again
    time.sleep(4)
    later = dead_letters()
    assert len(later) == 1, "one review per record"
    s.sqs.delete_message(QueueUrl=s["PAYMENTS_DLQ_URL"], ReceiptHandle=later[0]["ReceiptHandle"])


def test_a_return_approved_after_it_was_made_is_refunded_when_approved(stack):
    """Znode's returns wait in review, then are approved: the poll reads Znode's approved state each
    time (no modification filter to key on), so a late approval is not missed."""
    s, p = stack, stack.platforms["znode"]
    order_id, pi = place_and_pay(s, p, currency="JPY", price="2500")
    made = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "1200", "state": 30}).json()
    assert made["state"] == "In Review"
    assert s.poll("znode")["refunds"]["enqueued"] == 0
    time.sleep(3)
    assert stripe_refunds_of(s, pi["latest_charge"]) == []
    approved = p.sim("POST", f"returns/{made['id']}/state", json={"state": 70})
    assert approved.status_code == 200, approved.text
    assert s.poll("znode")["refunds"]["enqueued"] == 1
    sent = wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the Stripe refund")
    assert [r["amount"] for r in sent] == [1200]
    shown = wait_until(lambda: recorded(p, order_id).get(sent[0]["id"]), 60, interval=1, what="the return naming it")
    assert (shown["id"], shown["state"]) == (made["id"], "refunded")
    native = p.sim("GET", f"orders/{order_id}").json()["order"]
    assert native["PaymentStatus"] == "Captured", "partly refunded: still captured"


def test_a_credit_memo_saved_in_adobe_commerce_is_refunded_by_its_webhook(stack):
    """Adobe Commerce sends its signed credit memo webhook: no poll needed; the handler re-reads the record."""
    s, p = stack, stack.platforms["magento"]
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99")
    made = p.sim("POST", f"orders/{order_id}/refunds", json={"items": [{"sku": "TEE", "qty": 1}]}).json()
    assert made["webhooks"] == [200]
    sent = wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the Stripe refund")
    assert [r["amount"] for r in sent] == [1999]
    wait_until(lambda: recorded(p, order_id).get(sent[0]["id"]), 60, interval=1, what="the credit memo naming it")
    time.sleep(3)
    assert len(p.summary(order_id)["refunds"]) == 1


def test_a_return_tally_cannot_read_is_dead_lettered_once_and_the_others_go_on(stack):
    """A Znode return for an amount finer than its currency (a customised admin, a data fix): the
    scan reports it with the reason, once, and still refunds the other approved returns."""
    s, p = stack, stack.platforms["znode"]
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99")
    bad = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "1.005"}).json()["id"]
    good = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "2.00"}).json()["id"]
    first = s.poll("znode")["refunds"]
    assert first["dead_lettered"] >= 1 and first["enqueued"] >= 1, first

    def dead_letters():
        return dead_letters_matching(s, lambda m: f"refund/{bad}/requested" in m["Body"])

    message = wait_until(lambda: (dead_letters() or [None])[0], 30, interval=1, what="the unreadable return reported")
    reason = message["MessageAttributes"]["failure_reason"]["StringValue"]
    assert bad in reason and "TotalReturnAmount" in reason, reason
    sent = wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the readable one refunded")
    assert [r["amount"] for r in sent] == [200]
    wait_until(lambda: recorded(p, order_id).get(sent[0]["id"], {}).get("id") == good, 60, interval=1,
               what="the return naming it")
    again = s.poll("znode")["refunds"]
    assert again["dead_lettered"] == 0 and again["in_review"] >= 1, again
    time.sleep(2)
    later = dead_letters()
    assert len(later) == 1, "reported once"
    s.sqs.delete_message(QueueUrl=s["PAYMENTS_DLQ_URL"], ReceiptHandle=later[0]["ReceiptHandle"])


def test_a_failure_after_the_stripe_refund_does_not_refund_twice(stack, platform):
    """The platform refuses to take the Stripe refund id back (503s, fewer than the local stack's three
    deliveries) after Stripe made the refund: the message is retried, the refund made by the first
    attempt is not made again, and the record is named once the platform answers. (A crash before
    the first attempt recorded the refund, found again by its metadata, is a unit test.)"""
    s, p = stack, platform
    order_id, pi = place_and_pay(s, p, currency="KWD", price="6.170")
    record = p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "2.345", "notify": False}).json()["id"]
    route = p.refund_note_route(record)

    def faults():  # Znode's route names no record: its body does
        return [r for r in p.requests_log(path_contains=route.path)
                if r.get("fault") and record in r["path"] + json.dumps(r.get("body"))]

    p.fault(route, status=503, count=2)
    s.poll(p.name)
    sent = wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the Stripe refund")
    wait_until(lambda: recorded(p, order_id).get(sent[0]["id"], {}).get("id") == record, 90, interval=1,
               what=f"the {p.refund_record} naming it")
    assert len(faults()) == 2, faults()
    time.sleep(3)
    refunds = stripe_refunds_of(s, pi["latest_charge"])
    assert [r["amount"] for r in refunds] == [2345], "one refund, to the fils"
    assert len(credit_memos(s, p, order_id)) == 1
    assert len(p.summary(order_id)["refunds"]) == 1


def test_a_refund_arriving_before_its_payment_waits_for_it(stack, platform):
    """Stripe's events reordered: refund.created is delivered before payment_intent.succeeded. The
    refund is retried (not dead-lettered) until the payment is recorded, then recorded once."""
    s, p = stack, platform
    order_id = p.place_order(currency="USD", items=[{"sku": "TEE", "name": "Tee", "qty": 1, "price": "25.00"}])["id"]
    pi = wait_until(lambda: (s.payment_intents_for(order_id, p.name) or [None])[0], 60, interval=1, what="the PaymentIntent")
    s.stripe_sim_delivery(auto=False)
    try:
        assert pay(s, pi["id"]).status_code == 200
        re = refund(s, pi["id"], 500)
        events = {e["type"]: e for e in s.stripe.call("GET", "/v1/events", params={"limit": 20}).json()["data"]
                  if pi["id"] in (e["data"]["object"].get("id"), e["data"]["object"].get("payment_intent"))}

        def deliver(event):
            body = json.dumps(event, separators=(",", ":")).encode()
            assert post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))[0] == 200

        deliver(events["refund.created"])
        time.sleep(1)
        assert recorded(p, order_id) == {}
        deliver(events["payment_intent.succeeded"])
    finally:
        s.stripe_sim_delivery(auto=True)
    wait_for_refund(p, order_id, re["id"])
    wait_until(lambda: credit_memos(s, p, order_id), 60, interval=1, what="the ERP credit memo")
    assert p.summary(order_id)["payments"] and len(p.summary(order_id)["refunds"]) == 1


def test_an_adobe_commerce_return_closed_without_a_credit_memo_is_refunded_and_gets_one(stack):
    """A return (RMA) processed and closed with a Refund resolution and no credit memo: the refund poll
    finds it, Tally refunds the returned items' price in Stripe once, makes the offline credit memo the
    return did not, and comments on the return; the next poll leaves it alone."""
    s, p = stack, stack.platforms["magento"]
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99", qty=2)
    made = p.sim("POST", f"orders/{order_id}/returns", json={"items": [{"sku": "TEE", "qty": 1}]})
    assert made.status_code == 201, made.text
    first = s.poll("magento")["refunds"]
    assert first["enqueued"] >= 1, first
    sent = wait_until(lambda: stripe_refunds_of(s, pi["latest_charge"]), 60, interval=1, what="the Stripe refund")
    assert [r["amount"] for r in sent] == [1999]
    assert sent[0]["metadata"]["tally_platform_record"].endswith(f"/refund/rma-{made.json()['id']}")
    memo = wait_until(lambda: recorded(p, order_id).get(sent[0]["id"]), 60, interval=1,
                      what="the credit memo naming the refund")
    assert Decimal(str(memo["amount"])) == Decimal("19.99")
    returns = wait_until(lambda: [r for r in p.summary(order_id)["returns"] if r["stripe_refund_id"]], 60,
                         interval=1, what="the return naming the refund")
    assert returns[0]["stripe_refund_id"] == sent[0]["id"]
    wait_until(lambda: credit_memos(s, p, order_id), 60, interval=1, what="the ERP credit memo")
    again = s.poll("magento")["refunds"]
    time.sleep(3)
    assert stripe_refunds_of(s, pi["latest_charge"]) == sent, f"refunded once (second poll: {again})"
    assert len(p.summary(order_id)["refunds"]) == 1, "one credit memo"
    assert len(credit_memos(s, p, order_id)) == 1
