"""The Magento and ERP simulators themselves, each run as a subprocess exactly as the stack runs it.
No AWS needed."""

import base64
import hashlib
import hmac
import json
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from simulators.magento import sign_adobe_webhook, verify_adobe_webhook

TESTS = Path(__file__).resolve().parent
TOKEN = "test-integration-token"
ERP_SECRET = "test-erp-secret"
NOT_FOUND = {"message": "The entity that was requested doesn't exist. Verify the entity and try again."}


class Simulator:
    def __init__(self, module: str, args: list[str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"simulators.{module}", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=TESTS, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://\S+)", log.read_text())
            if found:
                self.url = found.group(1)
                return
            assert self.proc.poll() is None, log.read_text()
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{module} simulator did not start: {log.read_text()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def magento_key(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("magento") / "webhook-key.pem"


@pytest.fixture(scope="module")
def magento_process(magento_key, tmp_path_factory):
    sim = Simulator("magento", ["--token", TOKEN, "--private-key", str(magento_key)],
                    tmp_path_factory.mktemp("logs") / "magento.log")
    yield sim
    assert sim.stop() == 0, "SIGTERM must end the simulator cleanly"
    assert "simulator stopped" in sim.log.read_text()


class Magento:
    def __init__(self, url: str):
        self.url = url

    def rest(self, method: str, path: str, token: str | None = TOKEN, store: str = "default", **kw):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        prefix = f"/rest/{store}/V1/" if store else "/rest/V1/"
        return requests.request(method, self.url + prefix + path, headers=headers, timeout=10, **kw)

    def sim(self, method: str, path: str, **kw):
        return requests.request(method, self.url + "/_sim/" + path, timeout=10, **kw)

    def place(self, **spec) -> dict:
        spec.setdefault("items", [{"sku": "MUG", "name": "Mug", "qty": 1, "price": "19.99"}])
        answer = self.sim("POST", "orders", json=spec)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def search(self, entity: str, groups=(), sort=None, page_size=None, page=None):
        params = []
        for g, group in enumerate(groups):
            for f, (field, value, condition) in enumerate(group):
                base = f"searchCriteria[filter_groups][{g}][filters][{f}]"
                params += [(base + "[field]", field), (base + "[value]", value), (base + "[condition_type]", condition)]
        if sort:
            params += [("searchCriteria[sortOrders][0][field]", sort[0]),
                       ("searchCriteria[sortOrders][0][direction]", sort[1])]
        if page_size is not None:
            params.append(("searchCriteria[pageSize]", str(page_size)))
        if page is not None:
            params.append(("searchCriteria[currentPage]", str(page)))
        answer = self.rest("GET", entity, params=params or [("searchCriteria", "")])
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def magento(magento_process) -> Magento:
    client = Magento(magento_process.url)
    assert client.sim("POST", "reset").status_code == 200
    return client


# --- Magento -----------------------------------------------------------------------------------


def test_magento_requires_the_bearer_token(magento):
    order = magento.place()
    for token in (None, "wrong-token"):
        for store in ("default", None):
            answer = magento.rest("GET", f"orders/{order['entity_id']}", token=token, store=store)
            assert answer.status_code == 401
            assert answer.json() == {"message": "The consumer isn't authorized to access %resources.",
                                     "parameters": {"resources": "Magento_Sales::actions_view"}}
    assert magento.rest("GET", f"orders/{order['entity_id']}", store=None).status_code == 200
    assert magento.rest("GET", f"orders/{order['entity_id']}", store="all").status_code == 200
    unknown = magento.rest("GET", "nothing/here")
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Request does not match any route."})


def test_order_totals_are_exact_per_currency(magento):
    usd = magento.sim("POST", "orders", json={
        "currency": "USD", "items": [{"sku": "A", "qty": 3, "price": "19.99"}],
        "shipping_amount": "5.00", "tax_amount": "1.41"})
    assert usd.status_code == 201
    assert '"grand_total":66.38' in usd.text and '"subtotal":59.97' in usd.text and '"shipping_amount":5,' in usd.text

    jpy = magento.sim("POST", "orders", json={"currency": "JPY", "items": [{"sku": "B", "qty": 2, "price": "2500"}]})
    assert '"grand_total":5000,' in jpy.text and jpy.json()["order_currency_code"] == "JPY"

    kwd = magento.sim("POST", "orders", json={
        "currency": "KWD", "items": [{"sku": "C", "qty": 1, "price": "12.345"}], "shipping_amount": "0.001"})
    assert '"grand_total":12.346,' in kwd.text

    for currency, price in (("JPY", "10.5"), ("USD", "1.001"), ("KWD", "1.0001"), ("USD", "-1.00")):
        refused = magento.sim("POST", "orders", json={"currency": currency, "items": [{"sku": "X", "price": price}]})
        assert refused.status_code == 400, (currency, price)
    # A refused order leaves no gap in the ids.
    assert magento.place()["increment_id"] == "000000004"


def test_order_has_magentos_shape(magento):
    guest = magento.place(customer={"email": "guest@example.com", "firstname": "Gus", "lastname": "Guest"},
                          payment_method="stripe_payments", last_trans_id="pi_123")
    member = magento.place(customer={"email": "m@example.com", "firstname": "Mia", "lastname": "Member", "id": 42})
    order = magento.rest("GET", f"orders/{guest['entity_id']}").json()
    # the control API's answer is the REST order plus the shared "id" and "number"
    assert {k: v for k, v in guest.items() if k not in ("id", "number")} == order
    assert (guest["id"], guest["number"]) == (str(order["entity_id"]), order["increment_id"])
    assert isinstance(order["entity_id"], int) and order["increment_id"] == "000000001"
    assert (order["state"], order["status"], order["customer_is_guest"]) == ("new", "pending", 1)
    assert "customer_id" not in order  # Magento drops null fields
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", order["created_at"])
    assert order["items"][0]["product_type"] == "simple" and order["items"][0]["order_id"] == order["entity_id"]
    assert order["billing_address"]["address_type"] == "billing" and order["billing_address"]["street"]
    assert order["payment"] | {"method": "stripe_payments", "last_trans_id": "pi_123"} == order["payment"]
    shipping = order["extension_attributes"]["shipping_assignments"][0]["shipping"]
    assert shipping["address"]["address_type"] == "shipping"
    assert order["status_histories"] == []
    member_order = magento.rest("GET", f"orders/{member['entity_id']}").json()
    assert (member_order["customer_id"], member_order["customer_is_guest"]) == (42, 0)


def test_concurrent_requests_get_distinct_ids(magento):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=16) as pool:
        orders = list(pool.map(lambda _: magento.place(), range(40)))
    assert sorted(o["entity_id"] for o in orders) == list(range(1, 41))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: magento.rest("POST", "order/1/invoice", json={}).status_code, range(8)))
    assert sorted(answers) == [200] + [400] * 7, "exactly one invoice wins"


def test_search_orders_by_increment_id_and_updated_at_with_magentos_paging(magento):
    for day in range(1, 7):
        magento.place(created_at=f"2024-01-0{day} 10:00:00")

    found = magento.search("orders", [[("increment_id", "000000003", "eq")]])
    assert found["total_count"] == 1 and found["items"][0]["increment_id"] == "000000003"

    # Filters in one group OR, groups AND.
    either = magento.search("orders", [[("increment_id", "000000001", "eq"), ("increment_id", "000000002", "eq")],
                                       [("status", "pending", "eq")]])
    assert [o["entity_id"] for o in either["items"]] == [1, 2]

    since = [[("updated_at", "2024-01-02 00:00:00", "gteq")]]
    pages = [magento.search("orders", since, ("updated_at", "ASC"), page_size=2, page=p) for p in (1, 2, 3, 4)]
    ids = [[o["entity_id"] for o in page["items"]] for page in pages]
    assert ids[:3] == [[2, 3], [4, 5], [6]]
    assert ids[3] == [6], "past the last page Magento returns the last page again"
    assert all(page["total_count"] == 5 for page in pages)
    assert pages[3]["search_criteria"]["current_page"] == 4

    newest = magento.search("orders", since, ("entity_id", "DESC"), page_size=1)
    assert newest["items"][0]["entity_id"] == 6
    assert magento.rest("GET", "orders").status_code == 400  # searchCriteria is required


def test_comment_only_sets_a_status_assigned_to_the_current_state(magento):
    order = magento.place(created_at="2024-01-01 00:00:00")
    path = f"orders/{order['entity_id']}/comments"
    ok = magento.rest("POST", path, json={"statusHistory": {
        "comment": "Payment failed", "status": "payment_failed", "is_customer_notified": 0, "is_visible_on_front": 0}})
    assert (ok.status_code, ok.json()) == (200, True)
    refused = magento.rest("POST", path, json={"statusHistory": {"comment": "nope", "status": "processing"}})
    assert (refused.status_code, refused.json()) == (400, {"message": "Order status is not valid"})
    magento.rest("POST", path, json={"statusHistory": {"comment": "Just a note"}})

    after = magento.rest("GET", f"orders/{order['entity_id']}").json()
    assert (after["state"], after["status"]) == ("new", "payment_failed")
    assert [h["comment"] for h in after["status_histories"]] == ["Just a note", "Payment failed"]
    assert after["status_histories"][0]["entity_name"] == "order"
    assert after["updated_at"] > "2024-01-01 00:00:00"


def test_invoice_once_moves_the_order_to_processing(magento):
    order = magento.place(currency="USD", items=[{"sku": "A", "qty": 2, "price": "10.00"}], shipping_amount="3.50")
    path = f"order/{order['entity_id']}/invoice"
    first = magento.rest("POST", path, json={"capture": False, "notify": True, "appendComment": True,
                                             "comment": {"comment": "Paid by Stripe", "is_visible_on_front": 0}})
    assert first.status_code == 200 and first.json() == "1"  # Magento returns the id as a JSON string

    paid = magento.rest("GET", f"orders/{order['entity_id']}").json()
    assert (paid["state"], paid["status"]) == ("processing", "processing")
    assert paid["total_invoiced"] == paid["total_paid"] == 23.5 and paid["total_due"] == 0
    assert paid["status_histories"][0]["comment"] == "Paid by Stripe"

    again = magento.rest("POST", path, json={"capture": False})
    assert again.status_code == 400
    assert again.json() == {"message": "Invoice Document Validation Error(s):\n"
                                       "The order does not allow an invoice to be created."}

    invoices = magento.search("invoices", [[("order_id", str(order["entity_id"]), "eq")]])
    assert invoices["total_count"] == 1 and invoices["items"][0]["state"] == 2
    assert magento.rest("GET", "invoices/1").json()["grand_total"] == 23.5
    assert magento.sim("GET", f"orders/{order['entity_id']}").json()["invoices"][0]["capture_case"] == "offline"


def test_invoice_refused_for_closed_states_and_allowed_after_payment_failed(magento):
    canceled = magento.place(state="canceled", status="canceled")
    refused = magento.rest("POST", f"order/{canceled['entity_id']}/invoice", json={"capture": True})
    assert refused.status_code == 400 and "has a status of canceled" in refused.json()["message"]

    failed = magento.place(state="new", status="payment_failed")
    assert magento.rest("POST", f"order/{failed['entity_id']}/invoice", json={"capture": True}).status_code == 200


def test_credit_memos_refund_amounts_never_more_than_paid_and_close_the_order(magento):
    order = magento.place(currency="USD", items=[{"sku": "A", "qty": 2, "price": "10.00"}], shipping_amount="3.50")
    oid, item = order["entity_id"], order["items"][0]["item_id"]
    path = f"order/{oid}/refund"
    unpaid = magento.rest("POST", path, json={"items": [], "arguments": {"adjustment_positive": "1.00"}})
    assert unpaid.status_code == 400 and "does not allow a creditmemo" in unpaid.json()["message"]
    magento.rest("POST", f"order/{oid}/invoice", json={"capture": False})

    amount_only = {"items": [{"order_item_id": item, "qty": 0}], "appendComment": True, "notify": False,
                   "comment": {"comment": "Refunded in Stripe: refund re_Sim1", "is_visible_on_front": 0},
                   "arguments": {"shipping_amount": 0, "adjustment_positive": "5.25", "adjustment_negative": 0}}
    first = magento.rest("POST", path, json=amount_only)
    assert (first.status_code, first.json()) == (200, 1), first.text  # a bare integer, unlike the invoice's "1"
    over = magento.rest("POST", path, json={**amount_only, "arguments": {"shipping_amount": 0, "adjustment_positive": "18.26"}})
    assert over.status_code == 400
    assert over.json()["message"] == ("Creditmemo Document Validation Error(s):\n"
                                      "The most money available to refund is 18.25 USD.")
    zero = magento.rest("POST", path, json={**amount_only, "arguments": {"shipping_amount": 0}})
    assert zero.status_code == 400 and "must be positive" in zero.json()["message"]
    half = magento.rest("GET", f"orders/{oid}").json()
    assert (half["state"], half["total_refunded"]) == ("processing", 5.25)

    # no items and no shipping argument: everything refundable, shipping included
    rest = magento.rest("POST", path, json={"items": [], "arguments": {"adjustment_negative": "5.25"}})
    assert rest.status_code == 200, rest.text
    closed = magento.rest("GET", f"orders/{oid}").json()
    assert (closed["state"], closed["status"], closed["total_refunded"]) == ("closed", "closed", 23.5)
    memos = magento.search("creditmemos", [[("order_id", str(oid), "eq")]], sort=("entity_id", "ASC"))
    assert [(m["grand_total"], m["adjustment_positive"], m["shipping_amount"]) for m in memos["items"]] == [
        (5.25, 5.25, 0), (18.25, 0, 3.5)]
    assert memos["items"][0]["comments"][0]["comment"].endswith("re_Sim1")
    assert magento.rest("GET", f"creditmemo/{memos['items'][1]['entity_id']}").json()["items"][0]["qty"] == 2
    summary = magento.sim("GET", f"orders/{oid}").json()["summary"]
    assert summary["payment_state"] == "refunded"
    assert [(r["amount"], r["stripe_refund_id"]) for r in summary["refunds"]] == [(5.25, "re_Sim1"), (18.25, None)]


def test_partial_invoices_add_up_to_the_grand_total(magento):
    order = magento.place(items=[{"sku": "A", "qty": 2, "price": "10.00"}, {"sku": "B", "qty": 1, "price": "1.50"}],
                          shipping_amount="2.00")
    path = f"order/{order['entity_id']}/invoice"
    item_a = order["items"][0]["item_id"]
    too_many = magento.rest("POST", path, json={"items": [{"order_item_id": item_a, "qty": 3}]})
    assert too_many.status_code == 400 and 'SKU \\"A\\"' in too_many.text
    assert magento.rest("POST", path, json={"items": [{"order_item_id": item_a, "qty": 1}]}).json() == "1"
    partly = magento.rest("GET", f"orders/{order['entity_id']}").json()
    assert (partly["total_invoiced"], partly["total_due"], partly["state"]) == (12, 11.5, "processing")
    assert magento.rest("POST", path, json={}).json() == "2"  # the rest
    paid = magento.rest("GET", f"orders/{order['entity_id']}").json()
    assert (paid["total_invoiced"], paid["total_due"]) == (23.5, 0)


def test_unknown_entities_are_magento_404s(magento):
    for method, path in (("GET", "orders/999"), ("GET", "invoices/999"),
                         ("POST", "orders/999/comments"), ("POST", "order/999/invoice")):
        body = {"statusHistory": {"comment": "x"}} if "comments" in path else {}
        answer = magento.rest(method, path, json=body)
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND), path


