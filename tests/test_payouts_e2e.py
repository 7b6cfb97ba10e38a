"""Payout reconciliation, end to end on the deployed local stack: the project's Stripe simulator sweeps
its balance into an automatic payout and sends `payout.*` webhooks; the stripe-webhook function routes
them to the payouts queue; the payouts handler pages the payout's balance transactions, matches each
to its order, checks that their net is the payout to the minor unit, posts one balanced GL entry to the
ERP and stores the report, which `tally-payout-report` renders as CSV and HTML.

Each test first sweeps the currency's leftover balance (other tests' charges) into a payout of its own,
so the payout under test holds exactly what the test made."""

import csv
import io
import json
import os
import random
import subprocess
import time
from decimal import Decimal

import pytest
import requests

from e2e import EXPONENT, RETURN_URL, minor, place_and_pay, queue_messages_matching
from tally_local import post, sign, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def report_cli() -> str:
    """Tally's report renderer (shared/tools/src/bin/tally-payout-report.rs)."""
    subprocess.run(["cargo", "build", "--quiet", "-p", "tally-tools", "--bin", "tally-payout-report"],
                   cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "debug", "tally-payout-report")


def sim_payout(s, currency: str, **options) -> requests.Response:
    return requests.post(f"{s.stripe.base}/_sim/payouts", json={"currency": currency, **options}, timeout=60)


def drain(s, currency: str) -> None:
    """Sweeps what earlier tests left in the balance into a payout of its own (400: nothing to sweep)."""
    r = sim_payout(s, currency)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        wait_for_status(s, r.json()["id"], "posted")


def payout(s, currency: str, **options) -> dict:
    r = sim_payout(s, currency, **options)
    assert r.status_code == 200, r.text
    return r.json()


def ledger(s, payout_id: str) -> dict | None:
    item = s.dynamodb.get_item(TableName=s["PAYOUT_REPORTS_TABLE"], ConsistentRead=True,
                               Key={"payout": {"S": payout_id}, "part": {"S": "ledger"}}).get("Item")
    return json.loads(item["ledger"]["S"]) if item else None


def wait_for_status(s, payout_id: str, state: str, timeout=120) -> dict:
    return wait_until(lambda: (l := ledger(s, payout_id)) and l["status"]["state"] == state and l, timeout,
                      interval=1, what=f"payout {payout_id}'s report to be {state}")


def transactions(s, payout_id: str) -> list:
    """The payout's balance transactions as Stripe lists them, its own excluded."""
    rows, after = [], None
    while True:
        params = {"payout": payout_id, "limit": 100, **({"starting_after": after} if after else {})}
        page = s.stripe.call("GET", "/v1/balance_transactions", params=params).json()
        rows += page["data"]
        if not page["has_more"]:
            return [r for r in rows if r["source"] != payout_id]
        after = page["data"][-1]["id"]


def entry(s, key: str) -> dict | None:
    found = [e for e in s.erp.entries() if e.get("idempotency_key") == key]
    assert len(found) <= 1, found
    return found[0] if found else None


def lines(e) -> list:
    return [(l["account"], "debit" if "debit" in l else "credit", Decimal(l.get("debit") or l["credit"]))
            for l in e["lines"]]


def assert_balanced_for(s, po: dict, rows: list) -> dict:
    """The payout's GL entry: balanced, the bank debited by the payout, fees by the fees, to the minor unit."""
    e = wait_until(lambda: entry(s, f"tally-payout-{po['id']}"), 60, interval=1, what="the payout's GL entry")
    c = po["currency"].upper()
    exp = EXPONENT[c]
    booked = lines(e)
    debits = sum(a for _, side, a in booked if side == "debit")
    credits = sum(a for _, side, a in booked if side == "credit")
    assert debits == credits, booked
    assert e["currency"] == c
    assert ("1000", "debit", Decimal(po["amount"]).scaleb(-exp)) in booked, booked
    fees = sum(r["fee"] for r in rows)
    if fees:
        assert ("6150", "debit", Decimal(fees).scaleb(-exp)) in booked, booked
    assert sum(r["net"] for r in rows) == po["amount"]
    return e


