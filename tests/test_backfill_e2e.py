"""Backfill end to end on the deployed local stack: events Stripe has but never delivered (the
Stripe simulator's webhook delivery turned off, as during an outage of the webhook URL or with a
wrong signing secret) are read back from Stripe's API by the backfill function and processed once;
a second backfill enqueues none."""

import time

from e2e import assert_one_balanced_entry, pay, wait_for_payment_intent, wait_for_payment_state
from tally_local import wait_until


def routed_events_since(s, since: int, pi_ids: set) -> list:
    events = s.stripe.call("GET", "/v1/events", params={"limit": 100, "created[gte]": since}).json()["data"]
    return [e for e in events if e["data"]["object"].get("id") in pi_ids
            or e["data"]["object"].get("payment_intent") in pi_ids]


def test_events_no_webhook_delivered_are_backfilled_once(stack):
    s, p = stack, stack.platforms["magento"]
    since = int(time.time()) - 5
    orders = [p.place_order(currency=c, items=[{"sku": "B", "name": "Book", "qty": 1, "price": price}])["id"]
              for c, price in (("USD", "21.00"), ("JPY", "1500"))]
    pis = {o: wait_for_payment_intent(s, p, o) for o in orders}
    s.stripe_sim_delivery(auto=False)  # the webhook endpoint is down: Stripe keeps the events
    try:
        for pi in pis.values():
            assert pay(s, pi["id"]).status_code == 200
        time.sleep(3)
        for o in orders:
            assert p.summary(o)["payment_state"] == "awaiting", "no webhook, nothing recorded yet"
        missed = routed_events_since(s, since, {pi["id"] for pi in pis.values()})
        assert {e["type"] for e in missed} >= {"payment_intent.succeeded", "charge.succeeded"}

        dry = s.backfill(since_secs=since, min_age_secs=0, dry_run=True)
        assert dry["recovered"] >= len([e for e in missed if e["type"] != "payment_intent.created"]), dry
        time.sleep(2)
        assert all(p.summary(o)["payment_state"] == "awaiting" for o in orders), "a dry run changes nothing"

        report = s.backfill(since_secs=since, min_age_secs=0)
        assert report["recovered"] >= 4 and not report["truncated"], report
        recovered = set(report["recovered_ids"])
        assert {e["id"] for e in missed if e["type"] in ("payment_intent.succeeded", "charge.succeeded")} <= recovered
        for o in orders:
            wait_for_payment_state(p, o, "paid")
        assert_one_balanced_entry(s, p, orders[0], "21.00", "USD", pis[orders[0]]["id"])
        assert_one_balanced_entry(s, p, orders[1], "1500", "JPY", pis[orders[1]]["id"])

        # once processed (journaled), nothing is enqueued again, and nothing is done twice
        def settled():
            again = s.backfill(since_secs=since, min_age_secs=0)
            return again if again["recovered"] == 0 else None

        again = wait_until(settled, 30, interval=2, what="a backfill that recovers nothing")
        assert again["already_journaled"] >= report["recovered"], again
        for o in orders:
            assert len(p.summary(o)["payments"]) == 1
    finally:
        s.stripe_sim_delivery(auto=True)


def test_recent_events_are_left_to_their_webhook(stack):
    """The scheduled run skips events younger than its minimum age (they may be in a queue)."""
    s = stack
    report = s.backfill(since_secs=int(time.time()) - 120, min_age_secs=3600, dry_run=True)
    assert report["recovered"] == 0 and report["too_recent"] == report["listed"] - report["already_journaled"], report
