"""`make demo`: three orders through the deployed local stack, start to finish.

Places orders in the Magento simulator (which sends Adobe Commerce's signed
webhook to Tally), pays or declines them in the Stripe simulator (which sends
Stripe's signed webhooks back), and prints a timeline per order gathered from
every system involved. Leaves everything running until `make down`."""

import time
from datetime import datetime, timezone

from tally_local import LocalStack, wait_until

ORDERS = [
    ("paid", "USD", [{"sku": "TEE-BLK-M", "name": "Black tee", "qty": 2, "price": "19.99"}], "pm_card_visa"),
    ("declined", "USD", [{"sku": "MUG-01", "name": "Mug", "qty": 1, "price": "12.50"}],
     "pm_card_chargeDeclinedInsufficientFunds"),
    ("paid in yen", "JPY", [{"sku": "TEA-SET", "name": "Tea set", "qty": 1, "price": "4800"}], "pm_card_visa"),
]


def clock(ts: float) -> str:
    """Milliseconds only where the source has them (platforms log whole seconds)."""
    text = datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    return text if ts != int(ts) else text[:-4] + "    "


def to_ts(value) -> float:
    """Unix seconds from any of the simulators' formats."""
    if isinstance(value, (int, float)):
        return float(value)
    text = value.replace("T", " ").rstrip("Z")[:19]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def main() -> None:
    s = LocalStack()
    print(f"\nTally's local stack is up.\n  Magento simulator  {s['MAGENTO_BASE_URL']}\n"
          f"  Stripe simulator   {s['STRIPE_API_BASE']}\n  ERP simulator      {s['ERP_BASE_URL']}\n")
    placed = []
    for label, currency, items, card in ORDERS:
        order = s.magento.place_order(currency=currency, items=items)
        placed.append((label, card, order))
        print(f"Placed Magento order #{order['increment_id']} ({label}): "
              f"{order['grand_total']} {currency}; Magento sent its signed webhook to Tally")

    timelines = {}
    for label, card, order in placed:
        oid = order["entity_id"]
        pi = wait_until(lambda: (s.payment_intents_for(oid) or [None])[0], 60, 0.5, f"PaymentIntent for #{order['increment_id']}")
        answer = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": card,
                                                                         "return_url": "https://shop.example.com/checkout/return"})
        timelines[oid] = {"pi": pi, "confirm": answer.json(), "confirmed_at": time.time()}

    print("\nWaiting for Stripe's webhooks to come back through Tally…")
    for label, card, order in placed:
        oid = order["entity_id"]
        want = "processing" if card == "pm_card_visa" else "payment_failed"
        wait_until(lambda: want in (s.magento.order(oid)["order"]["state"], s.magento.order(oid)["order"]["status"]),
                   90, 0.5, f"order #{order['increment_id']} to reach {want}")
        if want == "processing":
            wait_until(lambda: s.erp.entries(oid), 60, 0.5, "the ERP entry")

    deliveries = s.stripe.call_sim("deliveries")
    webhooks = s.magento.sim("GET", "webhooks").json().get("deliveries", [])
    for label, card, order in placed:
        oid, t = order["entity_id"], timelines[order["entity_id"]]
        now, pi = s.magento.order(oid), t["pi"]
        rows = [(order["created_at"], f"order #{order['increment_id']} placed in Magento "
                 f"({order['grand_total']} {order['order_currency_code']})")]
        rows += [(d["time"], f"Adobe Commerce webhook delivered to Tally (answered {d.get('status')})")
                 for d in webhooks if str(d.get("order_id")) == str(oid)]
        rows.append((pi["created"], f"Tally created PaymentIntent {pi['id']}: {pi['amount']} {pi['currency'].upper()} "
                     "minor units, metadata order_id/increment_id"))
        outcome = t["confirm"].get("status") or t["confirm"].get("error", {}).get("decline_code")
        rows.append((t["confirmed_at"], f"customer paid with {card}: {outcome}"))
        for d in deliveries:
            if d["type"] in ("payment_intent.created",) or not d.get("attempts"):
                continue
            event = s.stripe.call("GET", f"/v1/events/{d['event_id']}").json()
            obj = event.get("data", {}).get("object", {})
            if pi["id"] not in (obj.get("id"), obj.get("payment_intent")):
                continue
            recorded = s.recorded_event(d["event_id"])
            when = int(recorded["recorded_at_ms"]["N"]) / 1000 if recorded else d["attempts"][0]["at"]
            rows.append((when, f"Stripe webhook {d['type']} verified and handled by Tally"))
        for inv in now["invoices"]:
            rows.append((inv["created_at"], f"Magento invoice {inv.get('increment_id', inv['entity_id'])} created "
                         f"(offline capture); order {now['order']['state']}/{now['order']['status']}"))
        for h in now["order"]["status_histories"]:
            if h.get("status") == "payment_failed":
                rows.append((h["created_at"], f"order set to payment_failed, customer notified: {h['comment']}"))
        for e in s.erp.entries(oid):
            lines = ", ".join(f"{'Dr' if 'debit' in l else 'Cr'} {l['account']} {l.get('debit') or l.get('credit')}"
                              for l in e["lines"])
            rows.append((e["posted_at"], f"ERP journal entry {e['id']} posted: {lines}"))
        print(f"\nOrder #{order['increment_id']} ({label})")
        # Platform times have one-second resolution: keep the causal order within a second.
        ordered = sorted(enumerate(rows), key=lambda r: (int(to_ts(r[1][0])), r[0]))
        for _, (ts, text) in ordered:
            print(f"  {clock(to_ts(ts))}  {text}")

    if "ZNODE_BASE_URL" in s.env:
        znode_orders(s)

    print(f"""
Try it yourself (everything keeps running until `make down`):
  place an order:   curl -s -XPOST {s['MAGENTO_BASE_URL']}/_sim/orders -H 'content-type: application/json' \\
                      -d '{{"currency":"EUR","items":[{{"sku":"X","name":"Thing","qty":1,"price":"9.90"}}],"payment_method":"stripe_payments"}}'
  pay it:           curl -s {s['STRIPE_API_BASE']}/v1/payment_intents/<pi_id>/confirm -u {s['STRIPE_API_KEY']}: \\
                      -d payment_method=pm_card_visa -d return_url=https://shop.example.com/return
  send any Stripe event:  .venv/bin/python scripts/send_stripe_event.py payment_intent.succeeded
  look:  {s['MAGENTO_BASE_URL']}/_sim/orders   {s['ERP_BASE_URL']}/_sim/entries   {s['STRIPE_API_BASE']}/_sim/state
  logs:  .tally/ministack.log (the Lambdas' JSON logs), .tally/<simulator>.log
  stop:  make down
""")


