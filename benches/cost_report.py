"""`make cost`: what one order costs in AWS through the whole order-to-cash, counted on
the local stack and priced at AWS's public list prices (us-east-1, arm64, on-demand).

Counted, not estimated, on ministack:
- every AWS API call Tally's functions make: ministack's CloudTrail recording (turned on
  here) keeps each call with its parameters; the functions' calls are those signed by
  aws-sdk-rust. DynamoDB request units are computed per call the way DynamoDB bills them
  (writes per started KB of the item, failed conditional writes included; strongly
  consistent reads per started 4 KB, a missing item still one unit), from the written
  item or the item read back afterwards;
- Lambda invocations, billed duration and memory: the REPORT line of every invocation
  in the functions' log groups; log bytes ingested: every line there, with CloudWatch's
  26 bytes of overhead per event.
Modelled, because the emulator polls SQS for the event source mapping internally: each
message a handler takes costs one ReceiveMessage and one DeleteMessage share (a batch of
one at this rate). Durations are this machine's, from a local build at opt-level 1.

Each order: the platform's order webhook, Tally's PaymentIntent, the customer paying,
Stripe's events delivered to Tally's endpoint with exactly the types Tally routes (as
`tally webhooks setup` registers them), the order paid and the ERP entry posted.
Fixed monthly costs (scheduled pollers and backfill while idle, secrets, alarms, the
dashboard) are reported apart from the per-order figure.

Run after `make up`:  .venv/bin/python benches/cost_report.py 20 magento"""

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from tally_local import LocalStack, wait_until  # noqa: E402

PRICES_AS_OF = "2026-11-27"
# AWS list prices, us-east-1, beyond free tiers. Sources: aws.amazon.com/lambda/pricing (Arm),
# /dynamodb/pricing/on-demand (after the November 2024 cut), /sqs/pricing (standard queues),
# /secrets-manager/pricing, /cloudwatch/pricing (Logs standard ingestion, alarms, dashboards).
PRICE = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "secrets_api_call": 0.05 / 1e4,
    "logs_ingested_gb": 0.50,
    "secret_month": 0.40,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
}
LOG_EVENT_OVERHEAD = 26  # bytes CloudWatch Logs bills per event on top of its message
SDK_AGENT = "aws-sdk-rust"
RETURN_URL = "https://shop.example.com/checkout/return"
MONTH_MINUTES = 30 * 24 * 60


