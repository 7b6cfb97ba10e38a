"""End to end on the stack `make up` deployed into the emulator: a Stripe event,
signed by Stripe's SDK, posted to the webhook Function URL, verified, enqueued
on SQS, consumed by the payments handler through its event source mapping and
recorded once in DynamoDB. Nothing here talks to a mock."""

import json
import threading
import time
import uuid

import pytest

from e2e import pay, queue_messages_matching, wait_for_payment_intent
from tally_local import new_event_id, post, sign, stripe_event, wait_until

# Only the payments flow has a consumer; it records every event put on its queue,
# so "nothing enqueued" is "no record and nothing new in its DLQ".


def depths(stack):
    return {key: stack.queue_depth(stack[key]) for key in ("PAYMENTS_DLQ_URL", "PAYOUTS_DLQ_URL")}


def assert_nothing_enqueued(stack, event_id, before):
    time.sleep(2)
    assert depths(stack) == before
    assert stack.recorded_event(event_id) is None


def signed(stack, body, secret_key="STRIPE_WEBHOOK_SECRET", timestamp=None):
    return sign(body, stack[secret_key], timestamp)


def find_message(stack, queue_key, event_id, timeout=10.0):
    """Looks at a queue without consuming it for a message of `event_id` (all of it, not SQS's first 10)."""
    deadline = time.monotonic() + timeout
    while True:
        found = queue_messages_matching(
            stack, stack[queue_key],
            lambda m: m.get("MessageAttributes", {}).get("event_id", {}).get("StringValue") == event_id)
        if found or time.monotonic() >= deadline:
            return found[0] if found else None
        time.sleep(0.3)


def wait_for_drain(stack, queue_key="PAYMENTS_QUEUE_URL", timeout=30):
    wait_until(lambda: stack.queue_depth(stack[queue_key]) == 0, timeout, what=f"{queue_key} to drain")


def test_signed_event_is_recorded_by_the_handler(stack):
    body = stripe_event("payment_intent.succeeded")
    event = json.loads(body)
    status, answer = post(stack["STRIPE_WEBHOOK_URL"], body, signed(stack, body))
    assert (status, answer) == (200, {"received": True})
    item = wait_until(lambda: stack.recorded_event(event["id"]), 30, what="the event in the events table")
    assert item["event_type"]["S"] == "payment_intent.succeeded"
    assert item["object_id"]["S"] == event["data"]["object"]["id"]
    assert item["object_type"]["S"] == "payment_intent"
    assert int(item["created"]["N"]) == event["created"]
    assert item["flow"]["S"] == "payments"
    assert int(item["expires_at"]["N"]) > time.time()


