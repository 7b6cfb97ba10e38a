"""Tally's signature code against Stripe's official Python SDK, both ways:
headers the SDK generates verify in Tally, and headers Tally generates pass
stripe.Webhook.construct_event. Neither side is code we wrote for the other."""

import json
import os
import subprocess
import time

import pytest
import stripe

from tally_local import stripe_event

SECRET = "whsec_crosscheck_" + "k" * 24


def tally(cli, *args, body: bytes, secret: str = SECRET):
    return subprocess.run(
        [str(cli), *args],
        input=body,
        capture_output=True,
        env={**os.environ, "STRIPE_WEBHOOK_SECRET": secret},
    )


BODIES = [
    stripe_event("payment_intent.succeeded"),
    # non-ASCII, escaped characters and whitespace exactly as a body may carry them
    json.dumps({"id": "evt_ü", "object": "event", "type": "customer.updated", "data": {"object": {"name": "Zoë \"Z\" Ünal", "x": "\\n"}}}, indent=2, ensure_ascii=False).encode(),
]


@pytest.mark.parametrize("body", BODIES)
def test_headers_from_stripes_sdk_verify_in_tally(signature_cli, body):
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    result = tally(signature_cli, "verify", "--header", header, body=body)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("body", BODIES)
def test_headers_from_tally_pass_stripes_construct_event(signature_cli, body):
    header = tally(signature_cli, "sign", body=body).stdout.decode().strip()
    event = stripe.Webhook.construct_event(body, header, SECRET)
    assert event["id"] == json.loads(body)["id"]


def test_both_reject_the_same_tampering(signature_cli):
    body = stripe_event("charge.succeeded")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    tampered = body.replace(b"1099", b"1098")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, SECRET)
    assert tally(signature_cli, "verify", "--header", header, body=tampered).returncode == 1

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_other")
    assert tally(signature_cli, "verify", "--header", header, body=body, secret="whsec_other").returncode == 1


def test_both_enforce_the_same_tolerance(signature_cli):
    body = stripe_event("charge.succeeded")
    old = int(time.time()) - 301
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, old)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, SECRET, tolerance=300)
    assert tally(signature_cli, "verify", "--header", header, "--tolerance", "300", body=body).returncode == 1
    # inside the tolerance both accept
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, old + 10)
    stripe.Webhook.construct_event(body, header, SECRET, tolerance=300)
    assert tally(signature_cli, "verify", "--header", header, "--tolerance", "300", body=body).returncode == 0


def test_tally_signs_what_stripes_sdk_signs(signature_cli):
    body = stripe_event("payout.paid")
    t = 1_700_000_000
    ours = tally(signature_cli, "sign", "--timestamp", str(t), body=body).stdout.decode().strip()
    assert ours == stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, t)
