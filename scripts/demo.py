"""`make demo`: a paid, a declined and a zero-decimal order on each platform the
deployed local stack serves, start to finish.

Places orders in each platform simulator (Magento sends Adobe Commerce's signed
webhook to Tally; Znode 9.x has no webhooks, so Tally's poller finds its orders;
Kentico's integration-bus connector posts Tally's signed order task; the
Clarity store, described by Tally's Clarity preset, sends its signed order
event; the custom storefront's orders are found by Tally's poller),
pays or declines them in the Stripe simulator (which sends Stripe's signed
webhooks back), refunds two of them (one in Stripe, one on the platform where
Tally collects the platform's refunds), and prints a timeline per order
gathered from every system involved. Then Stripe pays the balance out: Tally
reconciles the payout with every order, refund and fee in it, posts it to the
ERP's GL and stores its report, which the demo renders as CSV and HTML. Last,
the stack whose ERP is Tryton, a real ledger: an order paid, part refunded and
paid out, and the account balances Tryton computes; and the stack that posts
each paid order to Tryton as a sale, with its paid invoice and a credit note.
Leaves everything running until `make down`."""

import json
import os
import subprocess
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import requests

from tally_local import TRYTON_ENV, TRYTON_SALES_ENV, LocalStack, wait_until
from tally_platforms import PlatformSim
from tryton_client import Ledger

ORDERS = [
    ("paid", "USD", [{"sku": "TEE-BLK-M", "name": "Black tee", "qty": 2, "price": "19.99"}], "pm_card_visa"),
    ("declined", "USD", [{"sku": "MUG-01", "name": "Mug", "qty": 1, "price": "12.50"}],
     "pm_card_chargeDeclinedInsufficientFunds"),
    ("paid in yen", "JPY", [{"sku": "TEA-SET", "name": "Tea set", "qty": 1, "price": "4800"}], "pm_card_visa"),
]
ROOT = Path(__file__).resolve().parent.parent
# Shipping and tax on the paid Magento order: the ERP's sales order shows them as its own figures.
PAID_ORDER_CHARGES = {"magento": {"shipping_amount": "5.00", "tax_amount": "3.30"},
                      "clarity": {"shipping_amount": "4.50", "tax_amount": "2.10"}}
# How the demo's orders reach Tally: the platform's webhook, or its poller.
BY_POLLER = {"znode", "storefront"}
# Platforms whose own refunds only a poll reads (Znode's returns, Kentico's refund requests).
REFUNDS_BY_POLLER = {"znode", "kentico", "clarity", "storefront"}
# Refunds after payment: (order label, where the refund is made, amount in major units).
# On the platform: a Magento credit memo, an approved Znode return, a Kentico refund request row.
REFUNDS = {"magento": [("paid", "stripe", "10.00"), ("paid in yen", "platform", "1000")],
           "znode": [("paid", "stripe", "10.00"), ("paid in yen", "platform", "4800")],
           "kentico": [("paid", "stripe", "10.00"), ("paid in yen", "platform", "4800")],
           "clarity": [("paid", "stripe", "10.00"), ("paid in yen", "platform", "1200")],
           "storefront": [("paid", "stripe", "10.00"), ("paid in yen", "platform", "4800")]}


def clock(ts: float) -> str:
    """Milliseconds only where the source has them (platforms log whole seconds)."""
    text = datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    return text if ts != int(ts) else text[:-4] + "    "


