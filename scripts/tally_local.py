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
import requests
import stripe

from tally_platforms import PlatformSim, platforms_of

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV = ROOT / ".tally" / "local.env"
LOCALSTRIPE_ENV = ROOT / ".tally" / "localstripe.env"
TRYTON_ENV = ROOT / ".tally" / "tryton.env"
TRYTON_SALES_ENV = ROOT / ".tally" / "tryton-sales.env"


def load_env(path: Path = LOCAL_ENV) -> dict:
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make up` first")
    env = {}
    for line in path.read_text().splitlines():
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

    def peek_messages(self, queue_url: str) -> list:
        """Every message in the queue, without consuming any. SQS answers at most 10 at a time, and a
        DLQ holds more: each read hides what it returned for a few seconds, so the next read returns
        others, until none are left; then all are made visible again (the receipt handles of what is
        returned stay valid for deleting)."""
        read, seen = [], set()
        while True:
            out = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=5,
                                           WaitTimeSeconds=0, MessageAttributeNames=["All"])
            batch = [m for m in out.get("Messages", []) if m["MessageId"] not in seen]
            if not batch:
                break
            seen.update(m["MessageId"] for m in batch)
            read.extend(batch)
        for m in read:
            try:
                self.sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"],
                                                   VisibilityTimeout=0)
            except Exception:  # noqa: BLE001 - deleted or read again meanwhile: nothing to give back
                pass
        return read

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
        # Complete enough for the handler's typed parsing; no order metadata, so
        # order-to-cash acknowledges it as "not an order of this platform".
        obj = {"id": f"{prefix}_{uuid.uuid4().hex[:14]}", "object": kind, "amount": 1099, "currency": "usd",
               "status": "succeeded", "paid": True, "created": int(time.time()), "livemode": False, "metadata": {}}
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


class Erp:
    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def entries(self, order_id=None, store: str = "default", platform: str | None = None) -> list:
        entries = requests.get(f"{self.base}/_sim/entries", timeout=30).json()
        entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
        if order_id is None:
            return entries
        return [e for e in entries
                if str(e.get("references", {}).get("order_id")) == str(order_id)
                and e.get("references", {}).get("store") == store
                and platform in (None, e.get("references", {}).get("platform"))]


    def sales_orders(self, order_id, store: str = "default", platform: str | None = None) -> list:
        """The sales orders posted for an order (erp.paid_orders sales_order or both)."""
        params = {"order_id": str(order_id), "store": store, **({"platform": platform} if platform else {})}
        return requests.get(f"{self.base}/_sim/sales-orders", params=params, timeout=30).json()["sales_orders"]

    def credit_memos(self, sales_order_key: str) -> list:
        return requests.get(f"{self.base}/_sim/credit-memos", params={"sales_order": sales_order_key},
                            timeout=30).json()["credit_memos"]


class StripeHttp:
    """Raw Stripe calls (form-encoded, pinned version) against a fake Stripe."""

    def __init__(self, base: str, key: str):
        self.base, self.key = base.rstrip("/"), key

    def call(self, method: str, path: str, data=None, idempotency_key: str | None = None,
             params=None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}", "Stripe-Version": "2024-06-20"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return requests.request(method, self.base + path, data=data, params=params, headers=headers, timeout=30)

    def all_payment_intents(self) -> list:
        """Every PaymentIntent, paging with starting_after (localstripe has no search)."""
        out, after = [], None
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            page = self.call("GET", "/v1/payment_intents", params=params).json()
            out.extend(page.get("data", []))
            if not page.get("has_more") or not page.get("data"):
                return out
            after = page["data"][-1]["id"]

    def call_sim(self, path: str):
        """The project's simulator's read API (`/_sim/...`); localstripe has none."""
        return requests.get(f"{self.base}/_sim/{path}", timeout=30).json()

    def call_sim_post(self, path: str, body: dict):
        """The project's simulator's controls (`POST /_sim/...`)."""
        r = requests.post(f"{self.base}/_sim/{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def search_order(self, order_id) -> list:
        return [p for p in self.all_payment_intents() if str(p.get("metadata", {}).get("order_id")) == str(order_id)]


class LocalStack(Stack):
    """One deployed local stack with its simulators, from its env file."""

    def __init__(self, env_path: Path = LOCAL_ENV):
        super().__init__(load_env(env_path))
        self.platforms: dict[str, PlatformSim] = platforms_of(self.env)
        self.magento = self.platforms["magento"]
        self.erp = Erp(self.env["ERP_BASE_URL"])
        self.stripe = StripeHttp(self.env["STRIPE_API_BASE"], self.env["STRIPE_API_KEY"])
        session = boto3.session.Session(
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_REGION"],
        )
        self.lambda_ = session.client("lambda", endpoint_url=self.env["AWS_ENDPOINT_URL"])
        for name, platform in self.platforms.items():
            platform.customer_poll = lambda name=name: self.poll(name)

    def poll_magento(self) -> dict:
        return self.poll("magento")

    def poll_znode(self) -> dict:
        return self.poll("znode")

    def poll(self, platform: str) -> dict:
        """Runs the platform's order poller once; its report."""
        function = self.env[self.platforms[platform].poller_key]
        out = self.lambda_.invoke(FunctionName=function, Payload=b"{}")
        payload = json.loads(out["Payload"].read() or b"null")
        if out.get("FunctionError"):
            raise AssertionError(f"poller failed: {payload}")
        return payload

    def backfill(self, **overrides) -> dict:
        """Runs the Stripe backfill function once (overrides: since_secs, min_age_secs, dry_run, ...); its report."""
        out = self.lambda_.invoke(FunctionName=self.env["STRIPE_BACKFILL_FUNCTION"],
                                  Payload=json.dumps(overrides).encode())
        payload = json.loads(out["Payload"].read() or b"null")
        if out.get("FunctionError"):
            raise AssertionError(f"backfill failed: {payload}")
        return payload

    def payment_intents_for(self, order_id, platform: str = "magento") -> list:
        return [p for p in self.stripe.search_order(order_id) if p.get("metadata", {}).get("platform") == platform]

    def stripe_sim_delivery(self, auto: bool, flush: bool = False) -> None:
        """Holds webhooks (auto False) or delivers again; `flush` sends what was held, else it is dropped."""
        requests.post(f"{self.stripe.base}/_sim/delivery", json={"auto": auto, "flush": flush},
                      timeout=10).raise_for_status()
