"""The Kentico simulator against Kentico Xperience 13's published REST behaviour
(../shared/platforms/kentico.md), run as a subprocess exactly as the stack runs it. No AWS needed."""

import base64
import hashlib
import hmac
import http.server
import json
import threading

import pytest
import requests

from test_simulators import Simulator

USER, PASSWORD = "tally-integration", "s3cret-password"


@pytest.fixture(scope="module")
def kentico(tmp_path_factory):
    sim = Simulator("kentico", ["--user", USER, "--password", PASSWORD], tmp_path_factory.mktemp("logs") / "kentico.log")
    yield sim.url
    assert sim.stop() == 0


def auth(user=USER, password=PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def rest(kentico, method, path, params=None, **kw):
    kw.setdefault("headers", auth())
    return requests.request(method, f"{kentico}/rest/{path}", params={"format": "json", **(params or {})},
                            timeout=10, **kw)


def place(kentico, **spec) -> dict:
    spec.setdefault("items", [{"sku": "MUG", "name": "Mug", "qty": 2, "price": "7.50"}])
    spec.setdefault("notify", False)
    r = requests.post(f"{kentico}/_sim/orders", json=spec, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def one(answer: dict, name: str) -> dict:
    assert list(answer) == [name], answer
    [obj] = answer[name]
    return obj


def test_without_valid_credentials_the_rest_service_answers_403(kentico):
    placed = place(kentico)
    for headers in [{}, auth(password="wrong"), auth(user="administrator"),
                    {"Authorization": "Bearer " + PASSWORD}]:
        assert rest(kentico, "GET", f"ecommerce.order/{placed['id']}", headers=headers).status_code == 403
    assert rest(kentico, "GET", f"ecommerce.order/{placed['id']}").status_code == 200


def test_objects_come_wrapped_by_type_with_net_dates_and_nine_place_money(kentico):
    placed = place(kentico, currency="KWD", items=[{"sku": "A", "name": "A", "qty": 2, "price": "6.170"}])
    r = rest(kentico, "GET", f"ecommerce.order/{placed['id']}")
    assert r.status_code == 200
    assert b'"OrderGrandTotal":12.340000000' in r.content, "decimal(18,9) keeps its scale"
    assert b'"OrderDate":"\\/Date(' in r.content, ".NET's date, with its escaped slashes"
    order = one(r.json(), "ecommerce_order")
    currency = one(rest(kentico, "GET", f"ecommerce.currency/{order['OrderCurrencyID']}").json(), "ecommerce_currency")
    assert currency["CurrencyCode"] == "KWD", "the order names its currency by id"
    assert order["OrderIsPaid"] is False and order["OrderInvoiceNumber"] == placed["number"]
    assert rest(kentico, "GET", "ecommerce.order/987654").status_code == 404
    assert rest(kentico, "GET", f"ecommerce.order/{placed['id']}", params={"format": "xml"}).status_code == 400


def test_listings_take_where_orderby_and_topn(kentico):
    ids = [int(place(kentico)["id"]) for _ in range(3)]
    r = rest(kentico, "GET", "ecommerce.order/site/DancingGoat",
             params={"where": f"OrderID IN ({ids[0]},{ids[2]}) AND OrderIsPaid = 0", "orderby": "OrderID DESC"})
    body = r.json()
    assert [o["OrderID"] for o in body["ecommerce_orders"][0]["ecommerce_order"]] == [ids[2], ids[0]]
    assert body["ecommerce_orders"][1] == {"TotalRecords": [{"TotalRecords": 2}]}
    top = rest(kentico, "GET", "ecommerce.order/site/DancingGoat", params={"orderby": "OrderID", "topn": "1",
                                                                          "where": f"OrderID >= {ids[1]}"}).json()
    assert [o["OrderID"] for o in top["ecommerce_orders"][0]["ecommerce_order"]] == [ids[1]]
    empty = rest(kentico, "GET", "ecommerce.order", params={"where": "OrderID < 0"}).json()
    assert empty == {"ecommerce_orders": [{"TotalRecords": [{"TotalRecords": 0}]}]}
    bad = rest(kentico, "GET", "ecommerce.order", params={"where": "NoSuchColumn = 1"})
    assert bad.status_code == 400 and "Invalid column name" in bad.text
    since = rest(kentico, "GET", "ecommerce.order", params={"where": "OrderLastModified >= '2000-01-01 00:00:00.000'"})
    assert since.json()["ecommerce_orders"][-1]["TotalRecords"][0]["TotalRecords"] >= 3
    assert rest(kentico, "GET", "ecommerce.order/site/OtherSite").status_code == 404


def test_moving_an_order_to_a_paid_status_sets_order_is_paid_and_keeps_history(kentico):
    placed = place(kentico)
    statuses = rest(kentico, "GET", "ecommerce.orderstatus/site/DancingGoat").json()
    rows = statuses["ecommerce_orderstatuss"][0]["ecommerce_orderstatus"]
    paid = next(s for s in rows if s["StatusOrderIsPaid"])
    before = one(rest(kentico, "GET", f"ecommerce.order/{placed['id']}").json(), "ecommerce_order")
    put = rest(kentico, "PUT", f"ecommerce.order/{placed['id']}",
               json={"ecommerce_order": {"OrderStatusID": paid["StatusID"], "OrderNote": "[Tally] paid"}})
    assert put.status_code == 200, put.text
    after = one(put.json(), "ecommerce_order")
    assert after["OrderIsPaid"] is True and after["OrderNote"] == "[Tally] paid"
    ms = lambda d: int(d[len("/Date("):].split("+")[0])  # noqa: E731
    assert ms(after["OrderLastModified"]) >= ms(before["OrderLastModified"]) and after["OrderDate"] == before["OrderDate"]
    summary = requests.get(f"{kentico}/_sim/orders/{placed['id']}", timeout=10).json()["summary"]
    assert summary["payment_state"] == "paid" and len(summary["payments"]) == 1
    assert [h["to"] for h in summary["status_history"]] == [paid["StatusID"]]
    for body in ({"ecommerce_order": {"NoSuchField": 1}}, {"ecommerce_order": {"OrderStatusID": 999}},
                 {"OrderNote": "not wrapped"}):
        assert rest(kentico, "PUT", f"ecommerce.order/{placed['id']}", json=body).status_code == 400


def test_refund_rows_live_in_the_custom_table(kentico):
    placed = place(kentico, currency="JPY", items=[{"sku": "T", "name": "Tea", "qty": 1, "price": "4800"}])
    asked = requests.post(f"{kentico}/_sim/orders/{placed['id']}/refunds", json={"amount": "1200"}, timeout=10).json()
    table = "customtableitem.tally.refund"
    row = one(rest(kentico, "GET", f"{table}/{asked['id']}").json(), "customtableitem_tally_refund")
    assert (row["RefundOrderID"], row["RefundStatus"], row["RefundStripeRefundID"]) == (int(placed["id"]), "requested", None)
    made = rest(kentico, "POST", table, json={"customtableitem_tally_refund": {
        "RefundOrderID": int(placed["id"]), "RefundAmount": "100", "RefundStatus": "refunded",
        "RefundStripeRefundID": "re_1"}})
    assert made.status_code == 200, made.text
    assert one(made.json(), "customtableitem_tally_refund")["ItemID"] > row["ItemID"]
    listed = rest(kentico, "GET", table, params={"where": "RefundStatus = 'requested' AND RefundStripeRefundID IS NULL"})
    assert asked["id"] in {str(r["ItemID"]) for r in listed.json()["customtableitem_tally_refunds"][0]["customtableitem_tally_refund"]}
    assert rest(kentico, "POST", "ecommerce.order", json={"ecommerce_order": {}}).status_code == 403


def test_an_order_placed_sends_the_connectors_signed_task(kentico):
    got = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers["X-Tally-Signature"], body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"received":true}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        requests.post(f"{kentico}/_sim/webhooks", json={"url": url, "secret": "whsec_k"}, timeout=10).raise_for_status()
        placed = place(kentico, notify=True)
        assert placed["webhooks"][0]["status"] == 200
        header, body = got[0]
        assert json.loads(body) == {"TaskType": "CreateObject", "ObjectType": "ecommerce.order", "ObjectID": int(placed["id"])}
        t, v1 = (part.split("=", 1)[1] for part in header.split(","))
        assert v1 == hmac.new(b"whsec_k", t.encode() + b"." + body, hashlib.sha256).hexdigest()
    finally:
        requests.delete(f"{kentico}/_sim/webhooks", timeout=10)
        server.shutdown()


def test_faults_and_the_request_log_redact_credentials(kentico):
    placed = place(kentico)
    requests.post(f"{kentico}/_sim/faults", json={"method": "GET", "path_contains": f"ecommerce.order/{placed['id']}",
                                                 "status": 503, "count": 1}, timeout=10).raise_for_status()
    assert rest(kentico, "GET", f"ecommerce.order/{placed['id']}").status_code == 503
    assert rest(kentico, "GET", f"ecommerce.order/{placed['id']}").status_code == 200
    log = requests.get(f"{kentico}/_sim/requests", params={"path_contains": f"ecommerce.order/{placed['id']}"},
                       timeout=10).json()["requests"]
    assert [r["status"] for r in log][-2:] == [503, 200]
    assert all(r["headers"].get("authorization") == "<redacted>" for r in log)


def test_customers_are_objects_saved_by_put_and_announced_as_tasks(kentico):
    got = []

    class Target(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert requests.post(f"{kentico}/_sim/webhooks", json={"url": url, "secret": "s"}, timeout=10).status_code == 201
        cid = requests.post(f"{kentico}/_sim/customers", json={"email": "amy@example.com", "firstname": "Amy",
                                                               "lastname": "Lee"}, timeout=10).json()["id"]
        assert json.loads(got[-1]) == {"TaskType": "CreateObject", "ObjectType": "ecommerce.customer", "ObjectID": int(cid)}
        row = rest(kentico, "GET", f"ecommerce.customer/{cid}").json()["ecommerce_customer"][0]
        assert (row["CustomerEmail"], row["CustomerSiteID"]) == ("amy@example.com", 1)
        before = row["CustomerLastModified"]
        put = rest(kentico, "PUT", f"ecommerce.customer/{cid}",
                   json={"ecommerce_customer": {"CustomerLastName": "Park", "CustomerStripeID": "cus_1"}})
        assert put.status_code == 200, put.text
        assert json.loads(got[-1])["TaskType"] == "UpdateObject"
        summary = requests.get(f"{kentico}/_sim/customers/{cid}", timeout=10).json()["summary"]
        assert (summary["name"], summary["stripe_customer_id"]) == ("Amy Park", "cus_1")
        assert summary["updated_at"] >= before
        unknown = rest(kentico, "PUT", f"ecommerce.customer/{cid}", json={"ecommerce_customer": {"Nope": 1}})
        assert unknown.status_code == 400
        listed = rest(kentico, "GET", "ecommerce.customer/site/DancingGoat",
                      {"where": f"CustomerID = {cid}", "orderby": "CustomerLastModified, CustomerID"}).json()
        assert listed["ecommerce_customers"][0]["ecommerce_customer"][0]["CustomerID"] == int(cid)
    finally:
        requests.delete(f"{kentico}/_sim/webhooks", timeout=10)
        server.shutdown()
