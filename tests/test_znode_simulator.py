"""The Znode simulator against Znode 9.x's published behaviour (../shared/platforms/znode.md),
run as a subprocess exactly as the stack runs it. No AWS needed."""

import base64
import time

import pytest
import requests

from test_simulators import Simulator

DOMAIN, KEY = "shop.example.com", "a3f1c0de-key"


@pytest.fixture(scope="module")
def znode(tmp_path_factory):
    sim = Simulator("znode", ["--domain", DOMAIN, "--key", KEY], tmp_path_factory.mktemp("logs") / "znode.log")
    yield sim.url
    assert sim.stop() == 0


@pytest.fixture(scope="module")
def znode_token_mode(tmp_path_factory):
    """Znode with EnableTokenBasedAuthorization and a TokenExpirationTime of 1.2 seconds."""
    sim = Simulator("znode", ["--domain", DOMAIN, "--key", KEY, "--auth", "token", "--token-minutes", "0.02"],
                    tmp_path_factory.mktemp("logs") / "znode-token.log")
    yield sim.url
    assert sim.stop() == 0


def auth(domain=DOMAIN, key=KEY) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{domain}|{key}".encode()).decode()}


def api(znode, method, path, **kw):
    kw.setdefault("headers", auth())
    return requests.request(method, f"{znode}/{path}", timeout=10, **kw)