def to_ts(value) -> float:
    """Unix seconds from any of the simulators' formats."""
    if isinstance(value, (int, float)):
        return float(value)
    if value.startswith("/Date("):  # .NET's JSON date (Kentico): UTC milliseconds
        return int(value[6:].split(")")[0].split("+")[0]) / 1000
    text = value.replace("T", " ").rstrip("Z")[:19]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def drive(s: LocalStack, p: PlatformSim) -> str:
    """The three orders on one platform, each with its timeline; the paid order's id."""
    polled = p.name in BY_POLLER
    how = "Tally's order poller finds them (the platform sends no webhooks)" if polled else \
        "the platform sends its webhook to Tally"
    print(f"\n=== {p.title} ({p.base}): {how}")
    placed = []
    for label, currency, items, card in ORDERS:
        extra = PAID_ORDER_CHARGES.get(p.name, {}) if label == "paid" else {}
        order = p.place_order(currency=currency, items=items, notify=not polled, **extra)
        placed.append((label, currency, card, order, time.time()))
        print(f"Placed {p.title} order {order['number']} ({label}) in {currency}")
    if polled:
        report = s.poll(p.name)
        print(f"Tally's {p.title} poller ran: {report['seen']} order(s) seen, {report['enqueued']} enqueued")

    timelines = {}
    for label, currency, card, order, placed_at in placed:
        oid = order["id"]
        pi = wait_until(lambda: (s.payment_intents_for(oid, p.name) or [None])[0], 60, 0.5,
                        f"PaymentIntent for {order['number']}")
        answer = s.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm", {
            "payment_method": card, "return_url": "https://shop.example.com/checkout/return"})
        timelines[oid] = {"pi": pi, "confirm": answer.json(), "confirmed_at": time.time()}

    print("Waiting for Stripe's webhooks to come back through Tally…")
    for label, currency, card, order, placed_at in placed:
        want = "paid" if card == "pm_card_visa" else "failed"
        wait_until(lambda: p.summary(order["id"])["payment_state"] == want, 90, 0.5,
                   f"order {order['number']} to be {want}")
        if want == "paid":
            wait_until(lambda: s.erp.entries(order["id"], p.store, p.name), 60, 0.5, "the ERP entry")

    by_label = {label: order for label, _, _, order, _ in placed}
    for label, where, amount in REFUNDS.get(p.name, []):
        order = by_label[label]
        pi = timelines[order["id"]]["pi"]
        if where == "stripe":
            minor = int(Decimal(amount).scaleb(2 if pi["currency"] != "jpy" else 0))
            s.stripe.call("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": minor})
            print(f"Refunded {amount} {pi['currency'].upper()} of order {order['number']} in Stripe (as in the Dashboard)")
        else:
            memo = p.sim("POST", f"orders/{order['id']}/refunds", json={"amount": amount}).json()
            print(f"{p.refund_record.capitalize()} {memo['id']} for {amount} {pi['currency'].upper()} made in "
                  f"{p.title} on order {order['number']}")
            if p.name in REFUNDS_BY_POLLER:
                report = s.poll(p.name)["refunds"]
                print(f"Tally's {p.title} poller ran: {report['seen']} {p.refund_record}(s) asking for money back, "
                      f"{report['enqueued']} enqueued")
    for label, where, amount in REFUNDS.get(p.name, []):
        order = by_label[label]
        wait_until(lambda: [r for r in p.summary(order["id"])["refunds"] if r.get("stripe_refund_id")], 60, 0.5,
                   f"the refund of {order['number']} recorded")
        wait_until(lambda: [e for e in s.erp.entries(order["id"], p.store, p.name) if "refund" in e["references"]],
                   60, 0.5, f"the ERP credit memo of {order['number']}")

    deliveries = s.stripe.call_sim("deliveries")
    for label, currency, card, order, placed_at in placed:
        oid, t = order["id"], timelines[order["id"]]
        pi, summary = t["pi"], p.summary(oid)
        rows = [(placed_at, f"order {order['number']} placed in {p.title} ({currency})")]
        rows += [(d["time"], f"{p.title} webhook delivered to Tally (answered {d.get('status')})")
                 for d in p.webhook_deliveries(oid)]
        rows.append((pi["created"], f"Tally created PaymentIntent {pi['id']}: {pi['amount']} {pi['currency'].upper()} "
                     f"minor units, metadata platform/store/order_id, customer {pi.get('customer')}"))
        outcome = t["confirm"].get("status") or t["confirm"].get("error", {}).get("decline_code")
        rows.append((t["confirmed_at"], f"customer paid with {card}: {outcome}"))
        for d in deliveries:
            if d["type"] in ("payment_intent.created", "charge.refund.updated") or not d.get("attempts"):
                continue
            event = s.stripe.call("GET", f"/v1/events/{d['event_id']}").json()
            obj = event.get("data", {}).get("object", {})
            if pi["id"] not in (obj.get("id"), obj.get("payment_intent")):
                continue
            if d["type"] == "refund.created":
                origin = "made by Tally from the platform's record" if obj.get("metadata", {}).get("tally_platform_record") \
                    else "made in Stripe"
                rows.append((obj["created"], f"Stripe refund {obj['id']} ({origin}): {obj['amount']} "
                             f"{obj['currency'].upper()} minor units"))
            recorded = s.recorded_event(d["event_id"])
            when = int(recorded["recorded_at_ms"]["N"]) / 1000 if recorded else d["attempts"][0]["at"]
            rows.append((when, f"Stripe webhook {d['type']} verified and handled by Tally"))
        for note in p.notes(oid):
            told = ", customer notified" if note["notified"] else ""
            rows.append((note["at"], f"{p.title} note{told}: {note['text'][:110]}"))
        for r in summary["refunds"]:
            rows.append((r["at"], f"{p.title} refund record {r['id']}: {r['amount']} {currency}, names Stripe refund "
                         f"{r['stripe_refund_id']}"))
        for pay in summary["payments"]:
            rows.append((pay["at"], f"{p.title} payment recorded: {pay['amount']} {currency}, "
                         f"transaction {summary['transaction_id']}; status {summary['status']}"))
        for e in s.erp.entries(oid, p.store, p.name):
            lines = ", ".join(f"{'Dr' if 'debit' in l else 'Cr'} {l['account']} {l.get('debit') or l.get('credit')}"
                              for l in e["lines"])
            kind = "credit memo" if "refund" in e["references"] else "journal entry"
            rows.append((e["posted_at"], f"ERP {kind} {e['id']} posted: {lines}"))
        for sale in s.erp.sales_orders(oid, p.store, p.name):
            items = ", ".join(f"{line['quantity']} x {line['sku']} {line['amount']}" for line in sale["lines"])
            rows.append((sale["posted_at"], f"ERP sales order {sale['id']} posted: {items}; shipping {sale['shipping']}, "
                         f"tax {sale['tax']}; total {sale['total']} paid by {sale['payment']['reference']}"))
            for memo in s.erp.credit_memos(sale["idempotency_key"]):
                rows.append((memo["posted_at"], f"ERP sales credit memo {memo['id']} posted: {memo['amount']} against "
                             f"{sale['id']}"))
        print(f"\n{p.title} order {order['number']} ({label}): {summary['payment_state']}")
        # Platform times have one-second resolution: keep the causal order within a second.
        ordered = sorted(enumerate(rows), key=lambda r: (int(to_ts(r[1][0])), r[0]))
        for _, (ts, text) in ordered:
            print(f"  {clock(to_ts(ts))}  {text}")
    return by_label["paid"]["id"]


