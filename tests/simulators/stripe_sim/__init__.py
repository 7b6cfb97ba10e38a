"""A Stripe API simulator (API version 2024-06-20) for what localstripe lacks: charge.* and
refund.* events, Idempotency-Key semantics, refund limits, retrying a declined PaymentIntent with
another payment method, `description`, and fault injection.

Run from tests/: `python -m simulators.stripe_sim --host 127.0.0.1 --port 4630`.
Modules: api (the /v1 pipeline), payment_intents, charges, refunds, customers, events, cards
(test payment methods), views (expand, lists, search), webhooks, faults, control (/_sim, /_config)."""

from .app import create_app

__all__ = ["create_app"]