def place(znode, **spec) -> dict:
    spec.setdefault("items", [{"sku": "MUG", "name": "Mug", "qty": 2, "price": "7.50"}])
    r = requests.post(f"{znode}/_sim/orders", json=spec, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def test_basic_credentials_are_domain_pipe_key_and_anything_else_is_401(znode):
    placed = place(znode)
    for headers in [{}, auth(key="wrong"), auth(domain="other"),
                    {"Authorization": "Basic " + base64.b64encode(f"{DOMAIN}:{KEY}".encode()).decode()}]:
        r = api(znode, "GET", f"orders/{placed['id']}", headers=headers)
        assert r.status_code == 401
        assert r.json()["ErrorCode"] == 32
    assert api(znode, "GET", f"orders/{placed['id']}").status_code == 200


def test_orders_come_in_base_response_envelopes_and_missing_ones_are_204(znode):
    placed = place(znode, currency="EUR", customer={"email": "grace@example.com", "firstname": "Grace"})
    r = api(znode, "GET", f"orders/{placed['id']}")
    body = r.json()
    assert body["HasError"] is False and body["ErrorCode"] is None
    order = body["Order"]
    assert (order["OmsOrderId"], order["OrderNumber"]) == (int(placed["id"]), placed["number"])
    assert (order["Total"], order["CurrencyCode"], order["PaymentStatus"]) == (15, "EUR", "Pending")
    assert "OrderId" not in order and "TotalAmount" not in order
    assert api(znode, "GET", f"orders/getbyordernumber/{placed['number']}").json()["Order"]["OmsOrderId"] == order["OmsOrderId"]
    for missing in ["orders/999999", "orders/getbyordernumber/ZN-NOPE"]:
        r = api(znode, "GET", missing)
        assert (r.status_code, r.content) == (204, b"")


def test_payment_status_and_transaction_id_change_through_gets(znode):
    placed = place(znode)
    states = api(znode, "GET", "orders/getpaymentstatelist").json()["PaymentStateList"]
    assert "Captured" in [s["Name"] for s in states]
    assert api(znode, "GET", f"Orders/UpdateOrderTransactionId/{placed['id']}/ch_3MixedCase").json()["IsSuccess"]
    assert api(znode, "GET", f"orders/updateorderpaymentstatus/{placed['id']}/captured").json()["IsSuccess"]
    bad = api(znode, "GET", f"orders/updateorderpaymentstatus/{placed['id']}/Paid")
    assert (bad.status_code, bad.json()["ErrorCode"], bad.json()["HasError"]) == (500, 5, True)
    summary = requests.get(f"{znode}/_sim/orders/{placed['id']}", timeout=10).json()["summary"]
    # routes match in any case, as ASP.NET's do; the values keep theirs
    assert summary | {"payment_state": "paid", "transaction_id": "ch_3MixedCase"} == summary


def test_details_by_number_validate_and_notes_are_kept(znode):
    placed = place(znode)
    too_long = api(znode, "PUT", "orders/updateorderdetailsbyordernumber",
                   json={"OmsOrderNumber": placed["number"], "OrderNotes": "x" * 501})
    assert too_long.status_code == 400 and "OrderNotes" in too_long.json()["CustomModelState"]
    ok = api(znode, "PUT", "orders/updateorderdetailsbyordernumber",
             json={"OmsOrderNumber": placed["number"], "OrderStateName": "payment failed", "OrderNotes": "declined"})
    assert ok.json()["IsSuccess"]
    unknown = api(znode, "PUT", "orders/updateorderdetailsbyordernumber",
                  json={"OmsOrderNumber": placed["number"], "OrderStateName": "NO SUCH STATE"})
    assert unknown.status_code == 500
    order = api(znode, "GET", f"orders/{placed['id']}").json()["Order"]
    assert order["OrderState"] == "Payment Failed"
    note = api(znode, "POST", "orders/addordernote", json={"OmsOrderDetailsId": order["OmsOrderDetailsId"], "Notes": "hello"})
    assert note.json()["IsSuccess"]
    notes = [n["Notes"] for n in api(znode, "GET", f"orders/{placed['id']}").json()["Order"]["OrderNotes"]]
    assert notes == ["declined", "hello"]
    assert requests.get(f"{znode}/_sim/orders/{placed['id']}", timeout=10).json()["summary"]["payment_state"] == "failed"


def test_list_filters_sorts_and_pages_as_znode_does(znode):
    ids = [int(place(znode, created_at="2031-01-01 00:00:00")["id"]) for _ in range(5)]
    r = api(znode, "GET", "orders/list", params={"filter": "orderdate~ge~2031-01-01 00:00:00,omsorderid~gt~" + str(ids[0]),
                                                  "sort": "omsorderid~asc", "page": "index~1,size~2"})
    page = r.json()["OrderList"]
    assert [o["OmsOrderId"] for o in page["Orders"]] == ids[1:3]
    assert (page["TotalResults"], page["TotalPages"], page["PageSize"]) == (4, 2, 2)
    # modified date is not a filter Znode 9.x can take (ambiguous column in its stored procedure)
    assert api(znode, "GET", "orders/list", params={"filter": "modifieddate~ge~2031-01-01"}).status_code == 500


def test_faults_and_the_request_log_follow_the_shared_control_api(znode):
    placed = place(znode)
    requests.post(f"{znode}/_sim/faults", json={"method": "GET", "path_contains": f"/orders/{placed['id']}",
                                                 "status": 503, "count": 1}, timeout=10).raise_for_status()
    assert api(znode, "GET", f"orders/{placed['id']}").status_code == 503
    assert api(znode, "GET", f"orders/{placed['id']}").status_code == 200
    log = requests.get(f"{znode}/_sim/requests", params={"path_contains": f"/orders/{placed['id']}"}, timeout=10).json()
    assert [e["status"] for e in log["requests"]][-2:] == [503, 200]
    assert all("a3f1c0de" not in str(e) for e in log["requests"]), "credentials never logged"


def test_token_mode_wants_a_token_from_generatetoken_and_it_expires(znode_token_mode):
    znode = znode_token_mode
    placed = place(znode)
    # The token mode ignores the Basic header; a missing token is "Token is invalid".
    refused = api(znode, "GET", f"orders/{placed['id']}")
    assert (refused.status_code, refused.json()["ErrorCode"], refused.json()["ErrorMessage"]) == (401, 32, "Token is invalid")
    wrong = api(znode, "GET", "token/generatetoken", headers=auth(key="wrong"))
    assert (wrong.status_code, wrong.json()) == (404, {"Response": "Web API Key Not Found"})
    token = api(znode, "GET", "token/generatetoken").json()["Response"]
    assert KEY not in token
    ok = api(znode, "GET", f"orders/{placed['id']}", headers={"Token": token})
    assert ok.status_code == 200 and ok.json()["Order"]["OmsOrderId"] == int(placed["id"])
    assert api(znode, "GET", f"orders/{placed['id']}", headers={"Token": "not-a-token"}).status_code == 401
    time.sleep(1.5)
    expired = api(znode, "GET", f"orders/{placed['id']}", headers={"Token": token})
    assert (expired.status_code, expired.json()["ErrorMessage"]) == (401, "Token is expired")


def test_registered_urls_get_the_webhook_consumer_call_for_orders_placed(znode):
    """Standing in for Znode 10's Webhook Consumer: an unsigned JSON call naming the order."""
    import http.server
    import json
    import threading

    got = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"received":true}')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook?tally_secret=s3cret"
    try:
        requests.post(f"{znode}/_sim/webhooks", json={"url": url}, timeout=10).raise_for_status()
        placed = place(znode, currency="JPY", items=[{"sku": "T", "name": "Tea", "qty": 1, "price": "1200"}])
        assert placed["webhooks"][0]["status"] == 200
        quiet = place(znode, notify=False)
        again = requests.post(f"{znode}/_sim/orders/{placed['id']}/webhook", timeout=10).json()
        assert (again["status"], again["body"]) == (200, {"received": True})
    finally:
        requests.delete(f"{znode}/_sim/webhooks", timeout=10)
        server.shutdown()
    assert [p for p, _ in got] == ["/hook?tally_secret=s3cret"] * 2
    assert all(body["EventName"] == "OrderPlaced" and body["Data"]["OmsOrderId"] == int(placed["id"]) for _, body in got)
    assert got[0][1]["Data"]["Total"] == 1200 and quiet["webhooks"] == []


