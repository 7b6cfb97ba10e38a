"""Customers both ways, end to end on the deployed local stack, on each platform whose customers Tally
syncs (Magento, Kentico, Znode, and Clarity and a storefront through their mappings): a customer saved on the platform becomes one Stripe customer however often
its event arrives (Znode sends none: there the driver runs Tally's customer poll, which is its intake), and the
customer poll finds one whose event was lost; an edit in Stripe reaches the
platform once and stops there; edits on both sides resolve to the newer with the conflict kept for
review; a guest's orders share one Stripe customer; a customer Stripe would refuse is dead-lettered
with its reason."""

import concurrent.futures
import json
import time
import uuid

import pytest

from e2e import dead_letter_matching, wait_for_payment_intent
from tally_local import wait_until

CUSTOMER_PLATFORMS = ["magento", "kentico", "znode", "clarity", "storefront"]
# where Tally syncs the postal address (Kentico and Znode keep it as a row of its own)
ADDRESS_PLATFORMS = {"magento", "kentico", "znode", "clarity", "storefront"}


@pytest.fixture(params=CUSTOMER_PLATFORMS)
def p(request, stack):
    return stack.platforms[request.param]


def email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def stripe_customer(s, customer_id: str) -> dict:
    r = s.stripe.call("GET", f"/v1/customers/{customer_id}")
    assert r.status_code == 200, r.text
    return r.json()


def linked(p, customer_id, timeout=60) -> str:
    return wait_until(lambda: p.customer(customer_id)["summary"]["stripe_customer_id"], timeout, interval=0.5,
                      what=f"{p.name} customer {customer_id} to carry its Stripe customer")


def name_on(p, customer_id) -> str:
    return p.customer(customer_id)["summary"]["name"]


def with_email(s, address: str) -> list:
    r = s.stripe.call("GET", "/v1/customers", params={"email": address, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def writes_to(s, stripe_id: str) -> list:
    """Every request that wrote the Stripe customer, with its idempotency key."""
    return [r for r in s.stripe.call_sim(f"requests?path_contains=/v1/customers/{stripe_id}")
            if r["method"] == "POST" and r["status"] == 200]


def platform_writes(p, customer_id) -> list:
    return p.customer_writes(customer_id)


def conflict(s, p, customer_id):
    key = f"customer-conflict/{p.name}/{p.store}/{customer_id}"
    item = s.dynamodb.get_item(TableName=s["IDEMPOTENCY_TABLE"], Key={"pk": {"S": key}},
                               ConsistentRead=True).get("Item")
    return json.loads(item["report"]["S"]) if item else None


def test_a_platform_customer_becomes_one_stripe_customer_with_its_fields(stack, p):
    s = stack
    address = email("amy")
    customer_id = p.create_customer(address, "Amy", "Lee", telephone="+1 555 0100",
                                    address={"street": ["1 Main St", "Apt 2"], "city": "Austin", "postcode": "78701",
                                             "country_id": "US", "region_code": "TX"})
    stripe_id = linked(p, customer_id)
    c = stripe_customer(s, stripe_id)
    assert (c["email"], c["name"], c["phone"]) == (address, "Amy Lee", "+1 555 0100")
    assert c["metadata"] == {"platform": p.name, "store": p.store, "customer_id": customer_id}
    if p.name in ADDRESS_PLATFORMS:
        assert c["address"] == {"line1": "1 Main St", "line2": "Apt 2", "city": "Austin", "state": "TX",
                                "postal_code": "78701", "country": "US"}


def test_the_same_event_repeated_and_concurrent_makes_one_customer(stack, p):
    s = stack
    address = email("bo")
    customer_id = p.create_customer(address, "Bo", "Ek", notify=False)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: p.announce_customer(customer_id), range(3)))
    p.announce_customer(customer_id)
    p.announce_customer(customer_id)
    stripe_id = linked(p, customer_id)
    time.sleep(3)
    assert [c["id"] for c in with_email(s, address)] == [stripe_id]


def test_a_customer_whose_event_was_lost_is_found_by_the_poll(stack, p):
    s = stack
    address = email("lost")
    customer_id = p.create_customer(address, "Lo", "St", notify=False)
    time.sleep(1.1)
    report = s.poll(p.name)
    assert report["customers"]["enqueued"] >= 1, report
    stripe_id = linked(p, customer_id)
    assert [c["id"] for c in with_email(s, address)] == [stripe_id]


