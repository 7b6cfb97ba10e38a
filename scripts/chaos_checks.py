"""The chaos run's invariants, read from the systems of record (Stripe, each platform, the ERP, the
DLQs) once the run has settled: every business fact has exactly one effect in each system it
reaches (lost = none, double = more than one), every ERP posting balances, every payout is
reconciled or reported, and no message of the run is left in a DLQ."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal

import requests

PAID_STATES = ("paid", "partially_refunded", "refunded")
STRIPE_ID = re.compile(r"\b(?:pi|ch|re|cus|po|evt)_[A-Za-z0-9]+")


class Row:
    def __init__(self, name: str):
        self.name, self.expected, self.found, self.lost, self.double = name, 0, 0, 0, 0
        self.examples: list[str] = []

    def count(self, expected: int, found: int, what: str) -> None:
        self.expected += expected
        self.found += min(found, expected) if expected else 0
        if found < expected:
            self.lost += expected - found
            self.example(f"lost: {what} ({found} of {expected})")
        elif found > expected:
            self.double += found - expected
            self.example(f"double: {what} ({found} for {expected})")

    def example(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)

    def as_dict(self) -> dict:
        return {"expected": self.expected, "found": self.found, "lost": self.lost, "double": self.double,
                "examples": self.examples}


def balanced(entry: dict) -> bool:
    debits = sum(Decimal(str(line["debit"])) for line in entry["lines"] if "debit" in line)
    credits = sum(Decimal(str(line["credit"])) for line in entry["lines"] if "credit" in line)
    return debits == credits and debits > 0


def moment(text) -> float | None:
    if not isinstance(text, str):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f",
                "%Y-%m-%dT%H:%M:%S"):
        try:
            parsed = datetime.strptime(text.replace("Z", "+00:00"), fmt)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            continue
    return None


class Checks:
    def __init__(self, stack, stripe):
        self.s, self.stripe = stack, stripe

    # --- DLQs -------------------------------------------------------------------------------------

    def dlq_messages(self) -> list[dict]:
        return [m for queue in (self.s.env["PAYMENTS_DLQ_URL"], self.s.env["PAYOUTS_DLQ_URL"])
                for m in self.s.peek_messages(queue)]

    def dead_letters(self, mine=None) -> dict:
        messages = [m for m in self.dlq_messages() if mine is None or mine(m)]
        reasons = Counter((m.get("MessageAttributes", {}).get("failure_reason", {}).get("StringValue") or "no reason")[:90]
                          for m in messages)
        return {"count": len(messages), "reasons": dict(reasons.most_common(8))}

    # --- the invariants ---------------------------------------------------------------------------

    def run(self, units, payouts, settle_timeout: float = 240) -> dict:
        deadline = time.monotonic() + settle_timeout
        while True:
            result = self.evaluate(units, payouts)
            if result["ok"] or time.monotonic() > deadline:
                return result
            print(f"[chaos] not settled yet: lost {result['lost']}, double {result['double_effects']}, "
                  f"in the DLQs {result['dlq_after_redrive']['count']}; checking again", flush=True)
            time.sleep(10)

    def evaluate(self, units, payouts) -> dict:
        rows = {name: Row(name) for name in (
            "PaymentIntents", "platform payment records", "declined orders marked failed", "ERP payment postings",
            "Stripe refunds", "platform credit memos", "ERP credit memos", "Stripe customers",
            "customer changes in Stripe", "payouts reconciled or reported", "payout GL entries")}
        unbalanced, latencies, tokens, order_keys = [], [], set(), set()
        entries, every_entry = defaultdict(list), self.s.erp.entries()
        for e in every_entry:
            refs = e.get("references", {})
            entries[(refs.get("platform"), refs.get("store"), str(refs.get("order_id")))].append(e)
        for u in units:
            p = self.s.platforms[u.platform]
            if not hasattr(u, "outcome"):  # a customer unit
                self.customer(u, p, rows, tokens)
                continue
            if u.order_id is None:
                rows["PaymentIntents"].count(1, 0, f"unit {u.n}: never placed ({u.notes})")
                continue
            order_keys.add((u.platform, str(u.order_id)))
            query = f"metadata['order_id']:'{u.order_id}' AND metadata['platform']:'{u.platform}'"
            pis = self.stripe.search("payment_intents", query)
            rows["PaymentIntents"].count(1, len(pis), f"{u.platform} order {u.order_id}")
            tokens.update(pi["id"] for pi in pis)
            summary = p.summary(u.order_id)
            mine = entries.get((u.platform, p.store, str(u.order_id)), [])
            payments = [e for e in mine if "refund" not in e.get("references", {})]
            memos = [e for e in mine if "refund" in e.get("references", {})]
            unbalanced += [e.get("idempotency_key") for e in mine if not balanced(e)]
            what = f"{u.platform} order {u.order_id} ({u.outcome}, {u.currency})"
            if u.outcome == "declined":
                rows["declined orders marked failed"].count(1, int(summary["payment_state"] == "failed"), what)
                rows["platform payment records"].count(0, len(summary.get("payments", [])), what)
                rows["ERP payment postings"].count(0, len(payments), what)
                continue
            paid = summary["payment_state"] in PAID_STATES
            records = len(summary.get("payments", [])) if paid else 0
            rows["platform payment records"].count(1, records, what)
            rows["ERP payment postings"].count(1, len(payments), what)
            at = moment((summary.get("payments") or [{}])[0].get("at"))
            if at and u.paid_at:
                latencies.append(at - u.paid_at)
            refunds_expected = int(u.stripe_refund) + int(u.platform_refund)
            charge = u.charge or (pis[0].get("latest_charge") if pis else None)
            if charge:
                tokens.add(charge)
                found = self.stripe.call("GET", "/v1/refunds", params={"charge": charge, "limit": 100}).json()["data"]
                tokens.update(r["id"] for r in found)
                rows["Stripe refunds"].count(refunds_expected, len(found), what)
            elif refunds_expected:
                rows["Stripe refunds"].count(refunds_expected, 0, what + ": no charge")
            named = {r.get("stripe_refund_id") for r in summary.get("refunds", []) if r.get("stripe_refund_id")}
            rows["platform credit memos"].count(refunds_expected, len(summary.get("refunds", [])), what)
            if len(named) != len(summary.get("refunds", [])):
                rows["platform credit memos"].example(f"{what}: a record naming no Stripe refund or the same twice")
            rows["ERP credit memos"].count(refunds_expected, len(memos), what)
        for po in payouts:
            tokens.add(po["id"])
            self.payout(po, rows, unbalanced, every_entry)
        dead = self.dead_letters(lambda m: self.of_run(m, tokens, order_keys))
        lost = sum(r.lost for r in rows.values())
        double = sum(r.double for r in rows.values())
        return {"ok": lost == 0 and double == 0 and not unbalanced and dead["count"] == 0,
                "lost": lost, "double_effects": double, "unbalanced_postings": unbalanced,
                "dlq_after_redrive": dead, "rows": {n: r.as_dict() for n, r in rows.items()},
                "longest_stripe_event_to_platform_paid_s": round(max(latencies), 1) if latencies else None,
                "median_stripe_event_to_platform_paid_s":
                    round(sorted(latencies)[len(latencies) // 2], 1) if latencies else None}

    def customer(self, u, p, rows, tokens) -> None:
        what = f"{u.platform} customer {u.customer_id} <{u.email}>"
        if u.customer_id is None:
            rows["Stripe customers"].count(1, 0, f"customer unit {u.n} never saved ({u.notes})")
            return
        found = self.stripe.call("GET", "/v1/customers", params={"email": u.email, "limit": 100}).json()["data"]
        tokens.update(c["id"] for c in found)
        rows["Stripe customers"].count(1, len(found), what)
        changed = [c for c in found if (c.get("name") or "").endswith("Changed")]
        rows["customer changes in Stripe"].count(1, min(len(changed), 1), what)

    def payout(self, po: dict, rows, unbalanced: list, every_entry: list) -> None:
        what = f"payout {po['id']} ({po['currency']})"
        item = self.s.dynamodb.get_item(TableName=self.s.env["PAYOUT_REPORTS_TABLE"], ConsistentRead=True,
                                        Key={"payout": {"S": po["id"]}, "part": {"S": "ledger"}}).get("Item")
        ledger = json.loads(item["ledger"]["S"]) if item else None
        state = (ledger or {}).get("status", {}).get("state")
        rows["payouts reconciled or reported"].count(1, int(state in ("posted", "needs_review")),
                                                     f"{what}: {state}")
        gl = [e for e in every_entry if e.get("idempotency_key") == f"tally-payout-{po['id']}"]
        rows["payout GL entries"].count(1 if state == "posted" else len(gl), len(gl), what)
        unbalanced += [e.get("idempotency_key") for e in gl if not balanced(e)]

    @staticmethod
    def of_run(message: dict, tokens: set, order_keys: set) -> bool:
        body = message.get("Body", "")
        if any(t in tokens for t in STRIPE_ID.findall(body)):
            return True
        try:
            event = json.loads(body).get("event", {})
        except (ValueError, AttributeError):
            return False
        return isinstance(event, dict) and (event.get("platform"), str(event.get("order_id"))) in order_keys

    @staticmethod
    def table(result: dict) -> str:
        lines = [f"{'invariant':<34} {'expected':>9} {'found':>9} {'lost':>6} {'double':>7}"]
        for name, r in result["rows"].items():
            lines.append(f"{name:<34} {r['expected']:>9} {r['found']:>9} {r['lost']:>6} {r['double']:>7}")
        lines.append("")
        lines.append(f"events {result['events']} (seed {result['seed']}), faults at {result['fault_rate']:.0%}, "
                     f"workers killed {sum(result['kills'].values())}")
        lines.append(f"deliveries {json.dumps(result['deliveries'])}")
        lines.append(f"dead-lettered under faults {result['dead_lettered_under_faults']['count']}; "
                     f"left in the DLQs after one redrive {result['dlq_after_redrive']['count']}")
        lines.append(f"forged Stripe deliveries accepted {result.get('forged_accepted', 0)}")
        lines.append(f"unbalanced ERP postings {len(result['unbalanced_postings'])}; units taken up after the redrive "
                     f"{result.get('units_finished_after_redrive')}")
        lines.append(f"driven in {result['drive_seconds']}s ({result['events_per_second']} events/s), settled at "
                     f"{result['settled_seconds']}s; Stripe event to platform paid: median "
                     f"{result['median_stripe_event_to_platform_paid_s']}s, longest "
                     f"{result['longest_stripe_event_to_platform_paid_s']}s")
        lines.append(f"LOST {result['lost']}  DOUBLE EFFECTS {result['double_effects']}  -> "
                     f"{'PASS' if result['ok'] else 'FAIL'}")
        for name, r in result["rows"].items():
            for example in r["examples"]:
                lines.append(f"  {name}: {example}")
        return "\n".join(lines)
