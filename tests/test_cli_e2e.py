"""The `tally` CLI (shared/cli) against the deployed local stack, found by its name: status with
dead letters, a redrive that moves exactly the selected messages, and a backfill of events no
webhook delivered."""

import json
import os
import subprocess
import time
import uuid

import pytest
import requests

from e2e import ROOT, pay, queue_messages_matching, wait_for_payment_intent, wait_for_payment_state
from tally_local import wait_until


@pytest.fixture(scope="session")
def tally(stack):
    subprocess.run(["cargo", "build", "--quiet", "-p", "tally-cli", "--bin", "tally"], cwd=ROOT, check=True)
    binary = ROOT / "target" / "debug" / "tally"
    env = {**os.environ, **{k: v for k, v in stack.env.items() if k.startswith("AWS_")},
           "TALLY_STACK_NAME": stack["TALLY_STACK_NAME"]}

    def run(*args, expect=0):
        """`expect=None`: healthy or not (0 or 3), whatever other tests left in the DLQs."""
        done = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == expect or (expect is None and done.returncode in (0, 3)), f"tally {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return run


def dead_letter(s, p, order_id: str, reason: str) -> None:
    """An order hint in the payments DLQ, as the handler leaves one after its last delivery."""
    hint = {"schema_version": 1, "source": p.name, "event_id": f"{p.name}/{p.store}/{order_id}/changed@cli",
            "event_type": "order.changed", "received_at_ms": int(time.time() * 1000),
            "event": {"platform": p.name, "store": p.store, "order_id": order_id}}
    s.sqs.send_message(QueueUrl=s["PAYMENTS_DLQ_URL"], MessageBody=json.dumps(hint), MessageAttributes={
        "event_id": {"DataType": "String", "StringValue": hint["event_id"]},
        "event_type": {"DataType": "String", "StringValue": "order.changed"},
        "failure_reason": {"DataType": "String", "StringValue": reason}})


def test_status_and_a_redrive_of_exactly_the_selected_dead_letters(stack, tally):
    s, p = stack, stack.platforms["magento"]
    tag = uuid.uuid4().hex[:8]
    chosen = [p.place_order(currency="USD", notify=False)["id"] for _ in range(2)]
    other = p.place_order(currency="USD", notify=False)["id"]
    for o in chosen:
        dead_letter(s, p, o, f"magento unavailable (503): outage-{tag}")
    dead_letter(s, p, other, f"needs review: kept-{tag}")
    try:
        status = json.loads(tally("status", "--json", expect=3))
        payments = next(f for f in status["flows"] if f["flow"] == "payments")
        assert payments["dead_letters"] >= 3 and not status["healthy"], status
        text = tally("status", expect=3)
        assert "DEAD LETTERS" in text and "payments" in text

        listed = json.loads(tally("dlq", "list", "payments", "--json"))
        mine = [m for m in listed if tag in (m["reason"] or "")]
        assert len(mine) == 3, mine

        dry = json.loads(tally("dlq", "redrive", "payments", "--only", f"outage-{tag}", "--dry-run", "--json"))
        assert (dry["selected"], dry["moved"]) == (2, 0), dry
        assert len(queue_messages_matching(s, s["PAYMENTS_DLQ_URL"], lambda m: tag in json.dumps(m))) == 3

        moved = json.loads(tally("dlq", "redrive", "payments", "--only", f"outage-{tag}", "--json"))
        assert (moved["selected"], moved["moved"]) == (2, 2), moved
        for o in chosen:  # back on the queue, handled: each order gets its PaymentIntent
            wait_for_payment_intent(s, p, o)
        left = queue_messages_matching(s, s["PAYMENTS_DLQ_URL"], lambda m: tag in json.dumps(m))
        assert [m["MessageAttributes"]["failure_reason"]["StringValue"] for m in left] == [f"needs review: kept-{tag}"]
        assert s.payment_intents_for(other, "magento") == [], "the other one stayed put"
    finally:
        for m in queue_messages_matching(s, s["PAYMENTS_DLQ_URL"], lambda m: tag in json.dumps(m)):
            s.sqs.delete_message(QueueUrl=s["PAYMENTS_DLQ_URL"], ReceiptHandle=m["ReceiptHandle"])