def test_payment_rows_show_in_the_history_only_with_a_payment_setting_and_without_their_reference(znode):
    placed = place(znode)
    order = api(znode, "GET", f"orders/{placed['id']}").json()["Order"]
    assert order["PaymentSettingId"] == 1 and order["PaymentHistoryList"]["PaymentHistoryList"] == []
    row = {"OmsOrderId": order["OmsOrderId"], "TransactionReference": "ch_1", "Total": "15.00",
           "TransactionStatus": "Captured"}
    assert api(znode, "POST", "order/saveorderpaymentdetail", json=row).json()["IsSuccess"]
    # Znode_GetPaymentHistory joins the row to its payment setting: none, not shown
    assert api(znode, "GET", f"orders/{placed['id']}").json()["Order"]["PaymentHistoryList"]["PaymentHistoryList"] == []
    api(znode, "POST", "order/saveorderpaymentdetail", json={**row, "PaymentSettingId": 1})
    api(znode, "POST", "order/saveorderpaymentdetail",
        json={**row, "PaymentSettingId": 1, "TransactionReference": "re_9", "Total": "4.5", "TransactionStatus": "Refunded",
              "RemainingOrderAmount": "10.5"})
    history = api(znode, "GET", f"orders/{placed['id']}").json()["Order"]["PaymentHistoryList"]["PaymentHistoryList"]
    assert [(h["Amount"], h["TransactionStatus"]) for h in history] == [(15, "Captured"), (4.5, "Refunded")]
    assert all("TransactionReference" not in h for h in history), "PaymentHistoryModel has no TransactionReference"
    assert api(znode, "POST", "order/saveorderpaymentdetail", json={**row, "Total": "lots"}).status_code == 500
    api(znode, "GET", f"orders/updateorderpaymentstatus/{placed['id']}/Captured")
    summary = requests.get(f"{znode}/_sim/orders/{placed['id']}", timeout=10).json()["summary"]
    assert summary["payment_state"] == "partially_refunded"
    assert [(r["amount"], r["stripe_refund_id"]) for r in summary["refunds"]] == [(4.5, "re_9")]