def znode_orders(s: LocalStack) -> None:
    """The same three orders on Znode, which the same deployment serves: its poller finds them."""
    import requests

    base = s["ZNODE_BASE_URL"]
    print(f"\nZnode simulator {base}: the same deployment serves it; its order poller finds new orders.")
    placed = []
    for label, currency, items, card in ORDERS:
        answer = requests.post(f"{base}/_sim/orders", timeout=30, json={
            "currency": currency, "items": items, "payment_method": "stripe_payments",
            "customer": {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}}).json()
        placed.append((label, card, answer))
        print(f"Placed Znode order {answer['number']} ({label}): {answer['order']['Total']} {currency}")
    report = s.poll_znode()
    print(f"Tally's Znode poller ran: {report['seen']} order(s) seen, {report['enqueued']} enqueued")

    def znode_pi(order_id):
        found = [p for p in s.stripe.all_payment_intents()
                 if p.get("metadata", {}).get("platform") == "znode" and p["metadata"].get("order_id") == order_id]
        return found[0] if found else None

    for label, card, order in placed:
        pi = wait_until(lambda: znode_pi(order["id"]), 60, 0.5, f"PaymentIntent for {order['number']}")
        answer = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm",
                               {"payment_method": card, "return_url": "https://shop.example.com/checkout/return"}).json()
        order["pi"], order["outcome"] = pi, answer.get("status") or answer.get("error", {}).get("decline_code")
    for label, card, order in placed:
        want = "paid" if card == "pm_card_visa" else "failed"
        summary = wait_until(
            lambda: (lambda x: x if x["payment_state"] == want else None)(
                requests.get(f"{base}/_sim/orders/{order['id']}", timeout=30).json()["summary"]),
            90, 0.5, f"Znode order {order['number']} to be {want}")
        print(f"\nZnode order {order['number']} ({label})")
        print(f"  PaymentIntent {order['pi']['id']}: {order['pi']['amount']} {order['pi']['currency'].upper()} minor units")
        print(f"  customer paid with {card}: {order['outcome']}")
        if want == "paid":
            entry = wait_until(lambda: s.erp.entries(order["id"], "1"), 60, 0.5, "the ERP entry")[0]
            print(f"  Znode: payment status Captured, transaction {summary['transaction_id']}, "
                  f"{len(summary['payments'])} payment detail row")
            print(f"  ERP journal entry {entry['id']} posted")
        else:
            print(f"  Znode: order state {summary['status']}, note with the decline code; a retry can still pay")


if __name__ == "__main__":
    main()