def test_backfill_through_the_cli_recovers_once(stack, tally):
    s, p = stack, stack.platforms["magento"]
    order = p.place_order(currency="USD", items=[{"sku": "C", "name": "Cup", "qty": 1, "price": "8.00"}])["id"]
    pi = wait_for_payment_intent(s, p, order)
    s.stripe_sim_delivery(auto=False)
    try:
        assert pay(s, pi["id"]).status_code == 200
        time.sleep(2)
        report = json.loads(tally("backfill", "--since", "10m", "--min-age-secs", "0", "--json"))
        assert report["recovered"] >= 2 and report["runs"] >= 1, report
        wait_for_payment_state(p, order, "paid")

        def nothing_left():
            again = json.loads(tally("backfill", "--since", "10m", "--min-age-secs", "0", "--json"))
            return again if again["recovered"] == 0 else None

        wait_until(nothing_left, 30, interval=2, what="a second backfill enqueuing none")
        assert len(p.summary(order)["payments"]) == 1
        text = tally("backfill", "--since", "10m", "--dry-run")
        assert "would be enqueued" in text
    finally:
        s.stripe_sim_delivery(auto=True)


def test_unknown_stack_and_flow_are_clear_errors(tally):
    out = subprocess.run([str(ROOT / "target" / "debug" / "tally"), "--stack", "no-such-stack", "status"],
                         env={**os.environ}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no-such-stack" in out.stderr
    with pytest.raises(AssertionError, match="no flow"):
        tally("dlq", "list", "refunds")


def test_an_orders_story(stack, tally, platform):
    s, p = stack, platform
    placed = p.place_order(currency="USD")
    order, number = placed["id"], placed["number"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")
    wait_until(lambda: s.erp.entries(order, p.store, p.name) or None, 60, interval=1, what="the ERP entry")
    story = wait_until(lambda: (lambda st: st if any(x["step"] == "erp-payment" and x["status"] == "completed"
                                                    for x in st["steps"]) else None)(
        json.loads(tally("order", p.name, order, "--store", p.store, "--json"))), 30, interval=1,
        what="the ERP step in the story")
    assert story["order"] == f"{p.name}/{p.store}/{order}"
    assert story["payment_intent"] == pi["id"]
    assert all(st["status"] == "completed" for st in story["steps"]), story["steps"]
    types = {e["event_type"] for e in story["events"]}
    assert {"payment_intent.succeeded", "charge.succeeded"} <= types, types
    text = tally("order", p.name, order)
    assert pi["id"] in text and "payment_intent.succeeded" in text
    # by the number the merchant sees (found through the PaymentIntent's metadata)
    by_number = json.loads(tally("order", p.name, number, "--json"))
    assert (by_number["order"], by_number["payment_intent"]) == (story["order"], pi["id"])
    tally("order", p.name, "999999999", expect=1)


def test_replay_of_an_orders_events_changes_nothing_twice(stack, tally):
    s, p = stack, stack.platforms["znode"]
    order = p.place_order(currency="JPY", items=[{"sku": "T", "name": "Tea", "qty": 1, "price": "1200"}])["id"]
    pi = wait_for_payment_intent(s, p, order)
    assert pay(s, pi["id"]).status_code == 200
    wait_for_payment_state(p, order, "paid")
    wait_until(lambda: s.erp.entries(order, p.store, p.name) or None, 60, interval=1, what="the ERP entry")
    key = f"{p.name}/{p.store}/{order}"

    def effects():
        return (len(p.summary(order)["payments"]), len(s.erp.entries(order, p.store, p.name)),
                len(s.payment_intents_for(order, p.name)), len(p.notes(order)))

    before = effects()
    dry = json.loads(tally("replay", "--from", "10m", "--order", key, "--dry-run", "--json"))
    types = {t for _, t in dry["events"]}
    assert {"payment_intent.succeeded", "charge.succeeded"} <= types, dry
    assert dry["enqueued"] == 0
    for _ in range(2):
        done = json.loads(tally("replay", "--from", "10m", "--order", key, "--json"))
        assert done["enqueued"] == len(dry["events"]) and done["skipped"] == [], done
        time.sleep(4)
        assert effects() == before, "a replay does nothing already done"
    typed = json.loads(tally("replay", "--from", "10m", "--order", key, "--type", "charge.succeeded", "--dry-run",
                             "--json"))
    assert {t for _, t in typed["events"]} == {"charge.succeeded"}


def test_webhooks_setup_registers_the_routed_types_once_and_fixes_drift(stack, tally):
    s = stack
    url = f"http://127.0.0.1:9/tally-setup-{uuid.uuid4().hex[:8]}"  # nothing listens: no delivery lands
    before = json.loads(s.secrets.get_secret_value(SecretId=s["STRIPE_WEBHOOK_SECRET_ID"])["SecretString"])
    assert json.loads(tally("webhooks", "setup", "--url", url, "--dry-run", "--json"))["action"] == "would create"
    made = json.loads(tally("webhooks", "setup", "--url", url, "--json"))
    try:
        assert made["action"] == "created" and made["secret_stored"], made
        endpoint = s.stripe.call("GET", f"/v1/webhook_endpoints/{made['endpoint']}").json()
        assert set(endpoint["enabled_events"]) == set(made["enabled_events"])
        assert {"payment_intent.succeeded", "refund.created", "payout.paid"} <= set(endpoint["enabled_events"])
        after = json.loads(s.secrets.get_secret_value(SecretId=s["STRIPE_WEBHOOK_SECRET_ID"])["SecretString"])
        kept = after["webhook_signing_secrets"]
        assert kept[0].startswith("whsec_") and kept[1:] == before["webhook_signing_secrets"], "new first, old kept"
        assert json.loads(tally("webhooks", "setup", "--url", url, "--json"))["action"] == "unchanged"
        s.stripe.call("POST", f"/v1/webhook_endpoints/{made['endpoint']}", {"enabled_events[]": "charge.succeeded",
                                                                            "disabled": "true"})
        assert json.loads(tally("webhooks", "setup", "--url", url, "--json"))["action"] == "updated"
        fixed = s.stripe.call("GET", f"/v1/webhook_endpoints/{made['endpoint']}").json()
        assert fixed["status"] == "enabled" and set(fixed["enabled_events"]) == set(made["enabled_events"])
    finally:
        s.stripe.call("POST", f"/v1/webhook_endpoints/{made['endpoint']}", {"disabled": "true"})


def test_status_shows_when_each_poller_last_finished(stack, tally):
    s = stack
    s.poll("kentico")
    status = json.loads(tally("status", "--events", "--json", expect=None))
    polls = dict((name, at) for name, at in status["last_polls"])
    assert time.time() * 1000 - polls["poller/kentico/DancingGoat"] < 60_000, polls
    assert status["events_last_hour"] is not None and status["events_last_hour"] > 0


def test_magento_webhooks_are_subscribed_through_its_api_and_orders_arrive_by_them(stack, tally):
    s, p = stack, stack.platforms["magento"]
    base = s["MAGENTO_BASE_URL"]
    token = s["MAGENTO_TOKEN"]
    headers = {"Authorization": f"Bearer {token}"}

    def subscribed():
        listed = requests.get(f"{base}/rest/all/V1/webhooks/list", headers=headers, timeout=10).json()
        return {h["hook_name"]: h for h in listed if h["batch_name"] == "tally"}

    # the emulator's reachable form of the MagentoWebhookUrl output (on AWS the default is right)
    url = ["--url", s["MAGENTO_WEBHOOK_URL"]]
    dry = json.loads(tally("webhooks", "setup", "--platform", "magento", *url, "--dry-run", "--json"))
    assert [h["action"] for h in dry["hooks"]] == ["would be created"] * 2 and not subscribed()
    made = json.loads(tally("webhooks", "setup", "--platform", "magento", *url, "--json"))
    try:
        assert made["url"] == s["MAGENTO_WEBHOOK_URL"] and [h["action"] for h in made["hooks"]] == ["created"] * 2
        hooks = subscribed()
        assert hooks["order_placed"]["webhook_method"] == "observer.sales_order_place_after"
        assert hooks["creditmemo_saved"]["webhook_method"] == "observer.sales_order_creditmemo_save_after"
        assert all(h["url"] == made["url"] and h["required"] is False for h in hooks.values()), hooks
        assert [h["action"] for h in json.loads(tally("webhooks", "setup", "--platform", "magento", *url, "--json"))["hooks"]] \
            == ["unchanged"] * 2
        # an order reaches Tally through the subscription alone
        requests.delete(f"{base}/_sim/webhooks", timeout=10).raise_for_status()
        order = p.place_order(currency="USD")["id"]
        assert wait_for_payment_intent(s, p, order, timeout=30)
        # drifted (another URL): put back
        requests.post(f"{base}/rest/all/V1/webhooks/subscribe", headers=headers, timeout=10, json={"webhook": {
            **hooks["order_placed"], "url": "https://elsewhere.example/hook"}}).raise_for_status()
        again = json.loads(tally("webhooks", "setup", "--platform", "magento", *url, "--json"))
        assert [h["action"] for h in again["hooks"]] == ["updated", "unchanged"], again
        assert subscribed()["order_placed"]["url"] == made["url"]
        kentico = json.loads(tally("webhooks", "setup", "--platform", "kentico", "--json"))
        assert kentico["hooks"] == [] and "admin" in kentico["notes"][0]
    finally:
        for name, hook in subscribed().items():
            requests.post(f"{base}/rest/all/V1/webhooks/unsubscribe", headers=headers, timeout=10, json={
                "webhook": {k: hook[k] for k in ("webhook_method", "webhook_type", "batch_name", "hook_name")}})
        requests.delete(f"{base}/_sim/webhooks", timeout=10)
        requests.post(f"{base}/_sim/webhooks", json={"url": s["MAGENTO_WEBHOOK_URL"]}, timeout=10).raise_for_status()