def test_a_stripe_edit_reaches_the_platform_once_and_does_not_echo(stack, p):
    s = stack
    customer_id = p.create_customer(email("cy"), "Cy", "Old", telephone="+1 555 0101",
                                    address={"street": ["2 Side St"], "city": "Reno", "postcode": "89501",
                                             "country_id": "US"})
    stripe_id = linked(p, customer_id)
    before_platform = len(platform_writes(p, customer_id))
    r = s.stripe.call("POST", f"/v1/customers/{stripe_id}", {
        "name": "Cy Newman", "phone": "+1 555 0199", "address[line1]": "3 New Rd", "address[city]": "Austin",
        "address[state]": "TX", "address[postal_code]": "78701", "address[country]": "US"})
    assert r.status_code == 200, r.text
    wait_until(lambda: name_on(p, customer_id) == "Cy Newman", 60, interval=0.5,
               what="the platform customer to show Stripe's edit")
    assert p.customer_phone(customer_id) == "+1 555 0199"
    if p.name in ADDRESS_PLATFORMS:  # Kentico saves the address after the customer
        wait_until(lambda: p.customer(customer_id)["summary"]["address"] == {
            "line1": "3 New Rd", "line2": None, "city": "Austin", "state": "TX", "postal_code": "78701",
            "country": "US"}, 30, interval=0.5, what="the platform's address to show Stripe's")
    p.announce_customer(customer_id)  # the platform's save seen again (Znode: the poll reads Tally's own write)
    time.sleep(5)  # room for an echo: the platform's save event comes back to Tally
    assert len(platform_writes(p, customer_id)) == before_platform + 1, "the platform is written once"
    tally_writes = [w for w in writes_to(s, stripe_id) if (w["idempotency_key"] or "").startswith("tally-")]
    assert tally_writes == [], "Tally does not write Stripe's own edit back to Stripe"


@pytest.mark.parametrize("platform", sorted(ADDRESS_PLATFORMS))
def test_an_address_saved_alone_reaches_stripe_by_its_event_or_the_poll(stack, platform):
    s, p = stack, stack.platforms[platform]
    customer_id = p.create_customer(email("al"), "Al", "Moves", address={
        "street": ["1 Old St"], "city": "Reno", "postcode": "89501", "country_id": "US", "region_code": "NV"})
    stripe_id = linked(p, customer_id)
    p.edit_customer(customer_id, address={"street": ["5 New Ave", "Unit 9"], "city": "Toronto",
                                          "postcode": "M5V 2T6", "country_id": "CA", "region_code": "ON"})
    moved = {"line1": "5 New Ave", "line2": "Unit 9", "city": "Toronto", "state": "ON", "postal_code": "M5V 2T6",
             "country": "CA"}
    wait_until(lambda: stripe_customer(s, stripe_id)["address"] == moved, 60, interval=0.5,
               what="Stripe to show the address saved on the platform")
    # saved again without its event: the poll finds the address's change (Kentico and Znode list addresses
    # by their own modification time, as saving one does not touch its customer)
    time.sleep(1.1)
    p.edit_customer(customer_id, notify=False, address={"street": ["7 Last Ln"], "city": "Austin",
                                                        "postcode": "78701", "country_id": "US", "region_code": "TX"})
    time.sleep(1.1)
    report = s.poll(p.name)
    assert report["customers"]["enqueued"] >= 1, report
    wait_until(lambda: stripe_customer(s, stripe_id)["address"]["line1"] == "7 Last Ln", 60, interval=0.5,
               what="Stripe to show the address the poll found")
    assert stripe_customer(s, stripe_id)["address"]["line2"] in (None, "")


def test_a_platform_edit_reaches_stripe_once(stack, p):
    s = stack
    customer_id = p.create_customer(email("di"), "Di", "Old")
    stripe_id = linked(p, customer_id)
    p.edit_customer(customer_id, lastname="Shore")
    wait_until(lambda: stripe_customer(s, stripe_id)["name"] == "Di Shore", 60, interval=0.5,
               what="Stripe to show the platform's edit")
    p.announce_customer(customer_id)  # a duplicate of the same save
    time.sleep(4)
    syncs = [w for w in writes_to(s, stripe_id) if (w["idempotency_key"] or "").startswith("tally-cus-sync")]
    assert len({w["idempotency_key"] for w in syncs}) == 1, syncs
    assert not platform_writes(p, customer_id)[1:], "no write back to the platform beyond the Stripe id"