def report(s, cli: str, payout_id: str, tmp_path) -> tuple[list, str]:
    """The report as the CLI renders it: CSV rows and the HTML page."""
    csv_path, html_path = tmp_path / f"{payout_id}.csv", tmp_path / f"{payout_id}.html"
    env = {**os.environ, **{k: v for k, v in s.env.items() if k.startswith("AWS_") or k == "PAYOUT_REPORTS_TABLE"}}
    out = subprocess.run([cli, payout_id, "--csv", str(csv_path), "--html", str(html_path)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return list(csv.DictReader(io.StringIO(csv_path.read_text()))), html_path.read_text()


def test_a_payout_over_orders_from_every_platform_is_matched_and_posted_to_the_cent(stack, report_cli, tmp_path):
    s = stack
    drain(s, "usd")
    orders = {}
    for name, p in s.platforms.items():
        for _ in range(2):
            order_id, pi = place_and_pay(s, p, price="19.99")
            orders[f"{name}/{p.store}/{order_id}"] = pi
    keys = list(orders)
    refunded, disputed = orders[keys[0]], orders[keys[-1]]
    r = s.stripe.call("POST", "/v1/refunds", {"payment_intent": refunded["id"], "amount": 1_000})
    assert r.status_code == 200, r.text
    s.stripe.call_sim_post("disputes", {"charge": disputed["latest_charge"], "outcome": "lost"})

    po = payout(s, "usd")
    rows = transactions(s, po["id"])
    categories = sorted(r["reporting_category"] for r in rows)
    assert categories == ["charge"] * len(orders) + ["dispute", "refund"], categories
    done = wait_for_status(s, po["id"], "posted")
    assert (done["transactions"], done["unmatched"]) == (len(rows), 0)
    e = assert_balanced_for(s, po, rows)
    assert e["references"]["payout"] == po["id"]
    booked = lines(e)
    gross_charges = sum(r["amount"] for r in rows if r["reporting_category"] == "charge")
    assert ("1150", "credit", Decimal(gross_charges).scaleb(-2)) in booked, booked
    assert ("1150", "debit", Decimal("10.00")) in booked, "the partial refund"
    assert ("1150", "debit", Decimal("39.98")) in booked, "the lost dispute"
    assert not [l for l in booked if l[0] == "1190"], "nothing to suspense"

    table, html = report(s, report_cli, po["id"], tmp_path)
    matched = [t for t in table if t["row"] == "matched"]
    assert len(matched) == len(rows) and not [t for t in table if t["row"] == "unmatched"]
    assert {t["order"] for t in matched} == set(orders), "every transaction matched to its order"
    by_txn = {t["transaction"]: t for t in matched}
    for r in rows:
        assert Decimal(by_txn[r["id"]]["net"]) == Decimal(r["net"]).scaleb(-2)
    assert f"posted as ERP entry {e['id']}" in html


def test_a_charge_made_outside_any_platform_is_posted_to_suspense_and_reported_first(stack, report_cli, tmp_path):
    s = stack
    drain(s, "usd")
    place_and_pay(s, s.magento, price="5.00", qty=1)
    outside = s.stripe.call("POST", "/v1/payment_intents", {
        "amount": 4_200, "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true", "return_url": RETURN_URL,
        "metadata[source]": "invoicing"})
    assert outside.status_code == 200 and outside.json()["status"] == "succeeded", outside.text
    po = payout(s, "usd")
    rows = transactions(s, po["id"])
    done = wait_for_status(s, po["id"], "posted")
    assert (done["transactions"], done["unmatched"]) == (2, 1)
    e = assert_balanced_for(s, po, rows)
    assert ("1190", "credit", Decimal("42.00")) in lines(e), "the outside charge's gross to suspense"
    table, html = report(s, report_cli, po["id"], tmp_path)
    data = [t for t in table if t["row"] != "total"]
    assert data[0]["row"] == "unmatched" and "names no Tally order" in data[0]["unmatched_reason"], data
    assert data[0]["booked_to"] == "suspense" and data[0]["amount"] == "42.00"
    assert html.index("names no Tally order") < html.index("magento/")


def test_a_payout_of_thousands_of_transactions_pages_through_every_one(stack, report_cli, tmp_path):
    """2,050 charges: 21 pages of 100, read by five invocations of the handler, each continuing from
    the ledger the last one saved."""
    s = stack
    drain(s, "eur")
    n = 2_050
    s.stripe_sim_delivery(False)  # the charges' own webhooks are not what this test is about
    try:
        def charge(i):
            r = s.stripe.call("POST", "/v1/payment_intents", {
                "amount": 1_000 + i, "currency": "eur", "payment_method": "pm_card_visa", "confirm": "true", "return_url": RETURN_URL,
                "metadata[platform]": "magento", "metadata[store]": "default", "metadata[order_id]": f"bulk-{i}"})
            assert r.status_code == 200, r.text
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(charge, range(n)))
    finally:
        requests.post(f"{s.stripe.base}/_sim/delivery", json={"auto": True, "flush": False}, timeout=10)
    po = payout(s, "eur")
    rows = transactions(s, po["id"])
    assert len(rows) == n
    done = wait_for_status(s, po["id"], "posted", timeout=300)
    assert (done["transactions"], done["unmatched"], done["pages"]) == (n, 0, 21)
    # the local stack reads 5 pages an invocation (PayoutPagesPerInvocation): continued 4 times
    assert done["invocations"] == 5, done
    assert_balanced_for(s, po, rows)
    table, _ = report(s, report_cli, po["id"], tmp_path)
    matched = [t for t in table if t["row"] == "matched"]
    assert len(matched) == n and len({t["transaction"] for t in matched}) == n, "each transaction once"
    assert {t["order"] for t in matched} == {f"magento/default/bulk-{i}" for i in range(n)}


def test_duplicated_and_shuffled_payout_events_post_it_once(stack):
    s = stack
    drain(s, "usd")
    place_and_pay(s, s.magento, price="7.00", qty=1)
    s.stripe_sim_delivery(False)
    try:
        po = payout(s, "usd")
    finally:
        requests.post(f"{s.stripe.base}/_sim/delivery", json={"auto": True, "flush": False}, timeout=10)
    events = [e for e in s.stripe.call("GET", "/v1/events", params={"limit": 100}).json()["data"]
              if e["data"]["object"].get("id") == po["id"]]
    assert sorted(e["type"] for e in events) == ["payout.created", "payout.paid", "payout.reconciliation_completed"]
    deliveries = events * 3
    random.Random(7).shuffle(deliveries)
    for event in deliveries:
        body = json.dumps(event).encode()
        status, _ = post(s["STRIPE_WEBHOOK_URL"], body, sign(body, s["STRIPE_WEBHOOK_SECRET"]))
        assert status == 200
    wait_for_status(s, po["id"], "posted")
    time.sleep(3)  # let every duplicate be handled
    assert entry(s, f"tally-payout-{po['id']}")
    assert not queue_messages_matching(s, s["PAYOUTS_DLQ_URL"], lambda m: po["id"] in m["Body"])


def test_a_payout_that_fails_after_it_was_paid_and_posted_is_reversed(stack, report_cli, tmp_path):
    s = stack
    drain(s, "usd")
    place_and_pay(s, s.magento, price="12.34", qty=1)
    po = payout(s, "usd")
    wait_for_status(s, po["id"], "posted")
    failed = s.stripe.call_sim_post(f"payouts/{po['id']}/fail", {})
    assert failed["status"] == "failed"
    done = wait_for_status(s, po["id"], "reversed")
    posted = entry(s, f"tally-payout-{po['id']}")
    reversal = entry(s, f"tally-payout-{po['id']}-reversal")
    amount = Decimal(po["amount"]).scaleb(-2)
    assert lines(reversal) == [("1150", "debit", amount), ("1000", "credit", amount)]
    assert reversal["references"]["reverses"] == posted["id"] == done["status"]["entry"]
    # the returned amount goes out again in the next payout, booked back from clearing
    again = payout(s, "usd")
    rows = transactions(s, again["id"])
    assert [r["reporting_category"] for r in rows] == ["payout_reversal"]
    wait_for_status(s, again["id"], "posted")
    e = assert_balanced_for(s, again, rows)
    assert ("1150", "credit", amount) in lines(e)
    _, html = report(s, report_cli, po["id"], tmp_path)
    assert "the payout failed" in html


@pytest.mark.parametrize("currency,price", [("JPY", "2500"), ("KWD", "6.170")])
def test_zero_and_three_decimal_payouts_post_in_their_own_units(stack, currency, price):
    s = stack
    drain(s, currency.lower())
    place_and_pay(s, s.magento, currency=currency, price=price, qty=1)
    po = payout(s, currency.lower())
    assert po["amount"] < minor(price, currency), "less the processing fee"
    rows = transactions(s, po["id"])
    wait_for_status(s, po["id"], "posted")
    e = assert_balanced_for(s, po, rows)
    exp = EXPONENT[currency]
    for _, _, amount in lines(e):
        assert amount == amount.quantize(Decimal(1).scaleb(-exp)), f"{amount} in {currency}'s own units"


def test_a_payout_its_transactions_do_not_add_up_to_is_not_posted_and_goes_to_review(stack, report_cli, tmp_path):
    """The simulator breaks the invariant on purpose (`skew`): nothing is posted, the report says by how
    much, and the payout's message waits in the payouts DLQ with the reason."""
    s = stack
    drain(s, "usd")
    place_and_pay(s, s.magento, price="3.00", qty=1)
    po = payout(s, "usd", skew=1)
    done = wait_for_status(s, po["id"], "needs_review")
    assert "difference -1" in done["status"]["reason"], done
    letters = wait_until(lambda: queue_messages_matching(s, s["PAYOUTS_DLQ_URL"], lambda m: po["id"] in m["Body"]),
                         60, interval=1, what="the payout in the payouts DLQ")
    assert "difference -1" in letters[0]["MessageAttributes"]["failure_reason"]["StringValue"]
    assert entry(s, f"tally-payout-{po['id']}") is None
    _, html = report(s, report_cli, po["id"], tmp_path)
    assert "needs review, nothing posted" in html
    for m in letters:
        s.sqs.delete_message(QueueUrl=s["PAYOUTS_DLQ_URL"], ReceiptHandle=m["ReceiptHandle"])


def test_a_payout_already_failed_when_tally_first_reads_it_is_posted_and_reversed(stack):
    """Stripe fails the payout before Tally handles any of its events. Its transactions stay paid out
    in it, so their fees and gross are still booked by its entry; the reversal takes the amount back
    off the bank, and the next payout carries it."""
    s = stack
    drain(s, "usd")
    place_and_pay(s, s.magento, price="4.00", qty=1)
    po = payout(s, "usd", fail_after_paid=True)
    assert po["status"] == "failed"
    rows = transactions(s, po["id"])
    wait_for_status(s, po["id"], "reversed")
    posted = assert_balanced_for(s, po, rows)
    assert ("6150", "debit", Decimal(sum(r["fee"] for r in rows)).scaleb(-2)) in lines(posted)
    reversal = entry(s, f"tally-payout-{po['id']}-reversal")
    amount = Decimal(po["amount"]).scaleb(-2)
    assert lines(reversal) == [("1150", "debit", amount), ("1000", "credit", amount)]
    again = payout(s, "usd")
    assert [r["reporting_category"] for r in transactions(s, again["id"])] == ["payout_reversal"]
    wait_for_status(s, again["id"], "posted")