def test_returns_list_by_state_and_key_and_refund_processed_takes_the_whole_model_with_its_note(znode):
    placed = place(znode, items=[{"sku": "MUG", "qty": 2, "price": "7.50"}, {"sku": "TEE", "qty": 1, "price": "10.00"}])
    made = requests.post(f"{znode}/_sim/orders/{placed['id']}/refunds", json={"items": [{"sku": "MUG", "qty": 1}]},
                         timeout=10).json()
    in_review = requests.post(f"{znode}/_sim/orders/{placed['id']}/refunds", json={"amount": "3.00", "state": 30},
                              timeout=10).json()
    assert (made["amount"], made["state"], in_review["state"]) == (7.5, "Approved", "In Review")

    def listed(filter_):
        r = api(znode, "GET", "rmareturn/list", params={"filter": filter_, "sort": "RmaReturnDetailsId~asc",
                                                         "page": "index~1,size~10"})
        assert r.status_code == 200, r.text
        return r.json()["ReturnList"]["Returns"]

    rows = listed(f"ReturnStatus~eq~Approved,OrderNumber~eq~{placed['number']}")
    assert [r["ReturnNumber"] for r in rows] == [made["id"]]
    assert "OmsOrderId" not in rows[0] and "ReturnNotes" not in rows[0], "the list's SQL has neither"
    assert listed(f"ReturnStatus~eq~Approved,RmaReturnDetailsId~gt~{rows[0]['RmaReturnDetailsId']}") == []
    assert api(znode, "GET", "rmareturn/list", params={"filter": "ModifiedDate~gt~2020-01-01"}).status_code == 500
    assert api(znode, "GET", "rmareturn/getreturndetails/RET-none").status_code == 204
    bare = api(znode, "GET", f"rmareturn/getreturndetails/{made['id']}").json()["Return"]
    assert bare["ReturnLineItems"] is None and bare["OmsOrderId"] == int(placed["id"])
    full = api(znode, "GET", f"rmareturn/getreturndetails/{made['id']}",
               params={"expand": "returnnotes,returnitemlist"}).json()["Return"]
    # SaveOrderReturn refuses a model without its lines, as a re-post of the bare read would be
    refused = api(znode, "POST", "rmareturn/submitorderreturn", json={**bare, "RmaReturnStateId": 80, "IsAdminRequest": True})
    assert refused.status_code == 500 and refused.json()["HasError"]
    done = api(znode, "POST", "rmareturn/submitorderreturn",
               json={**full, "RmaReturnStateId": 80, "IsAdminRequest": True, "Notes": "Tally refund re_77 (7.50 USD): x"})
    assert done.status_code == 201, done.text
    after = api(znode, "GET", f"rmareturn/getreturndetails/{made['id']}", params={"expand": "returnnotes"}).json()["Return"]
    assert (after["RmaReturnStateId"], after["IsRefundProcess"]) == (80, True)
    assert [n["Notes"] for n in after["ReturnNotes"]] == ["Tally refund re_77 (7.50 USD): x"]
    assert made["id"] not in [r["ReturnNumber"] for r in listed("ReturnStatus~eq~Approved")]
    requests.post(f"{znode}/_sim/returns/{in_review['id']}/state", json={"state": 70}, timeout=10)
    assert [r["ReturnNumber"] for r in listed(f"ReturnStatus~eq~Partially Approved,OrderNumber~eq~{placed['number']}")] \
        == [in_review["id"]]
    summary = requests.get(f"{znode}/_sim/orders/{placed['id']}", timeout=10).json()["summary"]
    assert sorted((r["id"], r["amount"], r["state"], r["stripe_refund_id"]) for r in summary["refunds"]) == sorted([
        (made["id"], 7.5, "refunded", "re_77"), (in_review["id"], 3, "approved", None)])


