"""Times stripe-python's Webhook.construct_event on the same payload sizes as
the criterion benchmark (shared/core/benches/receiver.rs), for comparison.
Run: .venv/bin/python benches/stripe_python_construct_event.py"""

import time
import timeit

import stripe

SECRET = "whsec_bench_secret_0123456789"
# Stripe's own member order: id first, type last.
HEAD = '{"id":"evt_3PbenchAAAAAAAAAAAAAAAA","object":"event","api_version":"2024-06-20","created":1750000000,"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":"pi_3PbenchAAAAAAAAAAAAAAAA","object":"payment_intent","amount":1099,"currency":"usd","status":"succeeded","metadata":{"order_id":"100000123","note":"'
TAIL = '"}}},"type":"payment_intent.succeeded"}'


def event_of_size(size: int) -> str:
    return HEAD + "x" * (size - len(HEAD) - len(TAIL)) + TAIL


def main() -> None:
    print(f"stripe-python {stripe.VERSION}: Webhook.construct_event (verify + parse into a StripeObject)")
    for kib in (1, 4, 32):
        body = event_of_size(kib * 1024)
        header = stripe.WebhookSignature.generate_signature_header(body, SECRET, int(time.time()))
        timer = timeit.Timer(lambda: stripe.Webhook.construct_event(body, header, SECRET))
        loops, _ = timer.autorange()
        best = min(timer.repeat(repeat=5, number=loops)) / loops
        print(f"  {kib:>2} KiB: {best * 1e6:9.1f} µs per event")


if __name__ == "__main__":
    main()
