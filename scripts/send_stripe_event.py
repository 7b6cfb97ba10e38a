"""Posts a signed Stripe event to the local stack's webhook Function URL.

    .venv/bin/python scripts/send_stripe_event.py [EVENT_TYPE] [--file event.json]

Without --file it builds a minimal event of EVENT_TYPE (default payment_intent.succeeded)."""

import argparse
import sys

from tally_local import Stack, load_env, post, sign, stripe_event, wait_until


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("event_type", nargs="?", default="payment_intent.succeeded")
    parser.add_argument("--file", help="a Stripe event JSON file to send as is")
    args = parser.parse_args()
    stack = Stack(load_env())
    body = open(args.file, "rb").read() if args.file else stripe_event(args.event_type)
    status, answer = post(stack["STRIPE_WEBHOOK_URL"], body, sign(body, stack["STRIPE_WEBHOOK_SECRET"]))
    print(f"POST {stack['STRIPE_WEBHOOK_URL']} -> {status} {answer}")
    if status != 200 or answer.get("ignored"):
        return 0 if status == 200 else 1
    import json

    event_id = json.loads(body)["id"]
    try:
        item = wait_until(lambda: stack.recorded_event(event_id), timeout=20, what=f"{event_id} in the events table")
        print(f"recorded in {stack['EVENTS_TABLE']}: " + ", ".join(f"{k}={list(v.values())[0]}" for k, v in sorted(item.items())))
    except AssertionError:
        print("not in the events table (only the payments flow records events so far; other flows queue them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