def item_size(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values (docs: Item sizes and formats)."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(v: dict) -> int:
    (kind, x), = v.items()
    if kind in ("S", "B"):
        return len(x.encode() if isinstance(x, str) else x)
    if kind == "N":
        digits = len(x.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(val) + 1 for k, val in x.items())
    if kind == "L":
        return 3 + sum(value_size(val) + 1 for val in x)
    if kind in ("SS", "BS"):
        return sum(len(e.encode() if isinstance(e, str) else e) for e in x)
    if kind == "NS":
        return sum(value_size({"N": e}) for e in x)
    raise ValueError(f"unknown DynamoDB type {kind}")


class Recorder:
    """The emulator's CloudTrail and the functions' log groups over a time window."""

    def __init__(self, s: LocalStack):
        self.s = s
        env = s.env
        session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                        region_name=env["AWS_REGION"])
        client = lambda name: session.client(name, endpoint_url=env["AWS_ENDPOINT_URL"])  # noqa: E731
        self.cloudtrail, self.logs, self.cfn = client("cloudtrail"), client("logs"), client("cloudformation")
        self.cloudwatch = client("cloudwatch")
        r = requests.post(f"{env['AWS_ENDPOINT_URL']}/_ministack/config",
                          json={"cloudtrail._recording_enabled": "true"}, timeout=10)
        if r.status_code != 200 or not r.json().get("applied"):
            raise SystemExit("make cost counts calls with ministack's CloudTrail recording; this emulator has none")
        resources = self.cfn.describe_stack_resources(StackName=env["TALLY_STACK_NAME"])["StackResources"]
        self.functions, self.log_groups = {}, {}
        for res in resources:
            if res["ResourceType"] == "AWS::Lambda::Function":
                name = res["PhysicalResourceId"]
                config = s.lambda_.get_function_configuration(FunctionName=name)
                self.functions[name] = config["MemorySize"]
                self.log_groups[name] = config.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{name}")
        self.resource_counts = Counter(res["ResourceType"] for res in resources)

    def calls(self, start: float, end: float) -> list[dict]:
        """Every API call the functions made in [start, end], oldest first."""
        seen, out, upper = set(), [], end
        while True:
            page = self.cloudtrail.lookup_events(StartTime=start, EndTime=upper, MaxResults=50)["Events"]
            fresh = [e for e in page if e["EventId"] not in seen]
            if not fresh:
                break
            for e in fresh:
                seen.add(e["EventId"])
                detail = json.loads(e["CloudTrailEvent"])
                if SDK_AGENT in (detail.get("userAgent") or ""):
                    out.append({"source": e["EventSource"].split(".")[0], "name": e["EventName"],
                                "params": detail.get("requestParameters") or {}})
            upper = min(e["EventTime"] for e in page).timestamp()
        return out[::-1]

    def invocations(self, start: float, end: float) -> dict:
        """Per function: invocations, billed ms, log events and bytes in [start, end]."""
        out = {}
        for name in self.functions:
            report = {"invocations": 0, "billed_ms": 0, "log_events": 0, "log_bytes": 0}
            kwargs = {"logGroupName": self.log_groups[name], "startTime": int(start * 1000),
                      "endTime": int(end * 1000) + 1}
            try:
                while True:
                    page = self.logs.filter_log_events(**kwargs)
                    for ev in page["events"]:
                        msg = ev["message"]
                        report["log_events"] += 1
                        report["log_bytes"] += len(msg.encode()) + LOG_EVENT_OVERHEAD
                        if msg.startswith("REPORT RequestId:"):
                            report["invocations"] += 1
                            billed = msg.split("Billed Duration: ", 1)[1].split(" ms", 1)[0]
                            report["billed_ms"] += math.ceil(float(billed))
                    if not page.get("nextToken") or not page["events"]:
                        break
                    kwargs["nextToken"] = page["nextToken"]
            except self.logs.exceptions.ResourceNotFoundException:
                pass
            out[name] = report
        return out


def request_units(s: LocalStack, calls: list[dict]) -> tuple[float, float]:
    """DynamoDB (write units, read units) of these calls."""
    items = {}

    def current(table, key):
        k = (table, json.dumps(key, sort_keys=True))
        if k not in items:
            items[k] = s.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return items[k]

    writes = reads = 0.0
    for c in calls:
        if c["source"] != "dynamodb":
            continue
        p, name = c["params"], c["name"]
        if name == "PutItem":
            writes += max(1, math.ceil(item_size(p["Item"]) / 1024))
        elif name in ("UpdateItem", "DeleteItem"):
            after = current(p["TableName"], p["Key"]) or p["Key"]
            writes += max(1, math.ceil(item_size(after) / 1024))
        elif name == "GetItem":
            found = current(p["TableName"], p["Key"])
            units = max(1, math.ceil(item_size(found or {}) / 4096))
            reads += units if p.get("ConsistentRead") else units / 2
        elif name == "BatchGetItem":
            for table, spec in p["RequestItems"].items():
                for key in spec["Keys"]:
                    found = current(table, key)
                    units = max(1, math.ceil(item_size(found or {}) / 4096))
                    reads += units if spec.get("ConsistentRead") else units / 2
        elif name == "Query":
            reads += 1  # single-item queries here; a 4 KB page at most
        else:
            raise SystemExit(f"price DynamoDB {name} before counting it")
    return writes, reads


