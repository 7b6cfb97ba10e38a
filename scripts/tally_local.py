"""Helpers for talking to the local stack described by .tally/local.env:
used by the end-to-end tests, the demo and `scripts/send_stripe_event.py`."""

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import stripe

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV = ROOT / ".tally" / "local.env"


def load_env() -> dict:
    if not LOCAL_ENV.exists():
        raise RuntimeError(f"{LOCAL_ENV} is missing: run `make up` first")
    env = {}
    for line in LOCAL_ENV.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


class Stack:
    """The deployed local stack: its names, and AWS clients pointed at the emulator."""

    def __init__(self, env: dict):
        self.env = env
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_REGION"],
        )
        endpoint = env["AWS_ENDPOINT_URL"]
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.secrets = session.client("secretsmanager", endpoint_url=endpoint)

    def __getitem__(self, key: str) -> str:
        return self.env[key]

    def recorded_event(self, event_id: str):
        item = self.dynamodb.get_item(
            TableName=self["EVENTS_TABLE"], Key={"event_id": {"S": event_id}}, ConsistentRead=True
        ).get("Item")
        return item

    def count_events(self, event_id: str) -> int:
        out = self.dynamodb.query(
            TableName=self["EVENTS_TABLE"],
            KeyConditionExpression="event_id = :id",
            ExpressionAttributeValues={":id": {"S": event_id}},
            ConsistentRead=True,
        )
        return out["Count"]

    def queue_depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def new_event_id() -> str:
    return "evt_test_" + uuid.uuid4().hex[:20]


def stripe_event(event_type: str, event_id: str | None = None, obj: dict | None = None) -> bytes:
    """A Stripe event body as Stripe sends it (compact JSON, newest fields optional)."""
    if obj is None:
        kind = event_type.split(".")[0]
        prefix = {"payment_intent": "pi", "charge": "ch", "customer": "cus", "payout": "po", "refund": "re"}.get(kind, "obj")
        obj = {"id": f"{prefix}_{uuid.uuid4().hex[:14]}", "object": kind, "amount": 1099, "currency": "usd"}
    event = {
        "id": event_id or new_event_id(),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Signs with Stripe's own SDK, so what we post is what Stripe would send."""
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def post(url: str, body: bytes, signature: str | None, method: str = "POST") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"{}")
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