def test_faults_fail_the_next_matching_requests(magento):
    order = magento.place()
    fault = {"method": "POST", "path_contains": "/invoice", "status": 503, "count": 2}
    assert magento.sim("POST", "faults", json=fault).status_code == 201
    path = f"order/{order['entity_id']}/invoice"
    assert magento.rest("GET", f"orders/{order['entity_id']}").status_code == 200  # not matching
    statuses = [magento.rest("POST", path, json={"capture": True}).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    log = magento.sim("GET", "requests", params={"path_contains": "/invoice"}).json()["requests"]
    assert [(r["status"], r["fault"]) for r in log] == [(503, True), (503, True), (200, False)]
    assert log[0]["headers"]["authorization"] == "<redacted>"

    magento.sim("POST", "faults", json={"path_contains": "/orders", "status": 429, "retry_after": 2})
    limited = magento.rest("GET", f"orders/{order['entity_id']}")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    magento.sim("POST", "faults", json={"status": 400})
    assert magento.rest("GET", "orders/1").json() == {"message": "Simulated bad request %1", "parameters": ["fault"]}


class Receiver:
    """A webhook target that records what it receives."""

    def __init__(self):
        self.calls, self.status = [], 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((self.headers, body))  # case-insensitive lookups
                reply = json.dumps({"received": True}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/magento"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    target = Receiver()
    yield target
    target.server.shutdown()


def adobe_verify(public_pem: bytes, body: bytes, signature: str) -> bool:
    """Adobe's documented check, written out: RSA-SHA256 over the base64 text of the body."""
    key = serialization.load_pem_public_key(public_pem)
    try:
        key.verify(base64.b64decode(signature), base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def test_webhook_is_signed_like_adobe_commerce(magento, receiver, magento_key):
    assert magento.sim("POST", "webhooks", json={"url": receiver.url}).status_code == 201
    order = magento.place()
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["eventName"] == "observer.sales_order_place_after"
    assert payload["data"]["order"]["increment_id"] == order["increment_id"]

    public = magento.sim("GET", "webhook-public-key")
    assert public.text.startswith("-----BEGIN PUBLIC KEY-----")
    signature = headers["x-adobe-commerce-webhook-signature"]
    assert adobe_verify(public.content, body, signature)
    assert not adobe_verify(public.content, body.replace(b"000000001", b"000000002"), signature)
    assert verify_adobe_webhook(public.text, body, signature)
    assert not verify_adobe_webhook(public.text, body + b" ", signature)
    # The helper signs the same way, so tests can forge valid deliveries.
    assert adobe_verify(public.content, b"{}", sign_adobe_webhook(magento_key.read_bytes(), b"{}"))

    receiver.status = 500
    again = magento.sim("POST", f"orders/{order['entity_id']}/webhook").json()
    assert (again["status"], again["body"]) == (500, {"received": True})
    assert receiver.calls[1][1] == body  # a duplicate delivery carries the same bytes
    deliveries = magento.sim("GET", "webhooks").json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200, 500]


def test_customers_are_magentos_shape_validated_on_put_and_announced_on_save(magento, receiver):
    assert magento.sim("POST", "webhooks", json={"url": receiver.url}).status_code == 201
    made = magento.sim("POST", "customers", json={"email": "amy@example.com", "firstname": "Amy", "lastname": "Lee",
                                                   "telephone": "+1 555", "address": {"street": ["1 Main St"],
                                                   "city": "Austin", "country_id": "US", "region_code": "TX"}})
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    saved = json.loads(receiver.calls[-1][1])
    assert saved["eventName"] == "observer.customer_save_after"
    assert str(saved["data"]["customer"]["id"]) == cid
    customer = magento.rest("GET", f"customers/{cid}").json()
    assert customer["default_billing"] == str(customer["addresses"][0]["id"])
    assert customer["addresses"][0]["region"]["region_code"] == "TX"
    # PUT replaces the record as sent; email, firstname and lastname are required and checked
    customer["lastname"] = "Park"
    customer["custom_attributes"] = [{"attribute_code": "stripe_customer_id", "value": "cus_1"}]
    put = magento.rest("PUT", f"customers/{cid}", json={"customer": customer})
    assert put.status_code == 200, put.text
    assert len(receiver.calls) == 2
    summary = magento.sim("GET", f"customers/{cid}").json()["summary"]
    assert (summary["name"], summary["stripe_customer_id"]) == ("Amy Park", "cus_1")
    bad = dict(customer, email="not-an-email")
    refused = magento.rest("PUT", f"customers/{cid}", json={"customer": bad})
    assert (refused.status_code, refused.json()["parameters"]) == (400, {"fieldName": "Email"})
    other = magento.sim("POST", "customers", json={"email": "bo@example.com", "notify": False}).json()["id"]
    taken = magento.rest("PUT", f"customers/{other}", json={"customer": dict(customer, id=int(other))})
    assert taken.status_code == 400 and "same email" in taken.json()["message"]
    assert magento.rest("GET", "customers/999").status_code == 404
    found = magento.search("customers/search", groups=[[("email", "amy@example.com", "eq")]])
    assert [c["id"] for c in found["items"]] == [int(cid)]
    assert len(receiver.calls) == 2, "refused saves and notify=false announce nothing"
    posted = magento.rest("POST", "customers", json={"customer": {"email": "cy@example.com", "firstname": "Cy",
                                                                    "lastname": "New", "website_id": 1}})
    assert posted.status_code == 200, posted.text
    assert posted.json()["addresses"] == [] and len(receiver.calls) == 3
    again = magento.rest("POST", "customers", json={"customer": {"email": "CY@example.com", "firstname": "Cy",
                                                                   "lastname": "New"}})
    assert again.status_code == 400 and "same email" in again.json()["message"]
    listed = magento.sim("GET", "customers", params={"email": "Cy@Example.com"}).json()["items"]
    assert [c["id"] for c in listed] == [posted.json()["id"]]
    magento.sim("PATCH", f"customers/{cid}", json={"telephone": "+1 999"})
    assert json.loads(receiver.calls[-1][1])["data"]["customer"]["addresses"][0]["telephone"] == "+1 999"


def test_webhook_subscriptions_over_rest_are_validated_and_called_once_per_url(magento, receiver):
    hook = {"webhook_method": "observer.sales_order_place_after", "webhook_type": "after", "batch_name": "tally",
            "hook_name": "order_placed", "url": receiver.url, "required": False, "timeout": 5000}
    assert magento.rest("POST", "webhooks/subscribe", json={"webhook": hook}, token="wrong").status_code == 401
    for broken, needle in [({**hook, "hook_name": "order placed"}, "hook_name"),
                           ({**hook, "webhook_method": "sales_order_place_after"}, "webhook_method"),
                           ({**hook, "webhook_type": "around"}, "webhook_type"),
                           ({**hook, "timeout": -1}, "timeout"),
                           ({k: v for k, v in hook.items() if k != "url"}, "url")]:
        refused = magento.rest("POST", "webhooks/subscribe", json={"webhook": broken}, store="all")
        assert refused.status_code == 400 and needle in json.dumps(refused.json()), refused.text
    for _ in range(2):  # the same identity again replaces it
        assert magento.rest("POST", "webhooks/subscribe", json={"webhook": hook}, store="all").status_code == 200
    listed = magento.rest("GET", "webhooks/list", store="all").json()
    assert listed == [hook]
    # a URL both registered in the admin and subscribed is called once
    assert magento.sim("POST", "webhooks", json={"url": receiver.url}).status_code == 201
    magento.place()
    assert len(receiver.calls) == 1
    identity = {k: hook[k] for k in ("webhook_method", "webhook_type", "batch_name", "hook_name")}
    assert magento.rest("POST", "webhooks/unsubscribe", json={"webhook": identity}, store="all").status_code == 200
    assert magento.rest("GET", "webhooks/list", store="all").json() == []
    assert magento.rest("POST", "webhooks/unsubscribe", json={"webhook": identity}, store="all").status_code == 404


def test_webhook_key_survives_a_restart(magento, magento_key, tmp_path):
    first = magento.sim("GET", "webhook-public-key").text
    second = Simulator("magento", ["--private-key", str(magento_key)], tmp_path / "second.log")
    try:
        assert requests.get(second.url + "/_sim/webhook-public-key", timeout=10).text == first
    finally:
        assert second.stop() == 0


# --- ERP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def erp_process(tmp_path_factory):
    sim = Simulator("erp", ["--secret", "old-secret", "--secret", ERP_SECRET],
                    tmp_path_factory.mktemp("logs") / "erp.log")
    yield sim
    assert sim.stop() == 0


def tally_signature(secret: str, timestamp: int, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class Erp:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, path: str, entry=None, key: str | None = None, secret: str = ERP_SECRET,
             timestamp: int | None = None, signature: str | None = None, **kw):
        body = json.dumps(entry).encode() if entry is not None else b""
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": "application/json", "X-Tally-Timestamp": str(timestamp),
                   "X-Tally-Signature": signature or tally_signature(secret, timestamp, body)}
        if key:
            headers["Idempotency-Key"] = key
        return requests.request(method, self.url + path, data=body, headers=headers, timeout=10, **kw)

    def post(self, entry, key="je-key-1", **kw):
        return self.call("POST", "/api/journal-entries", entry, key, **kw)


@pytest.fixture
def erp(erp_process) -> Erp:
    client = Erp(erp_process.url)
    assert requests.post(client.url + "/_sim/reset", timeout=10).status_code == 200
    return client


def entry(amount="12.34", currency="USD", key="je-key-1", **extra):
    return {"idempotency_key": key, "date": "2024-05-01", "currency": currency, "memo": "Order 000000001",
            "references": {"platform": "magento", "order_id": "1", "increment_id": "000000001",
                           "payment_intent": "pi_1", "charge": "ch_1"},
            "lines": [{"account": "1010", "debit": amount}, {"account": "4000", "credit": amount}], **extra}


def test_erp_requires_a_valid_signature(erp):
    body = json.dumps(entry()).encode()
    now = int(time.time())
    for kwargs in ({"secret": "wrong"}, {"timestamp": now - 301}, {"signature": "v1=deadbeef"}):
        answer = erp.post(entry(), **kwargs)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_signature", kwargs
    unsigned = requests.post(erp.url + "/api/journal-entries", data=body, timeout=10,
                             headers={"Idempotency-Key": "k", "Content-Type": "application/json"})
    assert unsigned.status_code == 401
    # Several v1 values (a rotation): one match is enough; the old secret still works.
    both = tally_signature("wrong", now, body) + "," + tally_signature(ERP_SECRET, now, body)
    assert erp.post(entry(), timestamp=now, signature=both).status_code == 201
    assert erp.post(entry(key="je-key-2"), key="je-key-2", secret="old-secret").status_code == 201
    assert erp.call("GET", "/api/journal-entries", params={"order_id": "1"}).json()["count"] == 2
    assert requests.get(erp.url + "/api/journal-entries", timeout=10).status_code == 401


def test_erp_validates_entries(erp):
    missing_key = erp.post(entry(), key=None)
    assert missing_key.status_code == 400
    unbalanced = erp.post(dict(entry(), lines=[{"account": "1010", "debit": "12.34"},
                                               {"account": "4000", "credit": "12.33"}]))
    assert unbalanced.status_code == 422
    assert unbalanced.json() | {"error": "unbalanced", "debits": "12.34", "credits": "12.33"} == unbalanced.json()
    bad = {
        "lines": [{"account": "1010", "debit": "1.00"}],
        "lines[0]": [{"account": "1010", "debit": "1.00", "credit": "1.00"}, {"account": "4000", "credit": "1.00"}],
        "lines[0].debit": [{"account": "1010", "debit": 1.0}, {"account": "4000", "credit": "1.00"}],
        "lines[1].credit": [{"account": "1010", "debit": "1.00"}, {"account": "4000", "credit": "-1.00"}],
        "lines[0].account": [{"account": "", "debit": "1.00"}, {"account": "4000", "credit": "1.00"}],
    }
    for field, lines in bad.items():
        answer = erp.post(dict(entry(), lines=lines))
        assert answer.status_code == 422 and answer.json()["error"] == "invalid_entry", field
        assert answer.json()["field"] == field
    assert erp.post(entry("1000.5", "JPY")).json()["field"] == "lines[0].debit"
    assert erp.post(entry("1000", "JPY")).status_code == 201
    assert erp.post(entry("1.234", "KWD", key="kwd"), key="kwd").status_code == 201


def test_erp_idempotency(erp):
    first = erp.post(entry())
    assert first.status_code == 201 and first.json()["id"] == "JE-000001" and first.json()["status"] == "posted"
    replay = erp.post(entry())
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    conflict = erp.post(entry("99.00"))
    assert (conflict.status_code, conflict.json()["error"]) == (409, "idempotency_conflict")
    assert erp.call("GET", "/api/journal-entries/JE-000001").json() == first.json()
    assert len(requests.get(erp.url + "/_sim/entries", timeout=10).json()["entries"]) == 1


def test_erp_faults(erp):
    requests.post(erp.url + "/_sim/faults", json={"path_contains": "/api/journal-entries", "status": 503}, timeout=10)
    assert erp.post(entry()).status_code == 503
    assert erp.post(entry()).status_code == 201
    log = requests.get(erp.url + "/_sim/requests", timeout=10).json()["requests"]
    assert [r["status"] for r in log] == [503, 201]


def test_a_merchants_credit_memo_and_a_comment_naming_its_stripe_refund(magento):
    order = magento.place(currency="JPY", items=[{"sku": "T", "qty": 2, "price": "1500"}], shipping_amount="500")
    oid = order["entity_id"]
    assert magento.sim("POST", f"orders/{oid}/refunds", json={"amount": "100"}).status_code == 400, "not invoiced"
    magento.rest("POST", f"order/{oid}/invoice", json={"capture": False})
    by_amount = magento.sim("POST", f"orders/{oid}/refunds", json={"amount": "1000"}).json()
    by_items = magento.sim("POST", f"orders/{oid}/refunds", json={"items": [{"sku": "T", "qty": 1}], "shipping": True}).json()
    assert (by_amount["amount"], by_items["amount"]) == (1000, 2000)
    path = f"creditmemo/{by_amount['id']}/comments"
    assert magento.rest("POST", path, json={"entity": {"parent_id": int(by_amount["id"])}}).status_code == 400
    ok = magento.rest("POST", path, json={"entity": {"parent_id": int(by_amount["id"]), "comment": "Refunded in Stripe: refund re_X1",
                                                      "is_customer_notified": 0, "is_visible_on_front": 0}})
    assert ok.status_code == 200 and ok.json()["comment"].endswith("re_X1")
    refunds = magento.sim("GET", f"orders/{oid}").json()["summary"]["refunds"]
    assert [(r["amount"], r["stripe_refund_id"]) for r in refunds] == [(1000, "re_X1"), (2000, None)]


def sales_order(total="47.48", key="so-1", currency="USD", **extra):
    return {"idempotency_key": key, "date": "2024-05-01", "currency": currency, "memo": "magento order #000000001",
            "references": {"platform": "magento", "order_id": "1", "charge": "ch_1"},
            "customer": {"external_id": None, "email": "ada@example.com", "name": "Ada Lovelace"},
            "lines": [{"sku": "TEE", "name": "Tee", "quantity": "2", "amount": "39.98"}],
            "shipping": "5.00", "tax": "3.50", "discount": "1.00", "adjustment": "0.00", "total": total,
            "payment": {"amount": total, "reference": "ch_1"}, **extra}


def test_erp_sales_orders_add_up_and_credit_memos_never_exceed_them(erp):
    post = lambda path, body, key: erp.call("POST", path, body, key)  # noqa: E731
    differs = post("/api/sales-orders", sales_order(total="47.49"), "so-1")
    assert differs.status_code == 422 and differs.json()["error"] == "totals_differ", differs.text
    assert post("/api/sales-orders", sales_order(tax="3.505"), "so-1").json()["field"] == "tax"
    made = post("/api/sales-orders", sales_order(), "so-1")
    assert made.status_code == 201 and made.json()["id"] == "SO-000001", made.text
    again = post("/api/sales-orders", sales_order(), "so-1")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert post("/api/sales-orders", sales_order(memo="other"), "so-1").status_code == 409
    assert post("/api/sales-orders", sales_order(adjustment="-1.00", total="46.48"), "so-2").status_code == 201

    def memo(amount, key, order="so-1"):
        return post("/api/credit-memos", {"idempotency_key": key, "sales_order": order, "date": "2024-05-02",
                                          "currency": "USD", "memo": "refund", "references": {"refund": key},
                                          "amount": amount}, key)

    assert memo("10.00", "cm-x", order="so-9").json()["error"] == "unknown_sales_order"
    assert memo("40.00", "cm-1").status_code == 201
    assert memo("40.00", "cm-1").headers["Idempotent-Replayed"] == "true"
    over = memo("7.49", "cm-2")
    assert over.status_code == 422 and over.json()["error"] == "over_credit", over.text
    assert memo("7.48", "cm-2").status_code == 201
    listed = requests.get(erp.url + "/_sim/credit-memos", params={"sales_order": "so-1"}, timeout=10).json()
    assert [m["amount"] for m in listed["credit_memos"]] == ["40.00", "7.48"]
    orders = requests.get(erp.url + "/_sim/sales-orders", params={"order_id": "1"}, timeout=10).json()
    assert len(orders["sales_orders"]) == 2
