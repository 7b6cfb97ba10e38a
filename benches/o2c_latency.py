"""End-to-end latency on the local stack: from a signed `payment_intent.succeeded`
posted to Tally's Stripe webhook URL until the Magento invoice is visible in the
simulator (webhook Lambda -> SQS -> event source mapping -> payments handler ->
Stripe/Magento/ERP simulators). Automatic delivery from the Stripe simulator is
paused so the clock starts at our own POST.
Run after `make up`:  .venv/bin/python benches/o2c_latency.py 200"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from tally_local import LocalStack, post, sign, wait_until  # noqa: E402

RETURN_URL = "https://shop.example.com/checkout/return"


def one_order(s: LocalStack) -> float:
    order = s.magento.place_order(currency="USD", items=[{"sku": "B", "name": "Bench", "qty": 1, "price": "10.00"}])
    oid = order["entity_id"]
    pi = wait_until(lambda: (s.payment_intents_for(oid) or [None])[0], 30, 0.02, "PaymentIntent")
    r = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm",
                      {"payment_method": "pm_card_visa", "return_url": RETURN_URL})
    assert r.status_code == 200, r.text
    events = s.stripe.call("GET", "/v1/events", params={"type": "payment_intent.succeeded", "limit": 10}).json()["data"]
    event = next(e for e in events if e["data"]["object"]["id"] == pi["id"])
    body = json.dumps(event, separators=(",", ":")).encode()
    started = time.perf_counter()
    status, _ = post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))
    assert status == 200
    wait_until(lambda: s.magento.order(oid)["invoices"], 30, 0.005, "invoice")
    return (time.perf_counter() - started) * 1000


def main(n: int) -> None:
    s = LocalStack()
    s.stripe_sim_delivery(auto=False)
    try:
        one_order(s)  # warm the functions
        samples = sorted(one_order(s) for _ in range(n))
    finally:
        s.stripe_sim_delivery(auto=True)
    q = statistics.quantiles(samples, n=100)
    print(f"orders={n} p50={q[49]:.0f} ms p95={q[94]:.0f} ms min={samples[0]:.0f} ms max={samples[-1]:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