def price(calls: list[dict], runs: dict, functions: dict, writes: float, reads: float,
          messages_handled: int) -> dict:
    """Dollar cost by component of what was counted."""
    by = Counter(c["source"] for c in calls)
    gb_seconds = sum(r["billed_ms"] / 1000 * functions[name] / 1024 for name, r in runs.items())
    invocations = sum(r["invocations"] for r in runs.values())
    log_bytes = sum(r["log_bytes"] for r in runs.values())
    sqs_requests = by["sqs"] + 2 * messages_handled
    return {
        "lambda_requests": (invocations, invocations * PRICE["lambda_request"]),
        "lambda_gb_seconds": (gb_seconds, gb_seconds * PRICE["lambda_gb_second_arm64"]),
        "dynamodb_write_units": (writes, writes * PRICE["dynamodb_write_unit"]),
        "dynamodb_read_units": (reads, reads * PRICE["dynamodb_read_unit"]),
        "sqs_requests": (sqs_requests, sqs_requests * PRICE["sqs_request"]),
        "secrets_manager_calls": (by["secretsmanager"], by["secretsmanager"] * PRICE["secrets_api_call"]),
        "log_bytes": (log_bytes, log_bytes / 1e9 * PRICE["logs_ingested_gb"]),
    }


def routed_stripe_types(s: LocalStack) -> list[str]:
    """The types `tally webhooks setup` subscribes (routing.rs), as its dry run lists them."""
    out = subprocess.run([str(ROOT / "target/debug/tally"), "--json", "webhooks", "setup", "--dry-run",
                          "--url", "https://example.invalid/tally"], capture_output=True, text=True,
                         env={**os.environ, **s.env})
    if out.returncode != 0:
        raise SystemExit(f"tally webhooks setup --dry-run failed: {out.stderr}")
    return json.loads(out.stdout)["enabled_events"]


def one_order(s: LocalStack, p, i: int) -> str:
    order = p.place_order(currency="USD", items=[{"sku": f"C{i}", "name": "Cost", "qty": 1, "price": "10.00"}])
    oid = order["id"]
    pi = wait_until(lambda: (s.payment_intents_for(oid, p.name) or [None])[0], 30, 0.05, "PaymentIntent")
    r = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm",
                      {"payment_method": "pm_card_visa", "return_url": RETURN_URL})
    assert r.status_code == 200, r.text
    return oid


def settle(rec: Recorder, start: float, quiet_secs: float = 4.0) -> float:
    """Waits until the functions have made no AWS call for `quiet_secs`; the end of the window."""
    last, count = time.time(), -1
    while True:
        n = len(rec.calls(start, time.time()))
        if n != count:
            count, last = n, time.time()
        elif time.time() - last >= quiet_secs:
            return last
        time.sleep(0.5)