def reconcile_payout(s: LocalStack, currency: str) -> None:
    """Sweeps the simulator's balance into an automatic payout; Tally reconciles and posts it."""
    r = requests.post(f"{s.stripe.base}/_sim/payouts", json={"currency": currency}, timeout=60)
    if r.status_code != 200:
        print(f"No {currency.upper()} payout: {r.json().get('error')}")
        return
    po = r.json()
    exponent = {"usd": 2, "jpy": 0}[currency]

    def major(minor: int) -> str:
        return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"

    print(f"\n=== Stripe payout {po['id']}: {major(po['amount'])} {currency.upper()} ===")

    def ledger():
        item = s.dynamodb.get_item(TableName=s["PAYOUT_REPORTS_TABLE"], ConsistentRead=True,
                                   Key={"payout": {"S": po["id"]}, "part": {"S": "ledger"}}).get("Item")
        done = item and json.loads(item["ledger"]["S"])
        return done if done and done["status"]["state"] != "reading" else None

    done = wait_until(ledger, 120, 0.5, f"payout {po['id']} reconciled")
    print(f"Tally read {done['transactions']} balance transactions in {done['pages']} page(s): "
          f"{done['unmatched']} matched to no order; status {done['status']}")
    for b in done["buckets"]:
        print(f"  {b['category']:<12} {b['booking']:<9} {b['count']:>4} transaction(s), gross {major(b['gross'])}")
    print(f"  fees {major(done['fees'])}, net {major(done['net'])} = the payout")
    entry = next(e for e in s.erp.entries() if e.get("idempotency_key") == f"tally-payout-{po['id']}")
    print(f"ERP GL entry {entry['id']}:")
    for line in entry["lines"]:
        side = "debit " if "debit" in line else "credit"
        print(f"  {side} {line['account']}  {line.get('debit') or line['credit']:>10}  {line.get('memo', '')}")
    out = ROOT / ".tally" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / f"{po['id']}.csv", out / f"{po['id']}.html"
    env = {**os.environ, **{k: v for k, v in s.env.items() if k.startswith("AWS_") or k == "PAYOUT_REPORTS_TABLE"}}
    subprocess.run([str(ROOT / "target" / "debug" / "tally-payout-report"), po["id"], "--csv", str(csv_path),
                    "--html", str(html_path)], env=env, check=True)
    print(f"The payout's report: {csv_path.relative_to(ROOT)} and {html_path.relative_to(ROOT)}")


