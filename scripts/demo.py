"""`make demo`: sends Stripe events through the deployed local stack and prints
what happened to each, with times. Leaves the stack running until `make down`."""

import json
import time

from tally_local import Stack, load_env, post, sign, stripe_event, wait_until

T0 = time.monotonic()


def step(text: str) -> None:
    print(f"  +{(time.monotonic() - T0) * 1000:7.0f} ms  {text}")


def main() -> None:
    stack = Stack(load_env())
    url, secret = stack["STRIPE_WEBHOOK_URL"], stack["STRIPE_WEBHOOK_SECRET"]
    print(f"\nTally local stack: webhook {url}\n")

    body = stripe_event("payment_intent.succeeded")
    event = json.loads(body)
    print(f"1. payment_intent.succeeded {event['id']} ({event['data']['object']['id']}), signed like Stripe signs it")
    status, answer = post(url, body, sign(body, secret))
    step(f"webhook answered {status} {answer}")
    item = wait_until(lambda: stack.recorded_event(event["id"]), 30, 0.1, "the event in the events table")
    step(f"payments handler recorded it in {stack['EVENTS_TABLE']} (type {item['event_type']['S']}, object {item['object_id']['S']})")

    print("\n2. the same event delivered twice more (Stripe delivers at least once)")
    for _ in range(2):
        status, _ = post(url, body, sign(body, secret))
        step(f"webhook answered {status}")
    time.sleep(2)
    step(f"events table still holds {stack.count_events(event['id'])} item for {event['id']}")

    print("\n3. a forged event (wrong signing secret)")
    forged = stripe_event("payment_intent.succeeded")
    status, answer = post(url, forged, sign(forged, "whsec_attacker"))
    step(f"webhook answered {status} {answer}; nothing enqueued")

    print("\n4. an event type no flow handles yet (plan.created)")
    other = stripe_event("plan.created", obj={"id": "plan_demo", "object": "plan"})
    status, answer = post(url, other, sign(other, secret))
    step(f"webhook answered {status} {answer}")

    print(
        f"""
Post your own events:
  .venv/bin/python scripts/send_stripe_event.py charge.succeeded
or with curl:
  set -a; . .tally/local.env; set +a
  body='{{"id":"evt_mine_1","object":"event","type":"payment_intent.succeeded","created":'$(date +%s)',"livemode":false,"data":{{"object":{{"id":"pi_mine","object":"payment_intent"}}}}}}'
  sig=$(printf '%s' "$body" | cargo run -q -p tally-core --bin tally-stripe-signature -- sign)
  curl -sS "$STRIPE_WEBHOOK_URL" -H "Stripe-Signature: $sig" -H 'Content-Type: application/json' --data-raw "$body"

Where to look: .tally/local.env (endpoints, queue and table names), .tally/ministack.log (Lambda logs).
The stack keeps running; `make down` stops it.
"""
    )


if __name__ == "__main__":
    main()