def test_same_event_delivered_three_times_is_recorded_once(stack):
    body = stripe_event("charge.succeeded", obj={"id": "ch_" + uuid.uuid4().hex[:12], "object": "charge", "amount": 500,
                                                 "currency": "usd", "status": "succeeded", "paid": True,
                                                 "created": int(time.time()), "livemode": False})
    event_id = json.loads(body)["id"]
    header = signed(stack, body)
    statuses = []
    # two at once (racing claims) and one after
    threads = [threading.Thread(target=lambda: statuses.append(post(stack["STRIPE_WEBHOOK_URL"], body, header)[0])) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses.append(post(stack["STRIPE_WEBHOOK_URL"], body, header)[0])
    assert statuses == [200, 200, 200]
    wait_until(lambda: stack.recorded_event(event_id), 30, what="the event in the events table")
    wait_for_drain(stack)
    assert stack.count_events(event_id) == 1


def test_bad_signature_is_400_and_nothing_is_enqueued(stack):
    before = depths(stack)
    for event_type in ["payment_intent.succeeded", "customer.created"]:
        body = stripe_event(event_type)
        wrong = sign(body, "whsec_not_the_configured_secret")
        status, answer = post(stack["STRIPE_WEBHOOK_URL"], body, wrong)
        assert status == 400
        assert "signature" in answer["error"]
        assert "whsec" not in json.dumps(answer)
        assert_nothing_enqueued(stack, json.loads(body)["id"], before)


@pytest.mark.parametrize(
    "case",
    ["no header", "garbage header", "stale timestamp", "tampered body", "not an event", "oversize", "GET"],
)
def test_rejections_have_their_status(stack, case):
    before = depths(stack)
    body = stripe_event("customer.updated" if case == "tampered body" else "payment_intent.succeeded")
    url = stack["STRIPE_WEBHOOK_URL"]
    if case == "no header":
        assert post(url, body, None)[0] == 400
    elif case == "garbage header":
        assert post(url, body, "t=,v1=")[0] == 400
    elif case == "stale timestamp":
        assert post(url, body, signed(stack, body, timestamp=int(time.time()) - 400))[0] == 400
    elif case == "tampered body":
        assert post(url, body.replace(b"1099", b"9999"), signed(stack, body))[0] == 400
    elif case == "not an event":
        other = b'{"id":"pi_1","object":"payment_intent"}'
        assert post(url, other, signed(stack, other))[0] == 400
    elif case == "oversize":
        big = body[:-1] + b',"padding":"' + b"x" * (300 * 1024) + b'"}'
        assert post(url, big, signed(stack, big))[0] == 413
    elif case == "GET":
        assert post(url, b"", None, method="GET")[0] == 405
    assert_nothing_enqueued(stack, json.loads(body)["id"], before)


def test_second_signing_secret_is_accepted(stack):
    body = stripe_event("payment_intent.payment_failed")
    status, _ = post(stack["STRIPE_WEBHOOK_URL"], body, signed(stack, body, "STRIPE_WEBHOOK_SECRET_SECONDARY"))
    assert status == 200
    wait_until(lambda: stack.recorded_event(json.loads(body)["id"]), 30, what="the event in the events table")


def test_the_queued_envelope_carries_the_verified_event_verbatim(stack):
    """A test-mode handler refuses a livemode event and dead-letters it as queued,
    which shows the envelope the webhook built around the body Stripe signed."""
    event_id = new_event_id()
    body = stripe_event("payment_intent.succeeded", event_id).replace(b'"livemode":false', b'"livemode":true', 1)
    assert b'"livemode":true' in body
    assert post(stack["STRIPE_WEBHOOK_URL"], body, signed(stack, body))[0] == 200
    message = dlq_message(stack, event_id, timeout=60)
    try:
        attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert (attrs["event_type"], attrs["source"], attrs["schema_version"]) == ("payment_intent.succeeded", "stripe", "1")
        assert "livemode" in attrs["failure_reason"], attrs["failure_reason"]
        assert message["Body"].endswith(',"event":' + body.decode() + "}"), "the signed bytes, unescaped"
        envelope = json.loads(message["Body"])
        assert (envelope["schema_version"], envelope["source"], envelope["event_id"]) == (1, "stripe", event_id)
        assert abs(envelope["received_at_ms"] / 1000 - time.time()) < 120
        assert stack.recorded_event(event_id) is None, "a refused event is not journaled"
    finally:
        stack.sqs.delete_message(QueueUrl=stack["PAYMENTS_DLQ_URL"], ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.parametrize("event_type", ["plan.created", "invoice.paid", "charge.dispute.created", "payout.created"])
def test_event_types_without_a_consumer_are_acknowledged_not_enqueued(stack, event_type):
    """A flow's route comes with its consumer; until then its events are counted as ignored."""
    body = stripe_event(event_type, obj={"id": "x_1", "object": event_type.split(".")[0]})
    before = depths(stack)
    status, answer = post(stack["STRIPE_WEBHOOK_URL"], body, signed(stack, body))
    assert (status, answer) == (200, {"received": True, "ignored": True})
    assert_nothing_enqueued(stack, json.loads(body)["id"], before)


def test_rotated_secret_is_picked_up_without_redeploy(stack):
    original = stack.secrets.get_secret_value(SecretId=stack["STRIPE_WEBHOOK_SECRET_ID"])["SecretString"]
    rotated = "whsec_rotated_" + uuid.uuid4().hex
    try:
        stack.secrets.put_secret_value(
            SecretId=stack["STRIPE_WEBHOOK_SECRET_ID"], SecretString=json.dumps({"webhook_signing_secrets": [rotated]})
        )
        time.sleep(1.2)  # the local stack allows a forced refresh once a second
        body = stripe_event("payment_intent.succeeded")
        assert post(stack["STRIPE_WEBHOOK_URL"], body, sign(body, rotated))[0] == 200
        wait_until(lambda: stack.recorded_event(json.loads(body)["id"]), 30, what="the event in the events table")
        time.sleep(1.2)
        old = stripe_event("payment_intent.succeeded")
        assert post(stack["STRIPE_WEBHOOK_URL"], old, signed(stack, old))[0] == 400
    finally:
        stack.secrets.put_secret_value(SecretId=stack["STRIPE_WEBHOOK_SECRET_ID"], SecretString=original)
        time.sleep(1.2)
        warm = stripe_event("payment_intent.created")
        assert post(stack["STRIPE_WEBHOOK_URL"], warm, signed(stack, warm))[0] == 200


def dlq_message(stack, event_id, timeout):
    return wait_until(lambda: find_message(stack, "PAYMENTS_DLQ_URL", event_id, timeout=1), timeout, interval=1, what=f"{event_id} in the payments DLQ")


def hold(stack, key: str) -> dict:
    """The step `key` claimed by a worker that is still at it (its lease has an hour to run)."""
    held = {"S": key}
    stack.dynamodb.put_item(
        TableName=stack["IDEMPOTENCY_TABLE"],
        Item={
            "pk": held,
            "status": {"S": "IN_PROGRESS"},
            "claim_token": {"S": "held-by-another-worker"},
            "lease_expires_at": {"N": str(int(time.time()) + 3600)},
            "expires_at": {"N": str(int(time.time()) + 7200)},
        },
    )
    return held


def succeeded_event(pi) -> tuple[str, bytes]:
    succeeded = {**pi, "status": "succeeded", "amount_received": pi["amount"],
                 "latest_charge": "ch_" + uuid.uuid4().hex[:14]}
    event_id = new_event_id()
    return event_id, stripe_event("payment_intent.succeeded", event_id, obj=succeeded)


def test_retryable_failure_backs_off_then_is_dead_lettered_with_its_reason(stack):
    """Magento answers 503 to the invoice every time: the handler fails retryably, sets each
    retry's delay itself (1 s, then 2 s on the local stack, where the queue's visibility
    timeout is 10 s) and, on the last allowed delivery (3), dead-letters the message with the
    last reason, before the redrive policy (5) would."""
    m = stack.magento
    order_id = m.place_order(items=[{"sku": "H", "name": "Held", "qty": 1, "price": "5.00"}])["id"]
    pi = wait_for_payment_intent(stack, m, order_id)
    m.fault(m.payment_write(order_id), status=503, count=100)
    try:
        event_id, body = succeeded_event(pi)
        started = time.monotonic()
        assert post(stack["STRIPE_WEBHOOK_URL"], body, signed(stack, body))[0] == 200
        message = dlq_message(stack, event_id, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        m.clear_faults()
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs["deliveries"] == "3"
    reason = attrs["failure_reason"]
    assert "after 3 deliveries" in reason and "503" in reason, reason
    # two visibility timeouts of 10 s would take 20 s; the handler's own delays take about 3 s
    assert elapsed < 18, f"{elapsed:.1f} s: the retry delays were not applied"
    assert json.loads(message["Body"])["event_id"] == event_id
    assert stack.count_events(event_id) == 1, "journaled once, whatever its retries"
    assert m.summary(order_id)["payment_state"] == "awaiting"
    stack.sqs.delete_message(QueueUrl=stack["PAYMENTS_DLQ_URL"], ReceiptHandle=message["ReceiptHandle"])


def test_a_step_held_by_another_worker_is_waited_for_not_dead_lettered(stack):
    """Found by the 10,000-event chaos run: events about one order arriving together, the
    ones that found a step held by another worker spent their deliveries waiting and went to
    the DLQ. Now a message whose deliveries run out while the step is held goes back on the
    queue to wait (attribute `waits`), and does the work once the holder lets go."""
    m = stack.magento
    order_id = m.place_order(items=[{"sku": "W", "name": "Waits", "qty": 1, "price": "6.00"}])["id"]
    pi = wait_for_payment_intent(stack, m, order_id)
    held = hold(stack, f"o2c/magento/default/{order_id}/invoice")

    def dead_letters() -> list:
        return queue_messages_matching(stack, stack["PAYMENTS_DLQ_URL"], lambda msg: pi["id"] in msg["Body"])

    try:
        assert pay(stack, pi["id"]).status_code == 200
        # three deliveries take about 3 s locally; by 12 s its events have waited at least once
        time.sleep(12)
        assert dead_letters() == []
        assert m.summary(order_id)["payment_state"] == "awaiting", "the held step is not done twice"
    finally:
        stack.dynamodb.delete_item(TableName=stack["IDEMPOTENCY_TABLE"], Key={"pk": held})
    wait_until(lambda: m.summary(order_id)["payment_state"] == "paid", 60, what=f"order {order_id} paid")
    invoices = [r for r in m.requests_log(path_contains=f"/order/{order_id}/invoice") if r["method"] == "POST"]
    assert len(invoices) == 1, invoices
    wait_for_drain(stack)
    assert dead_letters() == []


def test_permanent_failure_is_dead_lettered_at_once_with_its_reason(stack):
    event_id = new_event_id()
    stack.sqs.send_message(
        QueueUrl=stack["PAYMENTS_QUEUE_URL"],
        MessageBody=json.dumps({"schema_version": 99, "source": "stripe", "event_id": event_id}),
        MessageAttributes={"event_id": {"DataType": "String", "StringValue": event_id}},
    )
    started = time.monotonic()
    message = dlq_message(stack, event_id, timeout=30)
    # dead-lettered by the handler on first delivery, not after redrive's retries
    assert time.monotonic() - started < 25
    reason = message["MessageAttributes"]["failure_reason"]["StringValue"]
    assert "schema version" in reason or "not a valid queue envelope" in reason, reason
    assert "failed_at_ms" in message["MessageAttributes"]
    stack.sqs.delete_message(QueueUrl=stack["PAYMENTS_DLQ_URL"], ReceiptHandle=message["ReceiptHandle"])
