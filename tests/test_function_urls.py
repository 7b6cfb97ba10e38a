"""The public Function URLs, each webhook receiver deployed on the local stack: a body over the
receiver's limit is refused before it is verified (413), any method but POST is refused (405), a
signature replayed after the tolerance is refused (400) where the sender's contract signs a
timestamp, and none of these answers carries a secret or enqueues anything. (The Stripe
endpoint's own cases are in test_stripe_webhook_e2e.py.)"""

import hashlib
import hmac
import json
import time

import pytest
import requests

from tally_local import sign

# every webhook Function URL, with the secret its sender holds
RECEIVERS = ["STRIPE", "MAGENTO", "ZNODE", "KENTICO", "CLARITY", "STOREFRONT"]
LIMIT = 256 * 1024


def depths(s) -> int:
    return s.queue_depth(s["PAYMENTS_QUEUE_URL"]) + s.queue_depth(s["PAYOUTS_QUEUE_URL"])


def secrets_of(s) -> list[str]:
    return [v for k, v in s.env.items() if k.endswith(("_SECRET", "_SECRET_SECONDARY", "_TOKEN", "_API_KEY", "_PASSWORD"))
            and len(v) >= 8]


def tally_signature(secret: str, at: int, body: bytes) -> str:
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


def assert_refused(s, response: requests.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    for secret in secrets_of(s):
        assert secret not in response.text


@pytest.mark.parametrize("receiver", RECEIVERS)
def test_an_oversize_body_is_413_before_anything_else(stack, receiver):
    s = stack
    url = s[f"{receiver}_WEBHOOK_URL"]
    body = b'{"id":"evt_big","padding":"' + b"x" * (LIMIT + 1) + b'"}'
    before = depths(s)
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, s["STRIPE_WEBHOOK_SECRET"]),
               "X-Tally-Signature": "t=1,v1=00"}
    assert_refused(s, requests.post(url, data=body, headers=headers, timeout=60), 413)
    time.sleep(1)
    assert depths(s) <= before


@pytest.mark.parametrize("receiver", RECEIVERS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_any_method_but_post_is_405(stack, receiver, method):
    s = stack
    before = depths(s)
    assert_refused(s, requests.request(method, s[f"{receiver}_WEBHOOK_URL"], data=b"{}", timeout=30), 405)
    assert depths(s) <= before


@pytest.mark.parametrize("receiver", ["STRIPE", "KENTICO", "CLARITY", "STOREFRONT"])
def test_a_signature_replayed_after_the_tolerance_is_400(stack, receiver):
    """A request captured and sent again later: the signature is genuine, its timestamp too old."""
    s = stack
    body = json.dumps({"id": "evt_replayed", "object": "event", "type": "payment_intent.succeeded",
                       "event": "order.created", "data": {"object": {"id": "pi_x", "object": "payment_intent"},
                                                          "orderId": "1"}}).encode()
    secret = s[f"{receiver}_WEBHOOK_SECRET"]
    old = int(time.time()) - 301
    header = ("Stripe-Signature", sign(body, secret, old)) if receiver == "STRIPE" \
        else ("X-Tally-Signature", tally_signature(secret, old, body))
    before = depths(s)
    replayed = requests.post(s[f"{receiver}_WEBHOOK_URL"], data=body, timeout=30,
                             headers={"Content-Type": "application/json", header[0]: header[1]})
    assert_refused(s, replayed, 400)
    assert depths(s) <= before
