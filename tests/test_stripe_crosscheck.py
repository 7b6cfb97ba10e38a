"""The project's Stripe simulator (tests/simulators/stripe_sim) against localstripe.

The same raw HTTP calls, encoded as stripe-python encodes them and pinned to Stripe-Version
2024-06-20, go to both; they must agree on what Tally reads. Where localstripe is not Stripe, a
`test_gap_*` test asserts localstripe's behaviour *and* that the simulator does what Stripe's
documentation says, so the gap stays visible instead of being papered over. The simulator-only
tests at the end cover idempotency, fault injection and webhook retries, which localstripe lacks."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest
import requests
import stripe

from stripe_harness import (KEY, TESTS, Client, Receiver, free_port, localstripe_command, ref_id, running,
                            sim_command)

SECRET = "whsec_crosscheck_" + "s" * 24


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory):
    port, workdir = free_port(), tmp_path_factory.mktemp("localstripe")
    with running(localstripe_command(port), port, workdir / "localstripe.log", workdir):
        yield Client(f"http://127.0.0.1:{port}", "localstripe")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    port, logs = free_port(), tmp_path_factory.mktemp("stripe_sim")
    with running(sim_command(port), port, logs / "stripe_sim.log", TESTS):
        yield Client(f"http://127.0.0.1:{port}", "sim")


@pytest.fixture(scope="module")
def both(localstripe, sim):
    return [localstripe, sim]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


def unique_email() -> str:
    return f"crosscheck-{uuid.uuid4().hex[:10]}@example.com"


def new_pi(api: Client, **extra) -> dict:
    # payment_method_types[]=card: without it Stripe (since 2023-08-16) enables automatic payment
    # methods, and confirming then needs a return_url (localstripe rejects both parameters).
    params = {"amount": 1000, "currency": "usd", "payment_method_types": ["card"],
              "metadata": {"order_id": "100001"}, **extra}
    return api.post("/v1/payment_intents", params)


def paid_pi(api: Client, amount: int = 1000) -> dict:
    pi = new_pi(api, amount=amount, payment_method="pm_card_visa")
    return api.post(f"/v1/payment_intents/{pi['id']}/confirm")


# --- where both agree ----------------------------------------------------------------------------


def test_payment_intent_create_and_retrieve_agree(both):
    def scenario(api):
        customer = api.post("/v1/customers", {"email": unique_email()})
        pi = new_pi(api, customer=customer["id"], metadata={"order_id": "123", "store": "eu"})
        got = api.get(f"/v1/payment_intents/{pi['id']}")
        return [{
            "id_prefix": p["id"][:3], "object": p["object"], "amount": p["amount"], "currency": p["currency"],
            "metadata": p["metadata"], "customer_matches": p["customer"] == customer["id"], "status": p["status"],
            "latest_charge": p["latest_charge"], "same_id": p["id"] == pi["id"],
        } for p in (pi, got)]

    local, ours = (scenario(api) for api in both)
    assert local == ours
    assert ours[0] == {"id_prefix": "pi_", "object": "payment_intent", "amount": 1000, "currency": "usd",
                       "metadata": {"order_id": "123", "store": "eu"}, "customer_matches": True,
                       "status": "requires_payment_method", "latest_charge": None, "same_id": True}


def test_update_payment_method_then_confirm_succeeds_on_both(both):
    def scenario(api):
        pi = new_pi(api)
        updated = api.post(f"/v1/payment_intents/{pi['id']}", {"payment_method": "pm_card_visa"})
        confirmed = api.post(f"/v1/payment_intents/{pi['id']}/confirm")
        charge_id = ref_id(confirmed["latest_charge"])
        charge = api.get(f"/v1/charges/{charge_id}")
        return {
            "statuses": [pi["status"], updated["status"], confirmed["status"]],
            "charge_prefix": charge_id[:3], "charge_id_matches": charge["id"] == charge_id,
            "charge": {k: charge[k] for k in ("object", "amount", "currency", "status", "paid")},
            "charge_payment_intent": charge["payment_intent"] == pi["id"],
        }

    local, ours = (scenario(api) for api in both)
    assert local == ours
    assert ours["statuses"] == ["requires_payment_method", "requires_confirmation", "succeeded"]
    assert ours["charge"] == {"object": "charge", "amount": 1000, "currency": "usd", "status": "succeeded", "paid": True}


def test_decline_agrees_on_status_code_and_intent_state(both):
    def scenario(api):
        pi = new_pi(api, payment_method="pm_card_chargeCustomerFail")
        resp = api.call("POST", f"/v1/payment_intents/{pi['id']}/confirm")
        err = resp.json()["error"]
        after = api.get(f"/v1/payment_intents/{pi['id']}")
        charge = api.get(f"/v1/charges/{err['charge']}")
        return {
            "http": resp.status_code, "code": err["code"], "message": err["message"],
            "status_after": after["status"], "error_charge_is_latest": ref_id(after["latest_charge"]) == err["charge"],
            "last_error_code": after["last_payment_error"]["code"],
            "charge": {k: charge[k] for k in ("status", "paid", "failure_code")},
        }

    local, ours = (scenario(api) for api in both)
    assert local == ours
    assert ours == {"http": 402, "code": "card_declined", "message": "Your card was declined.",
                    "status_after": "requires_payment_method", "error_charge_is_latest": True,
                    "last_error_code": "card_declined",
                    "charge": {"status": "failed", "paid": False, "failure_code": "card_declined"}}


def test_customers_create_retrieve_and_list_by_email_agree(both):
    def scenario(api):
        email = unique_email()
        created = api.post("/v1/customers", {"email": email, "name": "Zoë Ünal", "metadata": {"magento_id": "42"}})
        api.post("/v1/customers", {"email": unique_email()})  # another, which the filter must leave out
        got = api.get(f"/v1/customers/{created['id']}")
        listed = api.get("/v1/customers", {"email": email, "limit": 10})
        return {
            "prefix": created["id"][:4], "fields": [{"email": c["email"] == email, **{k: c[k] for k in ("object", "name", "metadata")}}
                       for c in (created, got)],
            "list": {"object": listed["object"], "has_more": listed["has_more"], "ids": [c["id"] == created["id"] for c in listed["data"]]},
        }

    local, ours = (scenario(api) for api in both)
    assert local == ours
    assert ours["list"] == {"object": "list", "has_more": False, "ids": [True]}


def test_refunds_full_and_partial_agree(both):
    def scenario(api):
        full_pi = paid_pi(api)
        full = api.post("/v1/refunds", {"payment_intent": full_pi["id"]})
        pi = paid_pi(api)
        part = api.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 300})
        rest = api.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 700})
        got = api.get(f"/v1/refunds/{part['id']}")
        charge = api.get(f"/v1/charges/{ref_id(pi['latest_charge'])}")
        # Tally lists a charge's refunds (charge.refunded names none since 2022-11-15)
        listed = api.get("/v1/refunds", {"charge": charge["id"], "limit": 100})["data"]
        view = lambda r, p: {"prefix": r["id"][:3], "amount": r["amount"], "status": r["status"], "currency": r["currency"],
                             "charge": r["charge"] == ref_id(p["latest_charge"]), "payment_intent": r["payment_intent"] == p["id"]}
        return {"full": view(full, full_pi), "partial": [view(r, pi) for r in (part, rest, got)],
                "listed": sorted(r["amount"] for r in listed),
                "charge": {k: charge[k] for k in ("amount_refunded", "refunded")}}

    local, ours = (scenario(api) for api in both)
    assert local == ours
    assert ours["full"]["amount"] == 1000 and [r["amount"] for r in ours["partial"]] == [300, 700, 300]
    assert ours["charge"] == {"amount_refunded": 1000, "refunded": True}
    assert ours["listed"] == [300, 700]


def test_missing_payment_intent_is_a_404_invalid_request_on_both(both):
    for api in both:
        resp = api.call("GET", "/v1/payment_intents/pi_doesnotexist")
        assert resp.status_code == 404, api
        assert resp.json()["error"]["type"] == "invalid_request_error", api


def test_webhook_payment_intent_succeeded_delivered_signed_by_both(both, receiver):
    for api in both:
        registered = api.http.post(f"{api.base}/_config/webhooks/crosscheck",
                                   data={"url": f"{receiver.url}/{api.name}", "secret": SECRET})
        assert registered.status_code == 200, registered.text

    seen = {}
    for api in both:
        pi = paid_pi(api, amount=4321)
        hits = receiver.wait_for(f"/{api.name}", lambda e: e["type"] == "payment_intent.succeeded"
                                 and e["data"]["object"]["id"] == pi["id"])
        assert hits, f"{api.name} delivered no payment_intent.succeeded for {pi['id']}"
        hit = hits[0]
        assert hit["headers"]["Content-Type"].startswith("application/json")
        verified = stripe.Webhook.construct_event(hit["body"], hit["headers"]["Stripe-Signature"], SECRET)
        event = json.loads(hit["body"])
        assert verified.id == event["id"]
        obj = event["data"]["object"]
        seen[api.name] = {
            "event": {"object": event["object"], "type": event["type"], "prefix": event["id"][:4]},
            "object": {k: obj[k] for k in ("object", "amount", "currency", "status", "metadata")},
            "latest_charge": ref_id(obj["latest_charge"]) == ref_id(pi["latest_charge"]),
        }
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(hit["body"], hit["headers"]["Stripe-Signature"], "whsec_wrong")
    assert seen["localstripe"] == seen["sim"]
    assert seen["sim"]["object"]["amount"] == 4321 and seen["sim"]["object"]["status"] == "succeeded"


# --- where localstripe is not Stripe -------------------------------------------------------------


def test_gap_description_is_accepted_and_copied_to_the_charge(localstripe, sim):
    # https://docs.stripe.com/api/payment_intents/create: `description` is an optional string
    # "displayed to users"; the charge a PaymentIntent creates carries it too.
    params = {"amount": 1500, "currency": "eur", "payment_method_types": ["card"], "description": "Order #100001"}
    resp = localstripe.call("POST", "/v1/payment_intents", params)
    assert resp.status_code == 400 and "Unexpected description" in resp.json()["error"]["message"]

    pi = sim.post("/v1/payment_intents", {**params, "payment_method": "pm_card_visa", "confirm": True})
    assert pi["description"] == "Order #100001" and pi["status"] == "succeeded"
    assert sim.get(f"/v1/charges/{pi['latest_charge']}")["description"] == "Order #100001"
    updated = sim.post(f"/v1/payment_intents/{pi['id']}", {"description": "Order #100001 (paid)"})
    assert updated["description"] == "Order #100001 (paid)"


def test_gap_idempotency_key_is_honoured(localstripe, sim):
    # https://docs.stripe.com/api/idempotent_requests: a retry with the same key returns the saved
    # response instead of performing the operation twice.
    key = f"order-100001-{uuid.uuid4()}"
    params = {"email": unique_email()}
    first, second = (localstripe.post("/v1/customers", params, idempotency_key=key) for _ in range(2))
    assert first["id"] != second["id"], "localstripe ignores Idempotency-Key"

    r1, r2 = (sim.call("POST", "/v1/customers", params, idempotency_key=key) for _ in range(2))
    assert r1.json()["id"] == r2.json()["id"] and r2.headers["Idempotent-Replayed"] == "true"


def test_gap_refunds_cannot_exceed_the_charge(localstripe, sim):
    # https://docs.stripe.com/api/refunds/create: "After you entirely refund a charge, you can't
    # refund it again. This method raises an error when it's called on an already-refunded charge,
    # or when you attempt to refund more money than is left on a charge." Without `amount` it
    # refunds what is left.
    pi = paid_pi(localstripe)
    localstripe.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 300})
    whole = localstripe.post("/v1/refunds", {"payment_intent": pi["id"]})
    assert whole["amount"] == 1000, "localstripe refunds the whole charge again, not what is left"
    over = localstripe.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 5000})
    assert over["status"] == "succeeded"
    assert localstripe.get(f"/v1/charges/{ref_id(pi['latest_charge'])}")["amount_refunded"] == 6300

    pi = paid_pi(sim)
    sim.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 300})
    too_much = sim.call("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 701})
    assert too_much.status_code == 400
    err = too_much.json()["error"]
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "amount_too_large", "amount")
    assert err["message"] == "Refund amount ($7.01) is greater than unrefunded amount on charge ($7.00)"
    assert sim.post("/v1/refunds", {"payment_intent": pi["id"]})["amount"] == 700
    again = sim.call("POST", "/v1/refunds", {"payment_intent": pi["id"]})
    assert again.status_code == 400 and again.json()["error"]["code"] == "charge_already_refunded"
    assert sim.get(f"/v1/charges/{pi['latest_charge']}")["amount_refunded"] == 1000


def test_gap_confirm_accepts_a_payment_method(localstripe, sim):
    # https://docs.stripe.com/api/payment_intents/confirm: `payment_method` is a confirm parameter
    # ("ID of the payment method to attach to this PaymentIntent").
    pi = new_pi(localstripe)
    resp = localstripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": "pm_card_visa"})
    assert resp.status_code == 500 and resp.json()["error"]["message"] == "Not implemented"

    pi = new_pi(sim)
    done = sim.post(f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": "pm_card_visa"})
    assert done["status"] == "succeeded" and done["payment_method"].startswith("pm_") and done["amount_received"] == 1000


def test_gap_a_declined_intent_can_be_retried_with_another_card(localstripe, sim):
    # https://docs.stripe.com/payments/paymentintents/lifecycle: "If the payment attempt fails (for
    # example due to a decline), the PaymentIntent's status returns to requires_payment_method"
    # so it can be confirmed again with a new payment method.
    pi = new_pi(localstripe, payment_method="pm_card_chargeCustomerFail")
    assert localstripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm").status_code == 402
    after = localstripe.get(f"/v1/payment_intents/{pi['id']}")
    assert after["payment_method"] == "pm_card_chargeCustomerFail", "localstripe keeps the declined card"
    localstripe.post(f"/v1/payment_intents/{pi['id']}", {"payment_method": "pm_card_visa"})
    retry = localstripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm")
    assert retry.status_code == 400, "localstripe cannot confirm a PaymentIntent whose last charge failed"

    pi = new_pi(sim, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    failed = sim.call("POST", f"/v1/payment_intents/{pi['id']}/confirm")
    assert failed.status_code == 402 and failed.json()["error"]["decline_code"] == "insufficient_funds"
    after = sim.get(f"/v1/payment_intents/{pi['id']}")
    assert after["status"] == "requires_payment_method" and after["payment_method"] is None
    assert after["last_payment_error"]["decline_code"] == "insufficient_funds"
    retried = sim.post(f"/v1/payment_intents/{pi['id']}/confirm", {"payment_method": "pm_card_mastercard"})
    assert retried["status"] == "succeeded" and retried["last_payment_error"] is None
    assert retried["latest_charge"] != failed.json()["error"]["charge"]
    charges = sim.get("/v1/charges", {"payment_intent": pi["id"]})["data"]
    assert [c["status"] for c in charges] == ["succeeded", "failed"]
    assert charges[0]["payment_method_details"]["card"]["brand"] == "mastercard"


def test_gap_charge_and_refund_events(localstripe, sim):
    # https://docs.stripe.com/api/events/types: charge.succeeded / charge.failed accompany a
    # payment attempt, charge.refunded and refund.created a refund.
    def types_for(api, pi_id):
        events = api.get("/v1/events", {"limit": 100})["data"]
        mine = [e for e in events if pi_id in (e["data"]["object"].get("id"), e["data"]["object"].get("payment_intent"))]
        return [e["type"] for e in reversed(mine)]

    pi = paid_pi(localstripe)
    localstripe.post("/v1/refunds", {"payment_intent": pi["id"]})
    assert not [t for t in types_for(localstripe, pi["id"]) if t.startswith(("charge.", "refund."))]

    pi = paid_pi(sim)
    sim.post("/v1/refunds", {"payment_intent": pi["id"]})
    assert types_for(sim, pi["id"]) == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
                                        "charge.refunded", "refund.created"]
    refunded = sim.get("/v1/events", {"type": "charge.refunded", "limit": 1})["data"][0]
    assert refunded["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    declined = new_pi(sim, payment_method="pm_card_visa_chargeDeclinedLostCard")
    assert sim.call("POST", f"/v1/payment_intents/{declined['id']}/confirm").status_code == 402
    assert types_for(sim, declined["id"]) == ["payment_intent.created", "charge.failed", "payment_intent.payment_failed"]


def test_gap_decline_is_a_card_error_with_decline_code_and_intent(localstripe, sim):
    # https://docs.stripe.com/api/errors: card errors have type card_error (HTTP 402) and, for a
    # PaymentIntent, carry the PaymentIntent; https://docs.stripe.com/declines/codes for decline_code.
    pi = new_pi(localstripe, payment_method="pm_card_chargeCustomerFail")
    err = localstripe.call("POST", f"/v1/payment_intents/{pi['id']}/confirm").json()["error"]
    assert err["type"] == "invalid_request_error" and "decline_code" not in err and "payment_intent" not in err

    pi = new_pi(sim, payment_method="pm_card_chargeCustomerFail")
    err = sim.call("POST", f"/v1/payment_intents/{pi['id']}/confirm").json()["error"]
    assert (err["type"], err["code"], err["decline_code"]) == ("card_error", "card_declined", "generic_decline")
    assert err["payment_intent"]["id"] == pi["id"] and err["payment_intent"]["status"] == "requires_payment_method"
    assert err["payment_method"]["card"]["last4"] == "0341"


def test_gap_not_found_names_the_missing_object(localstripe, sim):
    # https://docs.stripe.com/error-codes#resource-missing: "The ID provided is not valid."
    assert localstripe.call("GET", "/v1/payment_intents/pi_missing").json()["error"]["message"] == "Not Found"
    err = sim.call("GET", "/v1/payment_intents/pi_missing").json()["error"]
    assert (err["code"], err["message"], err["param"]) == ("resource_missing", "No such payment_intent: 'pi_missing'", "intent")


def test_gap_latest_charge_is_an_id_unless_expanded(localstripe, sim):
    # https://docs.stripe.com/api/expanding_objects: expandable fields are ids by default.
    assert isinstance(paid_pi(localstripe)["latest_charge"], dict), "localstripe always embeds the charge"
    pi = paid_pi(sim)
    assert isinstance(pi["latest_charge"], str)
    expanded = sim.get(f"/v1/payment_intents/{pi['id']}", {"expand": ["latest_charge"]})
    assert expanded["latest_charge"]["id"] == pi["latest_charge"] and expanded["latest_charge"]["object"] == "charge"


def test_gap_events_carry_the_account_api_version(localstripe, sim):
    # https://docs.stripe.com/api/events/object: api_version is the version the event was rendered
    # with; Tally pins 2024-06-20 (localstripe renders 2017-08-15 shapes).
    for api, version in ((localstripe, "2017-08-15"), (sim, "2024-06-20")):
        api.post("/v1/customers", {"email": unique_email()})
        assert api.get("/v1/events", {"type": "customer.created", "limit": 1})["data"][0]["api_version"] == version


def test_gap_search_api(localstripe, sim):
    # https://docs.stripe.com/search#search-query-language: field:'value', metadata['key']:'value', AND/OR.
    assert localstripe.call("GET", "/v1/customers/search", {"query": "email:'x@example.com'"}).status_code == 404

    email = unique_email()
    customer = sim.post("/v1/customers", {"email": email})
    found = sim.get("/v1/customers/search", {"query": f"email:'{email}'"})
    assert found["object"] == "search_result" and [c["id"] for c in found["data"]] == [customer["id"]]
    assert found["next_page"] is None and found["has_more"] is False
    order = uuid.uuid4().hex[:8]
    pi = paid_pi(sim)
    sim.post(f"/v1/payment_intents/{pi['id']}", {"metadata": {"order_id": order}})
    new_pi(sim, metadata={"order_id": order})
    hits = sim.get("/v1/payment_intents/search", {"query": f"metadata['order_id']:'{order}' AND status:'succeeded'"})
    assert [p["id"] for p in hits["data"]] == [pi["id"]]


# --- the simulator alone: idempotency, faults, webhooks, process -----------------------------------


def events_of(sim: Client, object_id: str) -> list[str]:
    state = sim.control("GET", "/_sim/state")
    return [e["type"] for e in state["objects"]["event"] if e["data"]["object"].get("id") == object_id]


def test_sim_idempotency_semantics(sim):
    key = f"idem-{uuid.uuid4()}"
    params = {"email": unique_email(), "metadata": {"a": "1", "b": "2"}}
    first = sim.call("POST", "/v1/customers", params, idempotency_key=key)
    replay = sim.call("POST", "/v1/customers", params, idempotency_key=key)
    assert replay.content == first.content and replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert replay.headers["Original-Request"] == first.headers["Request-Id"] != replay.headers["Request-Id"]
    customer_id = first.json()["id"]
    assert events_of(sim, customer_id) == ["customer.created"]
    # the same parameters in another order and with `[]` arrays are the same request
    raw = f"metadata[b]=2&metadata[a]=1&email={params['email'].replace('@', '%40')}"
    assert sim.call("POST", "/v1/customers", raw=raw, idempotency_key=key).headers.get("Idempotent-Replayed") == "true"

    conflict = sim.call("POST", "/v1/customers", {**params, "name": "Other"}, idempotency_key=key)
    assert conflict.status_code == 400 and conflict.json()["error"]["type"] == "idempotency_error"
    assert conflict.json()["error"]["message"].startswith(
        "Keys for idempotent requests can only be used with the same parameters they were first used with.")
    other_path = sim.call("POST", "/v1/payment_intents", {"amount": 100, "currency": "usd"}, idempotency_key=key)
    assert other_path.status_code == 400 and other_path.json()["error"]["type"] == "idempotency_error"
    assert "same endpoint" in other_path.json()["error"]["message"]
    # keys are scoped per API key
    elsewhere = sim.call("POST", "/v1/customers", params, idempotency_key=key, key="sk_test_other_account")
    assert elsewhere.status_code == 200 and elsewhere.json()["id"] != customer_id
    assert events_of(sim, customer_id) == ["customer.created"]

    # a request that fails validation is not saved: the key stays usable
    key2 = f"idem-{uuid.uuid4()}"
    bad = sim.call("POST", "/v1/payment_intents", {"amount": 100, "currency": "usd", "colour": "red"}, idempotency_key=key2)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parameter_unknown"
    assert bad.json()["error"]["message"] == "Received unknown parameter: colour"
    assert sim.call("POST", "/v1/payment_intents", {"amount": 100, "currency": "usd"}, idempotency_key=key2).status_code == 200

    # a decline is saved: the retry replays the 402 and charges nothing new
    key3 = f"idem-{uuid.uuid4()}"
    decline = {"amount": 2500, "currency": "usd", "payment_method_types": ["card"],
               "payment_method": "pm_card_chargeDeclined", "confirm": True}
    d1 = sim.call("POST", "/v1/payment_intents", decline, idempotency_key=key3)
    d2 = sim.call("POST", "/v1/payment_intents", decline, idempotency_key=key3)
    assert d1.status_code == d2.status_code == 402 and d1.content == d2.content
    pi_id = d1.json()["error"]["payment_intent"]["id"]
    assert len(sim.get("/v1/charges", {"payment_intent": pi_id})["data"]) == 1


def test_sim_idempotency_key_in_flight_is_a_409(sim):
    sim.control("POST", "/_sim/faults", {"method": "POST", "path_contains": "/v1/customers", "delay": 0.5, "count": 1})
    key, params, results = f"idem-{uuid.uuid4()}", {"email": unique_email()}, []
    slow = threading.Thread(target=lambda: results.append(sim.call("POST", "/v1/customers", params, idempotency_key=key)))
    slow.start()
    time.sleep(0.15)
    concurrent = sim.call("POST", "/v1/customers", params, idempotency_key=key)
    slow.join()
    assert results[0].status_code == 200
    assert concurrent.status_code == 409 and concurrent.json()["error"]["type"] == "idempotency_error"
    assert concurrent.headers["Stripe-Should-Retry"] == "true"
    assert sim.call("POST", "/v1/customers", params, idempotency_key=key).headers["Idempotent-Replayed"] == "true"


def test_sim_faults_and_stripe_should_retry(sim):
    sim.control("DELETE", "/_sim/faults")
    sim.control("POST", "/_sim/faults", {"method": "POST", "path_contains": "/v1/payment_intents", "status": 500,
                                         "count": 1, "should_retry": True})
    key, params = f"fault-{uuid.uuid4()}", {"amount": 700, "currency": "usd"}
    failed = sim.call("POST", "/v1/payment_intents", params, idempotency_key=key)
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    assert failed.headers["Stripe-Should-Retry"] == "true" and failed.headers["Request-Id"].startswith("req_")
    retried = sim.call("POST", "/v1/payment_intents", params, idempotency_key=key)
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers, "an injected failure is not saved"

    sim.control("POST", "/_sim/faults", {"path_contains": "/v1/customers", "status": 429, "count": 2, "should_retry": False})
    for _ in range(2):
        limited = sim.call("GET", "/v1/customers")
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit"
        assert limited.headers["Stripe-Should-Retry"] == "false"
    assert sim.call("GET", "/v1/customers").status_code == 200

    sim.control("POST", "/_sim/faults", {"method": "GET", "status": 503, "should_retry": None})
    unavailable = sim.call("GET", "/v1/events")
    assert unavailable.status_code == 503 and "Stripe-Should-Retry" not in unavailable.headers

    # the response is lost after Stripe did the work: the retry replays the saved success
    sim.control("POST", "/_sim/faults", {"method": "POST", "path_contains": "/v1/payment_intents", "status": 500,
                                         "after_execution": True})
    key = f"fault-{uuid.uuid4()}"
    lost = sim.call("POST", "/v1/payment_intents", params, idempotency_key=key)
    assert lost.status_code == 500
    replayed = sim.call("POST", "/v1/payment_intents", params, idempotency_key=key)
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert events_of(sim, replayed.json()["id"]) == ["payment_intent.created"]

    sim.control("POST", "/_sim/faults", {"status": 500, "count": 5})
    assert sim.control("DELETE", "/_sim/faults") == {"data": []}
    assert sim.call("GET", "/v1/events").status_code == 200
    logged = sim.control("GET", "/_sim/requests")
    assert any(r["fault"] and r["status"] == 429 for r in logged)
    created = [r for r in logged if r["method"] == "POST" and r["path"] == "/v1/payment_intents"]
    assert created[-1]["params"] == {"amount": "700", "currency": "usd"} and created[-1]["replayed"] is True


def test_sim_auth(sim):
    missing = sim.call("GET", "/v1/customers", key=False)
    assert missing.status_code == 401 and missing.json()["error"]["message"].startswith("You did not provide an API key.")
    assert sim.call("GET", "/v1/customers", key="sk_live_nope").status_code == 401
    basic = requests.get(f"{sim.base}/v1/customers", auth=(KEY, ""), timeout=5)
    assert basic.status_code == 200 and basic.headers["Stripe-Version"] == "2024-06-20"
    assert sim.call("GET", "/v1/customers", headers={"Stripe-Version": "2023-10-16"}).headers["Stripe-Version"] == "2023-10-16"
    assert sim.call("GET", "/v1/nothing_here").json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing_here)")


def test_sim_webhook_retries_and_manual_delivery(sim, receiver):
    sim.control("POST", "/_sim/reset", {"webhooks": True})
    sim.control("POST", "/_config/webhooks/flaky", {"url": f"{receiver.url}/flaky", "secret": SECRET,
                                                    "events": "customer.created"})
    receiver.script("/flaky", [500, 503])
    customer = sim.post("/v1/customers", {"email": unique_email()})
    hits = receiver.wait_for("/flaky", lambda e: e["data"]["object"]["id"] == customer["id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = sim.control("GET", "/_sim/deliveries")[0]
        if record["state"] == "delivered":
            break
        time.sleep(0.05)
    assert record["statuses"] == [500, 503, 200] and record["state"] == "delivered"
    hits = receiver.wait_for("/flaky", lambda e: e["data"]["object"]["id"] == customer["id"])
    assert len({h["body"] for h in hits}) == 1 and len(hits) == 3, "every attempt sends the same bytes"
    for hit in hits:
        stripe.Webhook.construct_event(hit["body"], hit["headers"]["Stripe-Signature"], SECRET)
    event = json.loads(hits[0]["body"])
    assert sim.get(f"/v1/events/{event['id']}")["pending_webhooks"] == 0

    # paused: events are recorded, nothing is sent, and the test can post them itself
    sim.control("POST", "/_sim/delivery", {"auto": False})
    quiet = sim.post("/v1/customers", {"email": unique_email()})
    time.sleep(0.3)
    assert not receiver.wait_for("/flaky", lambda e: e["data"]["object"]["id"] == quiet["id"], timeout=0)
    held = sim.get("/v1/events", {"type": "customer.created", "limit": 1})["data"][0]
    assert held["data"]["object"]["id"] == quiet["id"] and held["pending_webhooks"] == 1
    assert sim.control("POST", "/_sim/delivery", {"auto": True, "flush": True})["auto"] is True
    assert receiver.wait_for("/flaky", lambda e: e["data"]["object"]["id"] == quiet["id"])
    sim.control("DELETE", "/_config/webhooks/flaky")


def test_sim_exits_on_sigterm(tmp_path):
    port = free_port()
    with running(sim_command(port), port, tmp_path / "sim.log", TESTS) as proc:
        assert requests.get(f"http://127.0.0.1:{port}/_sim/health", timeout=5).json() == {"ok": True}
        proc.terminate()
        assert proc.wait(10) == 0
    log = (tmp_path / "sim.log").read_text()
    assert "GET /_sim/health 200" in log and "stopping" in log
    assert subprocess.run([str(TESTS.parent / ".venv" / "bin" / "python"), "-m", "simulators.stripe_sim", "--help"],
                          cwd=TESTS, capture_output=True).returncode == 0


def test_sim_refunds_settle_later_pending_then_failed_with_stripes_events(sim):
    """What localstripe cannot do: a refund that starts pending and fails later; the money returns to
    the charge and refund.updated, charge.refund.updated and refund.failed are sent."""
    pi = paid_pi(sim)
    assert sim.control("POST", "/_sim/refunds/next", {"status": "pending"}) == {"next_refund_status": "pending"}
    refund = sim.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 400})
    assert refund["status"] == "pending"
    assert sim.post("/v1/refunds", {"payment_intent": pi["id"], "amount": 100})["status"] == "succeeded", "used once"
    failed = sim.control("POST", f"/_sim/refunds/{refund['id']}/status", {"status": "failed", "failure_reason": "declined"})
    assert (failed["status"], failed["failure_reason"]) == ("failed", "declined")
    assert failed["failure_balance_transaction"].startswith("txn_")
    assert sim.get(f"/v1/charges/{ref_id(pi['latest_charge'])}")["amount_refunded"] == 100
    assert events_of(sim, refund["id"])[::-1] == ["refund.created", "refund.updated", "charge.refund.updated", "refund.failed"]
    again = sim.http.request("POST", sim.base + f"/_sim/refunds/{refund['id']}/status", json={"status": "succeeded"},
                             timeout=10)
    assert again.status_code == 400, "a failed refund stays failed"


def test_sim_payouts_carry_their_balance_transactions_with_stripes_signs_and_categories(sim):
    """What localstripe cannot do at all: fees, a dispute, and an automatic payout whose transactions'
    net equals the payout (its own transaction excluded); one that fails after paid returns the money."""
    paid = [sim.post(f"/v1/payment_intents/{new_pi(sim, amount=a, currency='sek', payment_method='pm_card_visa')['id']}/confirm")
            for a in (10_000, 5_000, 2_000)]
    charges = [sim.get(f"/v1/charges/{ref_id(p['latest_charge'])}") for p in paid]
    first = sim.get(f"/v1/balance_transactions/{charges[0]['balance_transaction']}")
    assert (first["fee"], first["net"], first["reporting_category"]) == (320, 9_680, "charge")
    assert first["fee_details"][0]["type"] == "stripe_fee"
    sim.post("/v1/refunds", {"charge": charges[1]["id"], "amount": 1_500})
    dispute = sim.control("POST", "/_sim/disputes", {"charge": charges[2]["id"], "outcome": "lost"})
    assert dispute["status"] == "lost"
    payout = sim.control("POST", "/_sim/payouts", {"currency": "sek"})
    assert (payout["automatic"], payout["status"], payout["reconciliation_status"]) == (True, "paid", "completed")
    listed = sim.get("/v1/balance_transactions", {"payout": payout["id"], "limit": 2})
    rows = listed["data"]
    while listed["has_more"]:
        listed = sim.get("/v1/balance_transactions", {"payout": payout["id"], "limit": 2,
                                                      "starting_after": rows[-1]["id"]})
        rows += listed["data"]
    by = {r["reporting_category"]: r for r in rows}
    assert sorted(by) == ["charge", "dispute", "payout", "refund"]
    assert (by["dispute"]["type"], by["dispute"]["amount"], by["dispute"]["fee"]) == ("adjustment", -2_000, 1_500)
    assert (by["refund"]["amount"], by["refund"]["fee"]) == (-1_500, 0)
    assert by["payout"]["amount"] == -payout["amount"] and by["payout"]["source"] == payout["id"]
    assert sum(r["net"] for r in rows if r["type"] != "payout") == payout["amount"]
    assert payout["amount"] == (9_680 + 4_825 + 1_912) - 1_500 - 3_500
    assert events_of(sim, payout["id"])[::-1] == ["payout.created", "payout.reconciliation_completed", "payout.paid"]

    # a payout that fails after paid: its money comes back and goes out in the next payout
    again = paid_pi(sim, 1_000)
    failing = sim.control("POST", "/_sim/payouts", {"currency": "usd", "fail_after_paid": True})
    assert (failing["status"], failing["failure_code"]) == ("failed", "account_closed")
    back = sim.get(f"/v1/balance_transactions/{failing['failure_balance_transaction']}")
    assert (back["type"], back["reporting_category"], back["amount"]) == ("payout_failure", "payout_reversal",
                                                                        failing["amount"])
    assert events_of(sim, failing["id"])[0] == "payout.failed"
    assert again["status"] == "succeeded"
    skewed = sim.http.request("POST", sim.base + "/_sim/payouts", json={"currency": "usd", "skew": 1}, timeout=10).json()
    assert skewed["amount"] == failing["amount"] + 1, "the broken invariant, on purpose"
    empty = sim.http.request("POST", sim.base + "/_sim/payouts", json={"currency": "usd"}, timeout=10)
    assert empty.status_code == 400
    manual = sim.http.request("GET", sim.base + "/v1/balance_transactions", params={"payout": "po_missing"},
                              headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert manual.status_code == 404


def test_sim_webhook_endpoints_deliver_what_they_enable(sim, receiver):
    """`POST /v1/webhook_endpoints` as `tally webhooks setup` uses it: the secret only in the create
    answer, deliveries of exactly the enabled types signed with it, none while disabled."""
    made = sim.post("/v1/webhook_endpoints", {"url": f"{receiver.url}/we", "enabled_events": ["customer.created"]})
    assert made["object"] == "webhook_endpoint" and made["secret"].startswith("whsec_") and made["status"] == "enabled"
    listed = sim.get("/v1/webhook_endpoints", {"limit": 100})["data"]
    assert [e for e in listed if e["id"] == made["id"]][0]["enabled_events"] == ["customer.created"]
    assert all("secret" not in e for e in listed), "the secret is shown once"
    customer = sim.post("/v1/customers", {"email": unique_email()})
    hits = receiver.wait_for("/we", lambda e: e["data"]["object"]["id"] == customer["id"])
    stripe.Webhook.construct_event(hits[0]["body"], hits[0]["headers"]["Stripe-Signature"], made["secret"])
    assert sim.post(f"/v1/webhook_endpoints/{made['id']}", {"disabled": "true"})["status"] == "disabled"
    quiet = sim.post("/v1/customers", {"email": unique_email()})
    time.sleep(0.5)
    assert not receiver.wait_for("/we", lambda e: e["data"]["object"]["id"] == quiet["id"], timeout=0)
    again = sim.post(f"/v1/webhook_endpoints/{made['id']}", {"disabled": "false", "enabled_events": ["*"]})
    assert (again["status"], again["enabled_events"]) == ("enabled", ["*"])
    bad = sim.call("POST", "/v1/webhook_endpoints", {"url": "ftp://x", "enabled_events": ["*"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "url"