def test_users_are_read_saved_whole_and_listed_by_modification(znode):
    cid = requests.post(f"{znode}/_sim/customers", json={"email": "amy@example.com", "firstname": "Amy",
                                                         "lastname": "Lee", "telephone": "555"}, timeout=10).json()["id"]
    user = api(znode, "GET", f"useraccounts/{cid}/1").json()["User"]
    assert (user["Email"], user["PhoneNumber"], user["IsGuestUser"]) == ("amy@example.com", "555", False)
    assert api(znode, "GET", "useraccounts/99999/1").status_code == 204
    # the model sent is the whole row: a column left out is cleared, and no CreatedDate fails in SQL
    partial = {"UserId": int(cid), "Email": "amy@example.com", "FirstName": "Amy", "LastName": "Park"}
    r = api(znode, "PUT", "customeraccount/updatecustomer", json=partial)
    assert r.status_code == 500 and "datetime" in r.json()["ErrorMessage"]
    time.sleep(1.1)
    r = api(znode, "PUT", "customeraccount/updatecustomer", json=user | {"LastName": "Park", "Custom1": "cus_1"})
    assert r.status_code == 200, r.text
    summary = requests.get(f"{znode}/_sim/customers/{cid}", timeout=10).json()["summary"]
    assert (summary["name"], summary["stripe_customer_id"]) == ("Amy Park", "cus_1")
    assert summary["updated_at"] > user["ModifiedDate"]
    # the list: the procedure's columns, to the minute, for the portal's admin only
    minute = user["ModifiedDate"][:16]
    listed = api(znode, "GET", "customeraccount/list/2", params={
        "filter": f"modifieddate~ge~{minute},portalid~eq~1", "sort": "modifieddate~asc",
        "page": "index~1,size~100"}).json()
    rows = [u for u in listed["Users"] if u["UserId"] == int(cid)]
    assert rows and "Custom1" not in rows[0] and rows[0]["ModifiedDate"] == summary["updated_at"]
    assert api(znode, "GET", "customeraccount/list/77").json()["Users"] == []
    assert api(znode, "GET", "customeraccount/list/2", params={"filter": "colour~eq~red"}).status_code == 500
    # an order names the user with its email; a guest checkout leaves a user of its own
    order = place(znode, customer={"email": "amy@example.com", "firstname": "Amy"})["order"]
    assert order["UserId"] == int(cid)
    guest = place(znode, customer={"email": "gus@example.com", "firstname": "Gus"})["order"]
    assert api(znode, "GET", f"useraccounts/{guest['UserId']}/1").json()["User"]["IsGuestUser"] is True
    assert requests.post(f"{znode}/_sim/customers/{cid}/webhook", timeout=10).status_code == 409


def test_addresses_are_rows_of_their_own_saved_whole(znode):
    cid = requests.post(f"{znode}/_sim/customers", json={"email": "al@example.com", "firstname": "Al",
                                                         "lastname": "Moves"}, timeout=10).json()["id"]
    before = requests.get(f"{znode}/_sim/customers/{cid}", timeout=10).json()["summary"]["updated_at"]
    assert api(znode, "POST", "customer/createcustomeraddress", json={"UserId": 0}).status_code == 500
    made = api(znode, "POST", "customer/createcustomeraddress", json={
        "UserId": int(cid), "Address1": "1 Main St", "CityName": "Austin", "StateName": "TX", "PostalCode": "78701",
        "CountryName": "US", "IsDefaultBilling": True}).json()["Address"]
    listed = api(znode, "GET", "customer/addresslist", params={"filter": f"userid~eq~{cid}"}).json()["AddressList"]
    assert [(a["AddressId"], a["UserId"], a["StateCode"]) for a in listed] == [(made["AddressId"], int(cid), "TX")]
    # the model sent is the whole row
    partial = {"AddressId": made["AddressId"], "Address1": "2 Side St"}
    assert api(znode, "PUT", "customer/updatecustomeraddress", json=partial).status_code == 500
    time.sleep(1.1)
    assert api(znode, "PUT", "customer/updatecustomeraddress", json=listed[0] | {"CityName": "Dallas"}).status_code == 200
    summary = requests.get(f"{znode}/_sim/customers/{cid}", timeout=10).json()["summary"]
    assert summary["address"]["city"] == "Dallas" and summary["address"]["line1"] == "1 Main St"
    assert summary["updated_at"] == before, "saving an address does not touch the user"
    rows = api(znode, "GET", "address/list", params={"filter": f"modifieddate~ge~{listed[0]['ModifiedDate'][:16]}",
                                                     "sort": "modifieddate~asc"}).json()["AddressList"]
    assert made["AddressId"] in [r["AddressId"] for r in rows]
    owner = api(znode, "GET", "customer/addresslist", params={"filter": f"addressid~eq~{made['AddressId']}"}).json()
    assert owner["AddressList"][0]["UserId"] == int(cid)
