"""The books end to end, once per ERP the local stacks post to: the ERP simulator (the main stack) and Tryton, a
real ledger (the `tryton_stack`). The same orders, refunds and deliveries, read back from each ERP as postings
(each a balanced set of lines, {account code: debit - credit}) under Tally's keys: in Tryton, posted moves read
over its own JSON-RPC, so Tryton's arithmetic, not ours, says what was booked."""

import concurrent.futures
import json
import random
import time
from decimal import Decimal

import pytest

from e2e import pay, place_and_pay, wait_for_payment_intent, wait_for_payment_state
from tally_local import post, sign, wait_until
from tryton_client import Ledger


class SimulatorBooks:
    """The ERP simulator's entries as postings."""

    def __init__(self, s):
        self.erp = s.erp

    def postings(self, text: str) -> list[dict]:
        found = []
        for entry in self.erp.entries():
            if text in entry["idempotency_key"]:
                lines: dict[str, Decimal] = {}
                for line in entry["lines"]:
                    signed = Decimal(line.get("debit") or 0) - Decimal(line.get("credit") or 0)
                    lines[line["account"]] = lines.get(line["account"], Decimal(0)) + signed
                found.append({"key": entry["idempotency_key"], "final": True, "lines": lines})
        return found


class TrytonBooks:
    """Tryton's moves as postings: a move's key is the bracketed end of its description."""

    def __init__(self, s):
        self.ledger = Ledger(s)

    def postings(self, text: str) -> list[dict]:
        found = []
        for move in self.ledger.moves(text):
            description = move["description"]
            key = description[description.rindex("[") + 1:-1]
            if text in key:
                found.append({"key": key, "final": move["state"] == "posted", "lines": move["lines"]})
        return found


@pytest.fixture(params=["erp-simulator", "tryton"])
def books(request):
    if request.param == "tryton":
        s = request.getfixturevalue("tryton_stack")
        return s, TrytonBooks(s)
    s = request.getfixturevalue("stack")
    return s, SimulatorBooks(s)


def order_prefix(p, order_id) -> str:
    """What every journal key of one order starts with (its payment's, its refunds' and their reversals')."""
    return f"tally-{p.name}-{p.store}-{order_id}-"


def wait_for_postings(ledger, text, count, what):
    """At least `count` postings under `text`, all final: Tryton's move is made, then posted, in two calls, and a
    read between them sees a draft (the CI run of c49a4c5 did)."""
    return wait_until(lambda: (lambda found: found if len(found) >= count and all(x["final"] for x in found)
                               else None)(ledger.postings(text)), 60, interval=1, what=what)


def net(postings) -> dict:
    total: dict[str, Decimal] = {}
    for posting in postings:
        for account, amount in posting["lines"].items():
            total[account] = total.get(account, Decimal(0)) + amount
    return {account: amount for account, amount in total.items() if amount}


def refund(s, pi_id, amount=None) -> dict:
    r = s.stripe.call("POST", "/v1/refunds", {"payment_intent": pi_id, **({"amount": amount} if amount else {})})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_paid_order_is_one_final_posting_however_often_its_events_arrive(books):
    s, ledger = books
    p = s.magento
    order_id, pi = place_and_pay(s, p, currency="USD", price="12.50", qty=2)
    key = f"{order_prefix(p, order_id)}payment-{pi['latest_charge']}"
    posted = wait_for_postings(ledger, key, 1, "the payment's posting")
    assert [(x["final"], x["lines"]) for x in posted] == [(True, {"1150": Decimal("25.00"),
                                                                  "1200": Decimal("-25.00")})]
    events = [e for e in s.stripe.call("GET", "/v1/events", params={"limit": 100}).json()["data"]
              if pi["id"] in (e["data"]["object"].get("id"), e["data"]["object"].get("payment_intent"))]
    assert events, "the PaymentIntent's events"
    deliveries = [json.dumps(e, separators=(",", ":")).encode() for e in events] * 3
    random.shuffle(deliveries)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda body: post(s["STRIPE_WEBHOOK_URL"], body,
                                                  sign(body, s["STRIPE_WEBHOOK_SECRET"]))[0], deliveries))
    assert set(answers) == {200}
    time.sleep(5)
    assert len(ledger.postings(key)) == 1, "every event three times, shuffled: booked once"
    assert net(ledger.postings(order_prefix(p, order_id))) == {"1150": Decimal("25.00"), "1200": Decimal("-25.00")}