def wait_for_quiet(rec: Recorder, quiet_secs: float = 5.0, timeout: float = 120.0) -> None:
    """Starts only once no function has made an AWS call for `quiet_secs`: what earlier
    tests left retrying would otherwise be counted as the orders' own."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not rec.calls(time.time() - quiet_secs, time.time()):
            return
        time.sleep(1)
    raise SystemExit(f"the stack is still busy after {timeout:.0f} s (retries left by earlier runs?): "
                     "`tally status` shows what; `make down && make up` starts clean")


def measure(rec: Recorder, s: LocalStack, drive) -> dict:
    start = time.time()
    units = drive()
    end = settle(rec, start)
    calls = rec.calls(start, end)
    runs = rec.invocations(start, end)
    writes, reads = request_units(s, calls)
    handled = sum(1 for c in calls if c["name"] == "SendMessage")
    return {"units": units, "calls": calls, "runs": runs, "writes": writes, "reads": reads,
            "cost": price(calls, runs, rec.functions, writes, reads, handled)}


def short(name: str) -> str:
    return name.split("-")[-2].removesuffix("Function")


def main(n: int, platform: str) -> None:
    s = LocalStack()
    p = s.platforms[platform]
    rec = Recorder(s)
    types = routed_stripe_types(s)
    register = lambda events: requests.post(  # noqa: E731
        f"{s.stripe.base}/_config/webhooks/tally",
        data={"url": s["STRIPE_WEBHOOK_URL"], "secret": s["STRIPE_WEBHOOK_SECRET"],
              **({"events": ",".join(events)} if events else {})}, timeout=10).raise_for_status()
    register(types)
    try:
        # Warm the functions (a second worker too, for the concurrent events of one payment):
        # a cold start's secret reads are a per-container cost, not a per-order one.
        for oid in [one_order(s, p, i) for i in range(5)]:
            wait_until(lambda: p.summary(oid)["payment_state"] == "paid", 60, 0.2, "the warm-up order paid")
        wait_for_quiet(rec)

        def orders():
            ids = [one_order(s, p, i + 5) for i in range(n)]
            for o in ids:
                wait_until(lambda: p.summary(o)["payment_state"] == "paid", 60, 0.2, f"order {o} paid")
            return len(ids)

        per_order = measure(rec, s, orders)
        pollers = {}
        for name in ("MAGENTO_POLLER_FUNCTION", "ZNODE_POLLER_FUNCTION", "KENTICO_POLLER_FUNCTION",
                     "STRIPE_BACKFILL_FUNCTION"):
            if name in s.env:
                fn = s.env[name]
                pollers[name] = measure(rec, s, lambda: s.lambda_.invoke(FunctionName=fn, Payload=b"{}") and 1)
    finally:
        register(None)
    report(n, platform, per_order, pollers, rec)


def report(n: int, platform: str, m: dict, pollers: dict, rec: Recorder) -> None:
    print(f"# make cost: {n} {platform} orders through order-to-cash, priced at AWS list prices "
          f"(us-east-1, arm64, as of {PRICES_AS_OF})\n")
    calls = Counter(f"{c['source']} {c['name']}" + (f" {c['params'].get('SecretId', '').split('/')[-1]}"
                                                    if c["source"] == "secretsmanager" else "") for c in m["calls"])
    print("AWS API calls per order (counted):")
    for k, v in sorted(calls.items()):
        print(f"  {k:42} {v / n:6.2f}")
    print("\nLambda per order (counted):")
    for name, r in sorted(m["runs"].items()):
        if r["invocations"]:
            print(f"  {short(name):28} invocations {r['invocations'] / n:5.2f}  billed {r['billed_ms'] / n:7.1f} ms"
                  f"  ({rec.functions[name]} MB)  logs {r['log_bytes'] / n:7.0f} B")
    print("\nCost per order by component:")
    total = 0.0
    for k, (qty, usd) in m["cost"].items():
        total += usd
        print(f"  {k:24} {qty / n:12.2f} per order   ${usd / n * 1e6:9.2f} per 1,000,000 orders")
    print(f"\nTotal: ${total / n * 1e3:.4f} per 1,000 orders, ${total / n * 1e6:.2f} per 1,000,000 orders")

    fixed = 0.0
    print("\nFixed monthly (idle), by schedule:")
    schedules = {"MAGENTO_POLLER_FUNCTION": 2, "ZNODE_POLLER_FUNCTION": 2, "KENTICO_POLLER_FUNCTION": 2,
                 "STRIPE_BACKFILL_FUNCTION": 15}
    for name, pm in pollers.items():
        runs = MONTH_MINUTES / schedules[name]
        one = sum(usd for _, usd in pm["cost"].values())
        fixed += one * runs
        print(f"  {name.removesuffix('_FUNCTION').lower():20} every {schedules[name]:2} min: "
              f"{len(pm['calls'])} AWS calls a run, ${one * runs:.4f} a month")
    secrets = rec.resource_counts["AWS::SecretsManager::Secret"]
    alarms = rec.resource_counts["AWS::CloudWatch::Alarm"]
    dashboards = rec.resource_counts["AWS::CloudWatch::Dashboard"]
    stack_fixed = (secrets * PRICE["secret_month"] + alarms * PRICE["alarm_month"]
                   + dashboards * PRICE["dashboard_month"])
    print(f"  {secrets} secrets, {alarms} alarms, {dashboards} dashboard: ${stack_fixed:.2f} a month "
          "(the first 10 alarms and 3 dashboards of an account are free)")
    print(f"  total fixed: ${fixed + stack_fixed:.2f} a month")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, sys.argv[2] if len(sys.argv) > 2 else "magento")