def tryton_ledger(t: LocalStack) -> None:
    """The third stack posts to Tryton, a real ledger: an order paid, part refunded, paid out, and the
    balances Tryton itself computes before and after."""
    ledger = Ledger(t)
    # the default account mapping (erp.accounts): bank, Stripe clearing, receivable, refunds, fees
    codes = ["1000", "1150", "1200", "4500", "6150"]
    before = ledger.trial_balance(codes)
    p = t.magento
    print(f"\n=== Tryton ({t['TRYTON_URL']}, database {t['TRYTON_DATABASE']}): the stack {t['TALLY_STACK_NAME']} "
          "posts to a real ledger")
    order = p.place_order(currency="USD", items=[{"sku": "LEDGER-BOOK", "name": "Ledger book", "qty": 2,
                                                  "price": "24.50"}])
    print(f"Placed Magento order {order['number']} (49.00 USD) in the Tryton stack's store")
    pi = wait_until(lambda: (t.payment_intents_for(order["id"], p.name) or [None])[0], 60, 0.5, "its PaymentIntent")
    t.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm", {
        "payment_method": "pm_card_visa", "return_url": "https://shop.example.com/checkout/return"})
    wait_until(lambda: p.summary(order["id"])["payment_state"] == "paid", 90, 0.5, "the order paid")
    charge = t.stripe.call("GET", f"/v1/payment_intents/{pi['id']}").json()["latest_charge"]
    wait_until(lambda: ledger.moves(charge) or None, 60, 0.5, "the payment's move in Tryton")
    refund = t.stripe.call("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 900}).json()
    print(f"Refunded 9.00 USD in Stripe ({refund['id']})")
    wait_until(lambda: ledger.moves(refund["id"]) or None, 60, 0.5, "the refund's move in Tryton")
    made = requests.post(f"{t.stripe.base}/_sim/payouts", json={"currency": "usd"}, timeout=60)
    po = made.json() if made.status_code == 200 else None
    if po:
        print(f"Stripe paid out {Decimal(po['amount']).scaleb(-2):.2f} USD ({po['id']})")
        wait_until(lambda: ledger.moves(f"tally-payout-{po['id']}") or None, 120, 0.5, "the payout's move in Tryton")
    keys = [charge, refund["id"]] + ([f"tally-payout-{po['id']}"] if po else [])
    print("Tally's moves, as Tryton holds them (posted moves are final):")
    posted = {code: Decimal(0) for code in codes}
    for key in keys:
        for move in ledger.moves(key):
            lines = ", ".join(f"{code} {amount:+}" for code, amount in sorted(move["lines"].items()))
            print(f"  {move['post_number'] or '-':<8} {move['state']:<7} {lines}")
            for code, amount in move["lines"].items():
                posted[code] = posted.get(code, Decimal(0)) + amount
    after = ledger.trial_balance(codes)
    print("Account balances Tryton computes (debit minus credit), before and after:")
    for code in codes:
        name, was = before[code]
        moved = after[code][1] - was
        check = "= Tally's moves" if moved == posted[code] else f"!= Tally's moves {posted[code]:+}"
        print(f"  {code} {name:<34} {was:>10} -> {after[code][1]:>10}  ({moved:+}) {check}")


def tryton_sales(t: LocalStack) -> None:
    """The fourth stack posts each paid order to Tryton as a sale: the sale, its paid invoice and a refund's credit
    note, as Tryton holds them."""
    ledger, p = Ledger(t), t.magento
    print(f"\n=== Tryton sales: the stack {t['TALLY_STACK_NAME']} posts each paid order as a Tryton sale "
          "(erp.paid_orders sales_order)")
    order = p.place_order(currency="USD", items=[{"sku": "LEDGER-BOOK", "name": "Ledger book", "qty": 2,
                                                  "price": "24.50"}], shipping_amount="5.00", tax_amount="3.92")
    pi = wait_until(lambda: (t.payment_intents_for(order["id"], p.name) or [None])[0], 60, 0.5, "its PaymentIntent")
    t.stripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm", {
        "payment_method": "pm_card_visa", "return_url": "https://shop.example.com/checkout/return"})
    key = f"tally-magento-{p.store}-{order['id']}-sale"
    sale = wait_until(lambda: (lambda f: f[0] if f and f[0]["state"] == "done" else None)(ledger.search_read(
        "sale.sale", [["reference", "=", key]], ["number", "state", "invoice_state", "total_amount"])), 90, 0.5,
        "the sale done in Tryton")
    print(f"Magento order {order['number']} paid: Tryton sale {sale['number']} {sale['state']}, invoice "
          f"{sale['invoice_state']}, total {sale['total_amount']['decimal']} USD")
    for line in ledger.search_read("sale.line", [["sale", "=", sale["id"]]], ["description", "quantity", "unit_price"]):
        print(f"  {line['quantity']:>5} x {line['description']:<34} {line['unit_price']['decimal']:>10}")
    t.stripe.call("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 500})
    note = wait_until(lambda: [n for n in ledger.search_read("account.invoice", [["description", "like", f"%for [{key}]"]],
                                                             ["number", "state", "total_amount"]) if n["state"] == "paid"],
                      60, 0.5, "the refund's credit note")[0]
    print(f"Refunded 5.00 USD in Stripe: Tryton credit note {note['number']} {note['state']}, "
          f"{note['total_amount']['decimal']} USD")


def customers(s: LocalStack) -> None:
    """A shopper registers on Magento; Tally makes their Stripe customer; an edit in Stripe comes back once."""
    p = s.magento
    print(f"\n=== Customers, both ways ({p.title})")
    address = f"grace-{int(time.time())}@example.com"
    cid = p.create_customer(address, "Grace", "Hopper", telephone="+1 555 0100",
                            address={"street": ["1 Navy Way"], "city": "Arlington", "postcode": "22202",
                                     "country_id": "US", "region_code": "VA"})
    print(f"{address} registered on {p.title} as customer {cid}; {p.title} sent observer.customer_save_after")
    cus = wait_until(lambda: p.customer(cid)["summary"]["stripe_customer_id"], 60, 0.5, "the Stripe customer")
    c = s.stripe.call("GET", f"/v1/customers/{cus}").json()
    print(f"Tally made Stripe customer {cus}: {c['name']}, {c['email']}, {c['phone']}, "
          f"{c['address']['city']} {c['address']['country']}; metadata {c['metadata']}")
    s.stripe.call("POST", f"/v1/customers/{cus}", {"name": "Grace Brewster Hopper"})
    print("Renamed in Stripe (as in the Dashboard) to Grace Brewster Hopper")
    wait_until(lambda: p.customer(cid)["customer"]["firstname"] == "Grace Brewster", 60, 0.5, "the platform edit")
    native = p.customer(cid)["customer"]
    writes = len(p.requests_log(path_contains=f"/V1/customers/{cid}", method="PUT"))
    print(f"{p.title} customer {cid} is now {native['firstname']} {native['lastname']} ({writes} writes by Tally: "
          "the Stripe id, then the name); its save event came back to Tally and stopped there")


def operate(s: LocalStack, platform: str, store: str, order_id: str) -> None:
    """What a person on call runs: the stack's health, then one order's story (README, "Operations")."""
    env = {**os.environ, **{k: v for k, v in s.env.items() if k.startswith("AWS_")},
           "TALLY_STACK_NAME": s["TALLY_STACK_NAME"]}
    tally = str(ROOT / "target" / "debug" / "tally")
    for args in (["status"], ["order", platform, order_id, "--store", store]):
        print(f"\n$ tally {' '.join(args)}")
        done = subprocess.run([tally, *args], env=env, capture_output=True, text=True)
        print((done.stdout + done.stderr).rstrip())


def main() -> None:
    s = LocalStack()
    print("\nTally's local stack is up.")
    for p in s.platforms.values():
        print(f"  {p.title + ' simulator':<20} {p.base}")
    print(f"  {'Stripe simulator':<20} {s['STRIPE_API_BASE']}\n  {'ERP simulator':<20} {s['ERP_BASE_URL']}")
    print("Building the payout report tool (cargo build -p tally-tools) ...")
    subprocess.run(["cargo", "build", "--quiet", "-p", "tally-tools", "--bin", "tally-payout-report",
                    "-p", "tally-cli", "--bin", "tally"], cwd=ROOT, check=True)
    paid = {p.name: drive(s, p) for p in s.platforms.values()}
    customers(s)
    for currency in ("usd", "jpy"):
        reconcile_payout(s, currency)
    operate(s, "magento", s.platforms["magento"].store, paid["magento"])
    if TRYTON_ENV.exists():
        tryton_ledger(LocalStack(TRYTON_ENV))
    if TRYTON_SALES_ENV.exists():
        tryton_sales(LocalStack(TRYTON_SALES_ENV))

    print(f"""
Try it yourself (everything keeps running until `make down`):
  place an order:   curl -s -XPOST {s['MAGENTO_BASE_URL']}/_sim/orders -H 'content-type: application/json' \\
                      -d '{{"currency":"EUR","items":[{{"sku":"X","name":"Thing","qty":1,"price":"9.90"}}],"payment_method":"stripe_payments"}}'
                    (the same body places a Znode order at {s.env.get('ZNODE_BASE_URL', 'the Znode simulator')}/_sim/orders
                     a Kentico one at {s.env.get('KENTICO_BASE_URL', 'the Kentico simulator')}/_sim/orders,
                     a Clarity one at {s.env.get('CLARITY_BASE_URL', 'the Clarity simulator')}/_sim/orders
                     and a storefront one at {s.env.get('STOREFRONT_BASE_URL', 'the storefront simulator')}/_sim/orders)
  pay it:           curl -s {s['STRIPE_API_BASE']}/v1/payment_intents/<pi_id>/confirm -u {s['STRIPE_API_KEY']}: \\
                      -d payment_method=pm_card_visa -d return_url=https://shop.example.com/return
  an order's state: curl -s <platform simulator>/_sim/orders/<id>   (the native order and a "summary")
  send any Stripe event:  .venv/bin/python scripts/send_stripe_event.py payment_intent.succeeded
  a payout:         curl -s -XPOST {s['STRIPE_API_BASE']}/_sim/payouts -H 'content-type: application/json' -d '{{"currency":"usd"}}'
  its report:       PAYOUT_REPORTS_TABLE={s['PAYOUT_REPORTS_TABLE']} target/debug/tally-payout-report <po_id> --html po.html
                    (with the AWS_* settings of .tally/local.env)
  operate:          target/debug/tally status | dlq list payments | backfill --since 1d --dry-run
                    (with TALLY_STACK_NAME and the AWS_* settings of .tally/local.env; README "Operations")
  look:  {s['ERP_BASE_URL']}/_sim/entries   {s['STRIPE_API_BASE']}/_sim/state
  logs:  .tally/ministack.log (the Lambdas' JSON logs), .tally/<simulator>.log
  stop:  make down
""")


if __name__ == "__main__":
    main()