def test_partial_refunds_and_the_rest_are_a_posting_each_and_add_up_to_the_order(books):
    s, ledger = books
    p = s.magento
    order_id, pi = place_and_pay(s, p, currency="USD", price="12.50", qty=2)
    made = [refund(s, pi["id"], 500), refund(s, pi["id"], 700), refund(s, pi["id"])]
    for r, amount in zip(made, ["5.00", "7.00", "13.00"]):
        posted = wait_for_postings(ledger, r["id"], 1, f"refund {r['id']}'s posting")
        assert [(x["final"], x["lines"]) for x in posted] == [(True, {"4500": Decimal(amount),
                                                                      "1150": Decimal(f"-{amount}")})]
    assert net(ledger.postings(order_prefix(p, order_id))) == {"1200": Decimal("-25.00"), "4500": Decimal("25.00")}, \
        "all refunded: Stripe clearing is back where it was"


def test_a_refund_that_fails_after_it_was_posted_is_reversed_once(books):
    s, ledger = books
    p = s.magento
    order_id, pi = place_and_pay(s, p, currency="USD", price="19.99", qty=1)
    s.stripe.call_sim_post("refunds/next", {"status": "pending"})
    re = refund(s, pi["id"], 1_500)
    time.sleep(4)
    assert ledger.postings(re["id"]) == [], "nothing until it settles"
    s.stripe.call_sim_post(f"refunds/{re['id']}/status", {"status": "succeeded"})
    wait_for_postings(ledger, re["id"], 1, "the refund's posting")
    s.stripe.call_sim_post(f"refunds/{re['id']}/status", {"status": "failed", "failure_reason": "lost_or_stolen_card"})
    both = wait_for_postings(ledger, re["id"], 2, "its reversal")
    reversal = [x for x in both if x["key"].endswith("-reversal")]
    assert [(x["final"], x["lines"]) for x in reversal] == [(True, {"1150": Decimal("15.00"),
                                                                    "4500": Decimal("-15.00")})]
    time.sleep(3)
    assert len(ledger.postings(re["id"])) == 2 and net(ledger.postings(re["id"])) == {}


def test_a_credit_memo_made_in_magento_is_one_stripe_refund_and_one_posting(books):
    s, ledger = books
    p = s.magento
    order_id, pi = place_and_pay(s, p, currency="USD", price="30.00", qty=1)
    assert p.sim("POST", f"orders/{order_id}/refunds", json={"amount": "7.50", "notify": False}).status_code == 201
    s.poll(p.name)
    charge = pi["latest_charge"]
    sent = wait_until(lambda: s.stripe.call("GET", "/v1/refunds", params={"charge": charge}).json()["data"] or None,
                      60, interval=1, what="the Stripe refund")
    assert [r["amount"] for r in sent] == [750]
    posted = wait_for_postings(ledger, sent[0]["id"], 1, "the refund's posting")
    assert [x["lines"] for x in posted] == [{"4500": Decimal("7.50"), "1150": Decimal("-7.50")}]
    s.poll(p.name)
    time.sleep(4)
    assert len(s.stripe.call("GET", "/v1/refunds", params={"charge": charge}).json()["data"]) == 1
    assert len(ledger.postings(sent[0]["id"])) == 1


def test_a_declined_payment_books_nothing(books):
    s, ledger = books
    p = s.magento
    order_id = p.place_order(currency="USD", items=[{"sku": "NOPE", "name": "Nope", "qty": 1, "price": "11.00"}])["id"]
    pi = wait_for_payment_intent(s, p, order_id)
    pay(s, pi["id"], "pm_card_chargeDeclinedInsufficientFunds")
    wait_for_payment_state(p, order_id, "failed", timeout=60)
    time.sleep(4)
    assert ledger.postings(order_prefix(p, order_id)) == []
