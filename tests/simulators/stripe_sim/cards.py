"""Stripe's test PaymentMethods (https://docs.stripe.com/testing#declined-payments) and the
charge outcome each produces. Using one of these ids mints a new `pm_...` object, as Stripe
does; the minted object remembers which test card it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .state import Ctx, State, new_id


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str | None
    message: str
    seller_message: str


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.",
                  "The bank did not return any further details with this decline.")
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.",
                       "The bank returned the decline code `insufficient_funds`.")
LOST = Decline("card_declined", "lost_card", "Your card was declined.",
               "The bank returned the decline code `lost_card`.")
STOLEN = Decline("card_declined", "stolen_card", "Your card was declined.",
                 "The bank returned the decline code `stolen_card`.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.",
                  "The bank returned the decline code `expired_card`.")
CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.",
              "The bank returned the decline code `incorrect_cvc`.")
PROCESSING = Decline("processing_error", "processing_error",
                     "An error occurred while processing your card. Try again in a little bit.",
                     "The bank returned the decline code `processing_error`.")


@dataclass(frozen=True)
class Card:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None


TEST_PAYMENT_METHODS: dict[str, Card] = {
    "pm_card_visa": Card("4242424242424242", "visa"),
    "pm_card_visa_debit": Card("4000056655665556", "visa", "debit"),
    "pm_card_mastercard": Card("5555555555554444", "mastercard"),
    "pm_card_amex": Card("378282246310005", "amex"),
    "pm_card_chargeDeclined": Card("4000000000000002", "visa", decline=GENERIC),
    "pm_card_visa_chargeDeclined": Card("4000000000000002", "visa", decline=GENERIC),
    "pm_card_chargeDeclinedInsufficientFunds": Card("4000000000009995", "visa", decline=INSUFFICIENT),
    "pm_card_visa_chargeDeclinedInsufficientFunds": Card("4000000000009995", "visa", decline=INSUFFICIENT),
    "pm_card_chargeDeclinedLostCard": Card("4000000000009987", "visa", decline=LOST),
    "pm_card_visa_chargeDeclinedLostCard": Card("4000000000009987", "visa", decline=LOST),
    "pm_card_chargeDeclinedStolenCard": Card("4000000000009979", "visa", decline=STOLEN),
    "pm_card_visa_chargeDeclinedStolenCard": Card("4000000000009979", "visa", decline=STOLEN),
    "pm_card_chargeDeclinedExpiredCard": Card("4000000000000069", "visa", decline=EXPIRED),
    "pm_card_chargeDeclinedIncorrectCvc": Card("4000000000000127", "visa", decline=CVC),
    "pm_card_chargeDeclinedProcessingError": Card("4000000000000119", "visa", decline=PROCESSING),
    # "Attaching this card to a Customer object succeeds, but attempts to charge the customer fail."
    "pm_card_chargeCustomerFail": Card("4000000000000341", "visa", decline=GENERIC),
}


def mint(state: State, ctx: Ctx, test_id: str) -> dict[str, Any]:
    card = TEST_PAYMENT_METHODS[test_id]
    pm = {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {"city": None, "country": None, "line1": None, "line2": None,
                        "postal_code": None, "state": None},
            "email": None, "name": None, "phone": None,
        },
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "unchecked"},
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": hashlib.sha1(card.number.encode()).hexdigest()[:16],
            "funding": card.funding,
            "generated_from": None,
            "last4": card.number[-4:],
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": ctx.now,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
        "_test_card": test_id,
    }
    return state.put("payment_method", pm)


def resolve(state: State, ctx: Ctx, pm_id: Any, param: str = "payment_method", status: int | None = None) -> dict[str, Any]:
    """A stored PaymentMethod, minting one for a test id (`pm_card_visa`)."""
    if isinstance(pm_id, str) and pm_id in TEST_PAYMENT_METHODS:
        return mint(state, ctx, pm_id)
    return state.require("payment_method", pm_id, param, status)


def decline_for(pm: dict[str, Any]) -> Decline | None:
    test = pm.get("_test_card")
    return TEST_PAYMENT_METHODS[test].decline if test else None
