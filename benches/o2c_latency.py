"""Order-to-cash on the local stack, per platform: end-to-end latency and the
payments handler's CPU per order.

Latency: from a signed `payment_intent.succeeded` posted to Tally's Stripe webhook
URL until the platform simulator shows the order paid (webhook Lambda -> SQS ->
event source mapping -> payments handler -> Stripe/platform/ERP simulators).
Automatic delivery from the Stripe simulator is paused so the clock starts at our
own POST.

CPU: ministack runs the Lambda binaries as host processes, so the payments
handler's user+system CPU time (/proc/<pid>/stat, every worker of the main
stack's handler) is read before and after the measured orders; divided by the
orders, it is the handler's CPU for one order's two messages (the platform's
order event, and the payment event), its HTTP clients and JSON included. The
local build is opt-level 1 without LTO (scripts/up.sh), so a release build for
AWS uses less.

Run after `make up`:  .venv/bin/python benches/o2c_latency.py 200 magento
                      .venv/bin/python benches/o2c_latency.py 200 znode"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from tally_local import LocalStack, post, sign, wait_until  # noqa: E402

RETURN_URL = "https://shop.example.com/checkout/return"
TICKS = os.sysconf("SC_CLK_TCK")


def function_processes(function_name: str):
    """The /proc directory of every live process running this Lambda function."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode() in environ:
            yield Path(f"/proc/{pid}")


def handler_cpu_seconds(function_name: str) -> float:
    """User+system CPU of every live process running this Lambda function."""
    total = 0
    for proc in function_processes(function_name):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / TICKS


def one_order(s: LocalStack, p) -> float:
    order = p.place_order(currency="USD", items=[{"sku": "B", "name": "Bench", "qty": 1, "price": "10.00"}])
    oid = order["id"]
    pi = wait_until(lambda: (s.payment_intents_for(oid, p.name) or [None])[0], 30, 0.02, "PaymentIntent")
    r = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm",
                      {"payment_method": "pm_card_visa", "return_url": RETURN_URL})
    assert r.status_code == 200, r.text
    events = s.stripe.call("GET", "/v1/events", params={"type": "payment_intent.succeeded", "limit": 10}).json()["data"]
    event = next(e for e in events if e["data"]["object"]["id"] == pi["id"])
    body = json.dumps(event, separators=(",", ":")).encode()
    started = time.perf_counter()
    status, _ = post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))
    assert status == 200
    wait_until(lambda: p.summary(oid)["payment_state"] == "paid", 30, 0.005, "the order paid")
    return (time.perf_counter() - started) * 1000


def main(n: int, platform: str) -> None:
    s = LocalStack()
    p = s.platforms[platform]
    handler = s["PAYMENTS_HANDLER_FUNCTION"]
    s.stripe_sim_delivery(auto=False)
    try:
        one_order(s, p)  # warm the functions
        time.sleep(1)
        cpu_before = handler_cpu_seconds(handler)
        samples = sorted(one_order(s, p) for _ in range(n))
        time.sleep(1)  # let the last message's tail finish
        cpu = handler_cpu_seconds(handler) - cpu_before
    finally:
        s.stripe_sim_delivery(auto=True)
    q = statistics.quantiles(samples, n=100)
    print(f"platform={platform} orders={n} p50={q[49]:.0f} ms p95={q[94]:.0f} ms min={samples[0]:.0f} ms "
          f"max={samples[-1]:.0f} ms handler_cpu_per_order={cpu / n * 1000:.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, sys.argv[2] if len(sys.argv) > 2 else "magento")
