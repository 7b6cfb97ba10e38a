"""Payout reconciliation on the local stack: time and memory for payouts of N transactions.

For each size N: N PaymentIntents naming Tally orders are paid in the Stripe simulator (their own
webhooks held back and discarded: they are not what is measured), then `POST /_sim/payouts` sweeps
them into one automatic payout and sends its events. The clock runs from the payout's creation
until its report says `posted` (stripe-webhook -> payouts queue -> payouts handler: re-read the
payout, page its balance transactions 100 at a time, read each one's PaymentIntent, save each
page's lines and the ledger, continue in further invocations when one runs short, check the
invariant, post the GL entry). CPU: the payouts handler's user+system time from /proc before and
after; memory: the handler processes' peak resident set (VmHWM), read from /proc.

Run after `make up`:  .venv/bin/python benches/payout_latency.py 1000 10000"""

import concurrent.futures
import json
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from o2c_latency import function_processes, handler_cpu_seconds  # noqa: E402
from tally_local import LocalStack, wait_until  # noqa: E402

RETURN_URL = "https://shop.example.com/checkout/return"


def peak_rss_kb(function_name: str) -> int:
    peak = 0
    for proc in function_processes(function_name):
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return peak


def ledger(s: LocalStack, payout_id: str):
    item = s.dynamodb.get_item(TableName=s["PAYOUT_REPORTS_TABLE"], ConsistentRead=True,
                               Key={"payout": {"S": payout_id}, "part": {"S": "ledger"}}).get("Item")
    return json.loads(item["ledger"]["S"]) if item else None


def payout(s: LocalStack, currency: str) -> requests.Response:
    return requests.post(f"{s.stripe.base}/_sim/payouts", json={"currency": currency}, timeout=600)


def run(s: LocalStack, n: int, currency: str = "gbp") -> None:
    function = s["PAYOUTS_HANDLER_FUNCTION"]
    old = payout(s, currency)
    if old.status_code == 200:
        wait_until(lambda: (l := ledger(s, old.json()["id"])) and l["status"]["state"] == "posted", 900, 1, "drain")
    requests.post(f"{s.stripe.base}/_sim/delivery", json={"auto": False}, timeout=10).raise_for_status()
    try:
        def charge(i):
            r = s.stripe.call("POST", "/v1/payment_intents", {
                "amount": 1_000 + i % 500, "currency": currency, "payment_method": "pm_card_visa",
                "confirm": "true", "return_url": RETURN_URL, "metadata[platform]": "magento",
                "metadata[store]": "default", "metadata[order_id]": f"bench-{n}-{i}"})
            assert r.status_code == 200, r.text
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(charge, range(n)))
    finally:
        requests.post(f"{s.stripe.base}/_sim/delivery", json={"auto": True, "flush": False}, timeout=10)
    cpu = handler_cpu_seconds(function)
    started = time.perf_counter()
    po = payout(s, currency).json()
    done = wait_until(lambda: (l := ledger(s, po["id"])) and l["status"]["state"] == "posted" and l, 1800, 0.2,
                      "the payout posted")
    elapsed = time.perf_counter() - started
    cpu = handler_cpu_seconds(function) - cpu
    print(f"payout of {done['transactions']} transactions ({done['pages']} pages, {done['invocations']} invocations): "
          f"posted in {elapsed:.1f} s, "
          f"handler CPU {cpu:.2f} s, handler peak RSS {peak_rss_kb(function) / 1024:.1f} MB")


if __name__ == "__main__":
    stack = LocalStack()
    for size in map(int, sys.argv[1:] or ["1000"]):
        run(stack, size)