def test_edits_on_both_sides_the_newer_wins_and_the_conflict_is_reported(stack, p):
    s = stack
    # Stripe newer: the platform's edit is saved without its event (lost), then Stripe is edited.
    first = p.create_customer(email("ed"), "Ed", "Start")
    first_stripe = linked(p, first)
    # the platform's save event for Tally's own write of the Stripe id waits while the link holds the
    # customer's sync lock; once handled, no hint is left to find the unannounced edit below
    time.sleep(4)
    p.edit_customer(first, lastname="Platform", notify=False)
    time.sleep(1.1)
    assert s.stripe.call("POST", f"/v1/customers/{first_stripe}", {"name": "Ed Stripe"}).status_code == 200
    wait_until(lambda: name_on(p, first) == "Ed Stripe", 60, interval=0.5, what="Stripe's newer edit on the platform")
    report = wait_until(lambda: conflict(s, p, first), 30, interval=0.5, what="the conflict")
    assert report["winner"] == "stripe"
    # Platform newer: Stripe's event is held while the platform is edited after it.
    second = p.create_customer(email("fa"), "Fa", "Start")
    second_stripe = linked(p, second)
    stack.stripe_sim_delivery(auto=False)
    try:
        assert s.stripe.call("POST", f"/v1/customers/{second_stripe}", {"name": "Fa Stripe"}).status_code == 200
        time.sleep(1.1)
        p.edit_customer(second, lastname="Platform")
        stack.stripe_sim_delivery(auto=True, flush=True)  # Stripe's older edit arrives after the platform's
    finally:
        stack.stripe_sim_delivery(auto=True)
    wait_until(lambda: stripe_customer(s, second_stripe)["name"] == "Fa Platform", 60, interval=0.5,
               what="the platform's newer edit in Stripe")
    assert name_on(p, second) == "Fa Platform"
    report = wait_until(lambda: conflict(s, p, second), 30, interval=0.5, what="the conflict")
    assert report["winner"] == "platform"


def test_a_guests_orders_share_one_stripe_customer(stack):
    s, p = stack, stack.magento
    address = email("guest")
    orders = [p.place_order(customer={"email": address, "firstname": "Gia", "lastname": "Guest"})["id"]
              for _ in range(2)]
    customers = {wait_for_payment_intent(s, p, o)["customer"] for o in orders}
    assert len(customers) == 1 and None not in customers, customers
    (one,) = customers
    assert [c["id"] for c in with_email(s, address)] == [one]
    assert stripe_customer(s, one)["metadata"]["customer_id"] == f"guest:{address}"


def test_a_customer_stripe_would_refuse_is_dead_lettered_with_its_reason(stack, p):
    s = stack
    customer_id = p.create_customer("not-an-email", "No", "Mail")
    marker = f"customer/{p.name}/{p.store}/{customer_id}/changed"
    letter = wait_until(lambda: dead_letter_matching(s, lambda m: marker in m["Body"]), 90, interval=2,
                        what="the dead letter")
    reason = letter["MessageAttributes"]["failure_reason"]["StringValue"]
    assert '"not-an-email" is not a valid address' in reason, reason
    assert p.customer(customer_id)["summary"]["stripe_customer_id"] is None


def magento_customers_with(p, address: str) -> list:
    r = p.sim("GET", "customers", params={"email": address})
    r.raise_for_status()
    return r.json()["items"]


def test_a_customer_made_in_stripe_becomes_one_magento_customer(stack):
    """The main stack sets customers.create_from_stripe_in to its Magento store."""
    s, p = stack, stack.magento
    address = email("made-in-stripe")
    r = s.stripe.call("POST", "/v1/customers", {"email": address, "name": "Mia Stripe"})
    assert r.status_code == 200, r.text
    stripe_id = r.json()["id"]
    made = wait_until(lambda: magento_customers_with(p, address), 60, interval=0.5, what="the Magento customer")
    (customer,) = made
    assert (customer["firstname"], customer["lastname"]) == ("Mia", "Stripe")
    assert linked(p, customer["id"]) == stripe_id
    wait_until(lambda: stripe_customer(s, stripe_id)["metadata"].get("customer_id") == str(customer["id"]), 30,
               interval=0.5, what="the Stripe customer to name its Magento customer")
    time.sleep(3)  # the Magento save event and Stripe's update come back: nothing more is made
    assert len(magento_customers_with(p, address)) == 1
    assert [c["id"] for c in with_email(s, address)] == [stripe_id]


def test_a_customer_made_in_stripe_with_a_magento_customers_email_is_linked_not_duplicated(stack):
    s, p = stack, stack.magento
    address = email("both-sides")
    customer_id = p.create_customer(address, "Bea", "Both", notify=False)
    r = s.stripe.call("POST", "/v1/customers", {"email": address, "name": "Bea Both"})
    assert r.status_code == 200, r.text
    assert linked(p, customer_id) == r.json()["id"]
    time.sleep(3)
    assert len(magento_customers_with(p, address)) == 1
