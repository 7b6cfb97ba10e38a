"""Refunds made in Stripe on the local stack, per platform: end-to-end latency and
the payments handler's CPU per refund.

For each of N paid orders, a refund is created in the Stripe simulator with automatic
webhook delivery paused; the clock starts when its signed `refund.created` is posted to
Tally's Stripe webhook URL and stops when the platform simulator's `summary.refunds`
names the Stripe refund (webhook Lambda -> SQS -> payments handler: re-read the refund,
its PaymentIntent and the order, the platform's records, write the refund record, post
the ERP credit memo). CPU: the payments handler's user+system time read from /proc
before and after the measured refunds (see o2c_latency.py), divided by the refunds.

Run after `make up`:  .venv/bin/python benches/refund_latency.py 100 magento"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from o2c_latency import handler_cpu_seconds  # noqa: E402
from tally_local import LocalStack, post, sign, wait_until  # noqa: E402

RETURN_URL = "https://shop.example.com/checkout/return"


def paid_order(s: LocalStack, p) -> tuple[str, str]:
    order = p.place_order(currency="USD", items=[{"sku": "B", "name": "Bench", "qty": 1, "price": "10.00"}])
    pi = wait_until(lambda: (s.payment_intents_for(order["id"], p.name) or [None])[0], 30, 0.02, "PaymentIntent")
    r = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm",
                      {"payment_method": "pm_card_visa", "return_url": RETURN_URL})
    assert r.status_code == 200, r.text
    wait_until(lambda: p.summary(order["id"])["payment_state"] == "paid", 30, 0.02, "the order paid")
    return order["id"], pi["id"]


def one_refund(s: LocalStack, p, order_id: str, pi_id: str) -> float:
    refund = s.stripe.call("POST", "/v1/refunds", {"payment_intent": pi_id, "amount": 300}).json()
    events = s.stripe.call("GET", "/v1/events", params={"type": "refund.created", "limit": 10}).json()["data"]
    event = next(e for e in events if e["data"]["object"]["id"] == refund["id"])
    body = json.dumps(event, separators=(",", ":")).encode()
    started = time.perf_counter()
    status, _ = post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))
    assert status == 200
    wait_until(lambda: any(r.get("stripe_refund_id") == refund["id"] for r in p.summary(order_id)["refunds"]),
               30, 0.005, "the refund recorded")
    return (time.perf_counter() - started) * 1000


def main(n: int, platform: str) -> None:
    s = LocalStack()
    p = s.platforms[platform]
    orders = [paid_order(s, p) for _ in range(n + 1)]
    time.sleep(2)
    s.stripe_sim_delivery(auto=False)
    try:
        one_refund(s, p, *orders[0])  # warm
        time.sleep(1)
        before = handler_cpu_seconds(s["PAYMENTS_HANDLER_FUNCTION"])
        samples = sorted(one_refund(s, p, *o) for o in orders[1:])
        time.sleep(1)
        cpu = handler_cpu_seconds(s["PAYMENTS_HANDLER_FUNCTION"]) - before
    finally:
        s.stripe_sim_delivery(auto=True)
    q = statistics.quantiles(samples, n=100)
    print(f"platform={platform} refunds={n} p50={q[49]:.0f} ms p95={q[94]:.0f} ms min={samples[0]:.0f} ms "
          f"max={samples[-1]:.0f} ms handler_cpu_per_refund={cpu / n * 1000:.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100, sys.argv[2] if len(sys.argv) > 2 else "magento")
