"""The configurable REST store simulator keeps a store's rules in both shapes, run as a subprocess
exactly as the stack runs it. No AWS needed."""

import base64
import time

import pytest
import requests

from test_simulators import Simulator

KEY = "sf-test-key"


@pytest.fixture(scope="module")
def clarity(tmp_path_factory):
    sim = Simulator("rest_store", ["--preset", "clarity", "--client-id", "cid", "--client-secret", "csecret",
                                   "--token-seconds", "1"], tmp_path_factory.mktemp("logs") / "clarity.log")
    yield sim.url
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def storefront(tmp_path_factory):
    sim = Simulator("rest_store", ["--preset", "storefront", "--api-key", KEY],
                    tmp_path_factory.mktemp("logs") / "storefront.log")
    yield sim.url
    assert sim.stop() == 0


def place(base, **spec) -> dict:
    spec.setdefault("items", [{"sku": "MUG", "name": "Mug", "qty": 2, "price": "7.50"}])
    spec.setdefault("notify", False)
    r = requests.post(f"{base}/_sim/orders", json=spec, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def token(base, secret="csecret") -> requests.Response:
    return requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "client_id": "cid",
                                                       "client_secret": secret}, timeout=10)


def test_clarity_tokens_expire_and_wrong_clients_are_refused(clarity):
    assert token(clarity, "wrong").status_code == 401
    order = place(clarity)
    t = token(clarity).json()
    assert t["token_type"] == "Bearer" and t["expires_in"] == 1
    headers = {"Authorization": f"Bearer {t['access_token']}"}
    assert requests.get(f"{clarity}/api/v1/orders/{order['id']}", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{clarity}/api/v1/orders/{order['id']}", timeout=10).status_code == 401
    time.sleep(1.2)
    expired = requests.get(f"{clarity}/api/v1/orders/{order['id']}", headers=headers, timeout=10)
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_clarity_takes_one_payment_of_the_total_and_refunds_within_it(clarity):
    order = place(clarity, currency="KWD", items=[{"sku": "A", "qty": 1, "price": "6.170"}])
    h = {"Authorization": f"Bearer {token(clarity).json()['access_token']}"}
    url = f"{clarity}/api/v1/orders/{order['id']}"
    pay = {"amount": "6.17", "currencyCode": "KWD", "transactionId": "ch_1", "status": "Paid"}
    assert requests.post(f"{url}/payments", json={**pay, "amount": "6.1"}, headers=h, timeout=10).status_code == 400
    assert requests.post(f"{url}/payments", json={**pay, "currencyCode": "USD"}, headers=h, timeout=10).status_code == 400
    assert requests.post(f"{url}/payments", json={**pay, "status": "Shipped"}, headers=h, timeout=10).status_code == 400
    assert requests.post(f"{url}/payments", json=pay, headers=h, timeout=10).status_code == 201
    again = requests.post(f"{url}/payments", json=pay, headers=h, timeout=10)
    assert again.status_code == 409, "a paid order takes no second payment"
    refund = {"amount": "6.171", "currencyCode": "KWD", "externalReference": "re_1"}
    assert requests.post(f"{url}/refunds", json=refund, headers=h, timeout=10).status_code == 400
    assert requests.post(f"{url}/refunds", json={**refund, "amount": "1.000"}, headers=h, timeout=10).status_code == 201
    body = requests.get(url, headers=h, timeout=10).json()
    assert (body["status"], body["totals"]["amountPaid"]) == ("Partially Refunded", "6.17")
    assert requests.patch(url, json={"status": "Teleported"}, headers=h, timeout=10).status_code == 400
    customer = requests.post(f"{clarity}/_sim/customers", json={"email": "c@example.com", "notify": False},
                             timeout=10).json()["id"]
    partial = requests.put(f"{clarity}/api/v1/customers/{customer}", json={"email": "d@example.com"}, headers=h,
                           timeout=10)
    assert partial.status_code == 400 and "whole customer" in partial.json()["message"]


def test_storefront_pages_by_cursor_in_minor_units_and_wants_its_key(storefront):
    first = [place(storefront, currency="JPY", items=[{"sku": "T", "qty": 1, "price": "4800"}])["id"] for _ in range(5)]
    h = {"X-Api-Key": KEY}
    assert requests.get(f"{storefront}/v2/orders/{first[0]}", timeout=10).status_code == 401
    seen, cursor = [], None
    while True:
        params = {"updated_from": "0", "order": "updated_asc", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{storefront}/v2/orders", params=params, headers=h, timeout=10).json()
        seen += [str(o["order_id"]) for o in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i for i in seen if i in first] == first, "each order once, in order"
    bad = base64.urlsafe_b64encode(b"junk").decode()
    assert requests.get(f"{storefront}/v2/orders", params={"cursor": bad}, headers=h, timeout=10).status_code == 400
    order = requests.get(f"{storefront}/v2/orders/{first[0]}", headers=h, timeout=10).json()["data"]
    assert order["money"] == {"currency": "JPY", "subtotal_minor": 4800, "shipping_minor": 0, "tax_minor": 0,
                              "total_minor": 4800, "paid_minor": 0}
    url = f"{storefront}/v2/orders/{first[0]}/payments"
    wrong = requests.post(url, json={"amount_minor": "4800", "currency": "JPY", "provider": "stripe"}, headers=h, timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_request"
    paid = requests.post(url, json={"amount_minor": 4800, "currency": "JPY", "provider": "stripe",
                                    "provider_reference": "ch_2"}, headers=h, timeout=10)
    assert paid.status_code == 201, paid.text
    assert requests.get(f"{storefront}/_sim/orders/{first[0]}", timeout=10).json()["summary"]["payment_state"] == "paid"
