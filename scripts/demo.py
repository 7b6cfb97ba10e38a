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
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def magento_time(text: str) -> float:
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
        answer = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": card, "return_url": "https://shop.example.com/checkout/return"})
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
        now = s.magento.order(oid)
        pi = t["pi"]
        rows = [(magento_time(order["created_at"]), f"order #{order['increment_id']} placed in Magento "
                 f"({order['grand_total']} {order['order_currency_code']})")]
        for d in webhooks:
            if str(d.get("order_id")) == str(oid) and d.get("time"):
                rows.append((d["time"], f"Adobe Commerce webhook -> Tally answered {d.get('status')}"))
        rows.append((pi["created"], f"PaymentIntent {pi['id']} for {pi['amount']} {pi['currency'].upper()} (minor units)"))
        rows.append((t["confirmed_at"], f"customer pays with {card}: Stripe says "
                     f"{t['confirm'].get('status') or t['confirm'].get('error', {}).get('decline_code')}"))
        for d in deliveries:
            obj = d.get("object_id") or ""
            if d.get("event_id") and (pi["id"] in str(d) ) and d.get("type", "").split(".")[0] in ("payment_intent", "charge") \
                    and d.get("type") != "payment_intent.created":
                first = (d.get("attempts") or [{}])[0]
                rows.append((first.get("time") or d.get("time") or t["confirmed_at"],
                             f"Stripe webhook {d['type']} -> Tally answered {first.get('status', '?')}"))
        for inv in now["invoices"]:
            rows.append((magento_time(inv["created_at"]), f"Magento invoice #{inv.get('increment_id', inv['entity_id'])} "
                         f"(captured offline); order now {now['order']['state']}/{now['order']['status']}"))
        for h in now["order"]["status_histories"]:
            if h.get("status") == "payment_failed":
                rows.append((magento_time(h["created_at"]), f"order status payment_failed, customer notified: {h['comment']}"))
        for e in s.erp.entries(oid):
            lines = ", ".join(f"{'Dr' if 'debit' in l else 'Cr'} {l['account']} {l.get('debit') or l.get('credit')}" for l in e["lines"])
            posted = e.get("posted_at")
            ts = magento_time(posted[:19].replace("T", " ")) if isinstance(posted, str) else (posted or time.time())
            rows.append((ts, f"ERP journal entry {e['id']}: {lines}"))
        print(f"\nOrder #{order['increment_id']} ({label})")
        for ts, text in sorted(rows, key=lambda r: r[0]):
            print(f"  {clock(ts)}  {text}")

    print(f"""
Try it yourself (everything keeps running until `make down`):
  place an order:   curl -s -XPOST {s['MAGENTO_BASE_URL']}/_sim/orders -H 'content-type: application/json' \\
                      -d '{{"currency":"EUR","items":[{{"sku":"X","name":"Thing","qty":1,"price":"9.90"}}]}}'
  pay it:           curl -s {s['STRIPE_API_BASE']}/v1/payment_intents/<pi_id>/confirm -u {s['STRIPE_API_KEY']}: \\
                      -d payment_method=pm_card_visa
  send any Stripe event:  .venv/bin/python scripts/send_stripe_event.py payment_intent.succeeded
  look:  {s['MAGENTO_BASE_URL']}/_sim/orders   {s['ERP_BASE_URL']}/_sim/entries   {s['STRIPE_API_BASE']}/_sim/state
  logs:  .tally/ministack.log (the Lambdas' JSON logs), .tally/<simulator>.log
  stop:  make down
""")


if __name__ == "__main__":
    main()
