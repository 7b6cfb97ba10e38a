"""Znode Multifront 9.x REST simulator.

    cd tests && ../.venv/bin/python -m simulators.znode --host 127.0.0.1 --port 4640 \\
        --domain localhost:4640 --key KEY [--auth token --token-minutes 10]

Serves the order routes Tally uses as Znode 9.7 does (facts and sources: ../shared/platforms/znode.md):
no /api prefix; PascalCase JSON in BaseResponse envelopes (`ErrorCode`, `ErrorMessage`, `HasError`);
Basic auth with base64("domain|key"), 401 with ErrorCode 32 otherwise, or (`--auth token`, Znode's
EnableTokenBasedAuthorization) a `Token` header from GET /token/generatetoken, which expires; not found on GETs is 204 with
no body; business errors are 500 with an ErrorCode; validation errors are 400 with CustomModelState;
payment status and transaction id change through GETs; `orders/list` takes Znode's
`filter=key~op~value,...&sort=key~dir&page=index~1,size~50` and cannot filter by modified date.

Control API, the same on every platform simulator: POST/GET /_sim/orders, GET /_sim/orders/{id}
(the native order plus a `summary`), POST /_sim/orders/{id}/refunds (an approved return: see
znode_returns.py, which serves `rmareturn/*`), POST/GET/PATCH /_sim/customers (znode_customers.py, which
serves the users Tally reads and saves), POST/GET/DELETE /_sim/faults, GET /_sim/requests, POST /_sim/reset.
Znode 9.x sends no webhooks; to stand in for Znode 10's "Webhook Consumer", URLs registered with
POST /_sim/webhooks get `{"EventName": "OrderPlaced", "Data": {...}}` for each order placed with
`notify` (the default), and POST /_sim/orders/{id}/webhook sends it again (to `{"url"}` if given).
Znode publishes neither that payload nor a signature, so the call is unsigned: the merchant puts a
shared secret in the URL.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hmac
import math
import secrets
import threading
import time
from decimal import Decimal
from urllib.parse import unquote

from .znode_customers import Customers
from .znode_returns import Returns
from ._common import (Faults, Request, RequestLog, Response, Router, control_route, currency_decimals,
                      decimals_of, dumps, injected_fault, json_response, magento_time, parse_decimal,
                      post_webhook, round_money, serve)

# ZnodeOmsPaymentState: names as the post-deploy script leaves them (CamelCased).
PAYMENT_STATES = [(10, "Authorized"), (20, "Captured"), (30, "Declined"), (40, "Refunded"), (50, "Pending"),
                  (60, "Voided"), (70, "PendingForReview")]
# ZnodeOmsOrderState names (IsOrderState) with their descriptions, Tally's "Payment Failed" included
# (a merchant creates it, as the README's Znode setup says).
ORDER_STATES = {"SUBMITTED": "Submitted", "PENDING PAYMENT": "Pending Payment", "SHIPPED": "Shipped",
                "RETURNED": "Returned", "CANCELED": "Canceled", "IN REVIEW": "In Review", "APPROVED": "Approved",
                "PAYMENT FAILED": "Payment Failed"}
NOT_FOUND_CODE, INVALID_DATA, UNAUTHORIZED = 6, 5, 32
# ZnodePaymentSetting rows: the portal's payment methods (card by Stripe, cash on delivery)
PAYMENT_SETTINGS = {1: "Credit card", 2: "COD"}
PAYMENT_SETTING_OF = {"cod": 2}


class ZnodeError(Exception):
    def __init__(self, status: int, message: str, code: int | None = None, model_state: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.model_state = status, message, code, model_state


class SimError(Exception):
    pass


def envelope(**payload) -> dict:
    return {**payload, "ErrorCode": None, "ErrorMessage": None, "HasError": False, "CustomModelState": None,
            "ErrorDetailList": None}


def error_body(e: ZnodeError) -> dict:
    return {"ErrorCode": e.code, "ErrorMessage": e.message, "HasError": e.status != 401,
            "CustomModelState": e.model_state, "ErrorDetailList": None}


def default_fault_body(status: int) -> dict:
    return error_body(ZnodeError(status, "Simulated failure", 1 if status >= 500 else None))


class ZnodeSimulator(Returns, Customers):
    def __init__(self, domain: str, key: str, auth: str = "basic", token_minutes: float = 10):
        self.domain, self.key = domain, key
        self.auth, self.token_seconds = auth, token_minutes * 60
        self.tokens: dict[str, tuple[str, str, float]] = {}  # token -> (domain, key, expires at)
        self.webhooks: list[str] = []
        self.deliveries: list[dict] = []
        self.lock = threading.RLock()
        self.faults = Faults(default_fault_body)
        self.requests = RequestLog()
        self.rest, self.sim = Router(ignore_case=True), Router()
        self.reset()
        r = self.rest
        r.add("GET", r"/token/generatetoken", self.generate_token)
        r.add("GET", r"/orders/getbyordernumber/(?P<number>[^/]+)", self.get_by_number)
        r.add("GET", r"/orders/getpaymentstatelist", self.payment_state_list)
        r.add("GET", r"/orders/list", self.list_orders)
        r.add("GET", r"/orders/updateorderpaymentstatus/(?P<id>[^/]+)/(?P<status>[^/]+)", self.update_payment_status)
        r.add("GET", r"/orders/updateordertransactionid/(?P<id>[^/]+)/(?P<txn>[^/]+)", self.update_transaction_id)
        r.add("PUT", r"/orders/updateorderdetailsbyordernumber", self.update_details_by_number)
        r.add("POST", r"/orders/addordernote", self.add_note)
        r.add("POST", r"/order/saveorderpaymentdetail", self.save_payment_detail)
        r.add("GET", r"/orders/(?P<id>[^/]+)", self.get_order)
        self.return_routes()
        self.customer_routes()
        s = self.sim
        s.add("POST", r"/_sim/orders", self.sim_create_order)
        s.add("GET", r"/_sim/orders", lambda req: json_response(200, {"items": self.all_orders()}))
        s.add("GET", r"/_sim/orders/(?P<id>\d+)", self.sim_get_order)
        s.add("POST", r"/_sim/orders/(?P<id>\d+)/webhook", self.sim_reemit)
        s.add("POST", r"/_sim/webhooks", self.sim_add_webhook)
        s.add("GET", r"/_sim/webhooks", lambda req: json_response(200, {"targets": list(self.webhooks),
                                                                         "deliveries": list(self.deliveries)}))
        s.add("DELETE", r"/_sim/webhooks", lambda req: (self.webhooks.clear(), json_response(200, {"targets": []}))[1])
        s.add("GET", r"/_sim/requests", lambda req: json_response(200, {"requests": self.requests.list(
            req.arg("path_contains"), req.arg("method"))}))
        s.add("POST", r"/_sim/faults", lambda req: json_response(201, self.faults.add(req.json())))
        s.add("GET", r"/_sim/faults", lambda req: json_response(200, {"faults": self.faults.list()}))
        s.add("DELETE", r"/_sim/faults", lambda req: (self.faults.clear(), json_response(200, {"faults": []}))[1])
        s.add("POST", r"/_sim/reset", lambda req: (self.reset(), json_response(200, {"reset": True}))[1])

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[int, dict] = {}
            self.payments: dict[int, list[dict]] = {}
            self.next_order, self.next_note, self.next_payment = 1000, 1, 0
            self.deliveries = []
            self.reset_returns()
            self.reset_customers()

    # --- dispatch ---

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return control_route(self.sim, req, json_response, (SimError, ValueError))
        faulted = injected_fault(self.faults, self.requests, req)
        if faulted:
            return faulted
        try:
            if req.path.lower().rstrip("/") != "/token/generatetoken":  # [AllowAnonymous]
                self.authorize(req)
            found = self.rest.match(req.method, req.path.rstrip("/") or "/")
            if not found:
                raise ZnodeError(404, "No HTTP resource was found that matches the request URI.")
            handler, args = found
            response = handler(req, **args)
        except ZnodeError as e:
            response = json_response(e.status, error_body(e))
        self.requests.record(req, response.status)
        return response

    def basic_ok(self, req: Request) -> bool:
        header = req.headers.get("authorization", "")
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode() if header.startswith("Basic ") else ""
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        domain, _, key = decoded.partition("|")
        return domain == self.domain and hmac.compare_digest(key.encode(), self.key.encode())

    def authorize(self, req: Request) -> None:
        """APIAuthorizeAttribute: the token mode ignores Authorization; the Basic mode ignores Token."""
        if self.auth == "basic":
            if not self.basic_ok(req):
                raise ZnodeError(401, "You are unauthorized to access this resource", UNAUTHORIZED)
            return
        token = req.headers.get("token", "")
        if not token:
            raise ZnodeError(401, "Token is invalid", UNAUTHORIZED)
        with self.lock:
            issued = self.tokens.get(token)
        if issued is None:  # DecryptText throws: the filter answers its default
            raise ZnodeError(401, "You are unauthorized to access this resource", UNAUTHORIZED)
        domain, key, expires = issued
        # ValidateToken: the key the token carries must still be the domain's key, and not expired
        if domain != self.domain or key != self.key or time.time() >= expires:
            raise ZnodeError(401, "Token is expired", UNAUTHORIZED)

    def generate_token(self, req: Request) -> Response:
        """TokenController.GenerateToken: a StringResponse; 404 "Web API Key Not Found" for bad credentials."""
        if not self.basic_ok(req):
            return json_response(404, {"Response": "Web API Key Not Found"})
        token = secrets.token_urlsafe(32)
        with self.lock:
            now = time.time()
            self.tokens = {t: v for t, v in self.tokens.items() if v[2] > now}
            self.tokens[token] = (self.domain, self.key, now + self.token_seconds)
        return json_response(200, envelope(Response=token))

    # --- orders ---

    def find(self, order_id: str) -> dict | None:
        try:
            return self.orders.get(int(order_id))
        except ValueError:
            raise ZnodeError(400, "", None, {"orderId": f"The value '{order_id}' is not valid."})

    def get_order(self, req: Request, id: str) -> Response:
        with self.lock:
            order = self.find(id)
            return Response(204) if order is None else json_response(200, envelope(Order=self.render(order)))

    def get_by_number(self, req: Request, number: str) -> Response:
        with self.lock:
            found = [o for o in self.orders.values() if o["OrderNumber"].lower() == unquote(number).lower()]
            return Response(204) if not found else json_response(200, envelope(Order=self.render(found[0])))

    def payment_state_list(self, req: Request) -> Response:
        states = [{"OmsPaymentStateId": i, "Name": n, "Description": n} for i, n in PAYMENT_STATES]
        return json_response(200, envelope(PaymentStateList=states))

    def list_orders(self, req: Request) -> Response:
        """filter=key~op~value,... (keys and values lower-cased, `^` for a comma), sort=key~dir, page=index~n,size~m."""
        filters = []
        for item in (req.arg("filter") or "").split(","):
            if item.strip():
                parts = item.split("~")
                if len(parts) != 3:
                    raise ZnodeError(500, f"Invalid filter '{item}'", INVALID_DATA)
                filters.append((parts[0].lower(), parts[1].lower(), parts[2].replace("^", ",").lower()))
        fields = {"omsorderid": "OmsOrderId", "orderdate": "OrderDate", "orderstate": "OrderState",
                  "paymentstatus": "PaymentStatus", "portalid": "PortalId", "email": "Email"}
        with self.lock:
            rows = [copy.deepcopy(o) for o in self.orders.values()]
        for key, op, value in filters:
            if key not in fields:
                # Znode_GetOmsOrderDetail concatenates the key into SQL: an unknown or ambiguous column fails there.
                raise ZnodeError(500, "An error occurred while processing the request.", 1)
            rows = [r for r in rows if compare(r[fields[key]], op, value, key == "orderdate")]
        sort_key, _, direction = (req.arg("sort") or "orderdate~desc").partition("~")
        if sort_key.lower() not in fields:
            raise ZnodeError(500, "An error occurred while processing the request.", 1)
        # ties in a sort keep the id order, as the SQL's second key does
        rows.sort(key=lambda r: (str(r[fields[sort_key.lower()]]).zfill(12), r["OmsOrderId"]),
                  reverse=direction.lower() == "desc")
        page = dict(p.split("~", 1) for p in (req.arg("page") or "index~1,size~50").split(",") if "~" in p)
        index, size = max(int(page.get("index", 1)), 1), max(int(page.get("size", 50)), 1)
        total = len(rows)
        return json_response(200, envelope(OrderList={
            "Orders": rows[(index - 1) * size: index * size], "PageIndex": index, "PageSize": size,
            "TotalResults": total, "TotalPages": math.ceil(total / size)}))

    def update_payment_status(self, req: Request, id: str, status: str) -> Response:
        name = unquote(status)
        with self.lock:
            order = self.find(id)
            state = next((n for _, n in PAYMENT_STATES if n.lower() == name.lower()), None)
            if order is None or state is None:
                raise ZnodeError(500, "Invalid data.", INVALID_DATA)
            order["PaymentStatus"] = state
            order["OmsPaymentStateId"] = dict((n, i) for i, n in PAYMENT_STATES)[state]
            self.touch(order)
            return json_response(200, envelope(IsSuccess=True))

    def update_transaction_id(self, req: Request, id: str, txn: str) -> Response:
        with self.lock:
            order = self.find(id)
            if order is None:
                raise ZnodeError(500, "Invalid data.", INVALID_DATA)
            order["TransactionId"] = unquote(txn)
            self.touch(order)
            return json_response(200, envelope(IsSuccess=True))

    def update_details_by_number(self, req: Request) -> Response:
        body = req.json() or {}
        problems = {}
        if len(body.get("ExternalId") or "") > 50:
            problems["ExternalId"] = "The field ExternalId must be a string with a maximum length of 50."
        if len(body.get("OrderNotes") or "") > 500:
            problems["OrderNotes"] = "The field OrderNotes must be a string with a maximum length of 500."
        if problems:
            raise ZnodeError(400, "", None, problems)
        with self.lock:
            order = next((o for o in self.orders.values()
                          if o["OrderNumber"].lower() == str(body.get("OmsOrderNumber", "")).lower()), None)
            if order is None:
                raise ZnodeError(500, "Invalid data.", INVALID_DATA)
            if body.get("OrderStateName"):
                name = str(body["OrderStateName"]).upper()
                if name not in ORDER_STATES:
                    raise ZnodeError(500, "Invalid data.", INVALID_DATA)
                order["OrderState"] = ORDER_STATES[name]
            if body.get("ExternalId"):
                order["ExternalId"] = body["ExternalId"]
            if body.get("OrderNotes"):
                self.note(order, body["OrderNotes"])
            self.touch(order)
            return json_response(200, envelope(IsSuccess=True))

    def add_note(self, req: Request) -> Response:
        body = req.json() or {}
        with self.lock:
            order = next((o for o in self.orders.values()
                          if o["OmsOrderDetailsId"] == body.get("OmsOrderDetailsId")), None)
            if order is None or not body.get("Notes"):
                raise ZnodeError(500, "Invalid data.", INVALID_DATA)
            self.note(order, body["Notes"])
            self.touch(order)
            return json_response(200, envelope(IsSuccess=True))

    def save_payment_detail(self, req: Request) -> Response:
        """Znode_InsertUpdateOmsOrderPayment: one ZnodeOrderPayment row, `Total` stored as `Amount`."""
        body = req.json() or {}
        with self.lock:
            order = self.orders.get(body.get("OmsOrderId") or 0)
            if order is None:
                raise ZnodeError(500, "Invalid data.", INVALID_DATA)
            amount = parse_decimal(body.get("Total"))
            remaining = parse_decimal(body.get("RemainingOrderAmount")) if body.get("RemainingOrderAmount") is not None else None
            if amount is None or (body.get("RemainingOrderAmount") is not None and remaining is None):
                raise ZnodeError(500, "Invalid data.", INVALID_DATA)  # the SP's NUMERIC cast fails
            self.next_payment += 1
            self.payments[order["OmsOrderId"]].append({
                "OrderPaymentId": self.next_payment, "TransactionReference": body.get("TransactionReference"),
                "Amount": amount, "TransactionStatus": body.get("TransactionStatus"),
                "PaymentSettingId": body.get("PaymentSettingId"), "RemainingOrderAmount": remaining,
                "TransactionDate": body.get("TransactionDate"), "CreatedDate": magento_time()})
            return json_response(200, envelope(IsSuccess=True))

    def render(self, order: dict) -> dict:
        """GET orders/{id}: the order with its payment history as Znode_GetPaymentHistory reads it
        (rows joined to a payment setting; PaymentHistoryModel has no TransactionReference)."""
        out = copy.deepcopy(order)
        rows = [{"OrderPaymentId": r["OrderPaymentId"], "OmsOrderId": order["OmsOrderId"], "Amount": r["Amount"],
                 "TransactionStatus": r["TransactionStatus"], "PaymentType": order["PaymentDisplayName"],
                 "RemainingOrderAmount": r["RemainingOrderAmount"] or 0, "CreatedDate": r["CreatedDate"]}
                for r in self.payments[order["OmsOrderId"]] if r["PaymentSettingId"] in PAYMENT_SETTINGS]
        out["PaymentHistoryList"] = {"PaymentHistoryList": rows}
        return out

    def note(self, order: dict, text: str) -> None:
        order["OrderNotes"].append({"OmsNotesId": self.next_note, "OmsOrderDetailsId": order["OmsOrderDetailsId"],
                                    "Notes": text, "UserName": "api", "CreatedDate": magento_time()})
        self.next_note += 1

    @staticmethod
    def touch(order: dict) -> None:
        order["ModifiedDate"] = order["OrderModifiedDate"] = magento_time()

    # --- control API ---

    def build_order(self, spec: dict) -> dict:
        currency = str(spec.get("currency") or "USD").upper()
        places = currency_decimals(currency)
        items = spec.get("items") or [{"sku": "TEE", "name": "Tee", "qty": 1, "price": "10.00"}]
        lines, subtotal = [], Decimal(0)
        for n, raw in enumerate(items):
            qty, price = parse_decimal(raw.get("qty", 1)), parse_decimal(raw.get("price"))
            if qty is None or qty <= 0 or price is None or price < 0 or decimals_of(price) > places:
                raise SimError(f"items[{n}] needs a positive qty and a price with at most {places} decimals")
            row = round_money(price * qty, currency)
            subtotal += row
            lines.append({"OmsOrderLineItemsId": self.next_order * 10 + n, "Sku": raw.get("sku") or f"SKU{n}",
                          "ProductName": raw.get("name") or raw.get("sku"), "Quantity": qty, "Price": price,
                          "Total": row, "ParentOmsOrderLineItemsId": None})
        customer = spec.get("customer") or {}
        now = spec.get("created_at") or magento_time()
        order_id = self.next_order
        self.next_order += 1
        return {
            "OmsOrderId": order_id, "OmsOrderDetailsId": order_id + 50000, "OrderNumber": f"ZN-{order_id:09d}",
            "PortalId": 1, "UserId": self.user_for_order(customer.get("email") or "customer@example.com",
                                                           customer.get("firstname") or "Jane",
                                                           customer.get("lastname") or "Doe"), "OmsOrderStateId": 10, "OrderState": "Submitted", "OmsPaymentStateId": 50,
            "PaymentStatus": "Pending", "PaymentType": str(spec.get("payment_method") or "CREDIT_CARD").upper(),
            "PaymentDisplayName": "Credit card", "TransactionId": None, "ExternalId": "0",
            "PaymentSettingId": PAYMENT_SETTING_OF.get(str(spec.get("payment_method") or "").lower(), 1),
            "CurrencyCode": currency, "CultureCode": "en-US",
            "Email": customer.get("email") or "customer@example.com",
            "FirstName": customer.get("firstname") or "Jane", "LastName": customer.get("lastname") or "Doe",
            "SubTotal": subtotal, "TaxCost": Decimal(0), "ShippingCost": Decimal(0), "DiscountAmount": Decimal(0),
            "Total": subtotal, "OrderDate": now, "OrderModifiedDate": now, "CreatedDate": now, "ModifiedDate": now,
            "BillingAddress": {"FirstName": customer.get("firstname") or "Jane", "LastName": customer.get("lastname") or "Doe",
                               "Address1": "1 Main St", "CityName": "Springfield", "PostalCode": "12345",
                               "CountryName": "US", "PhoneNumber": "555-0100"},
            "OrderLineItems": lines, "OrderNotes": [],
        }

    def sim_create_order(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict):
            raise SimError("body must be a JSON object")
        with self.lock:
            order = self.build_order(spec)
            self.orders[order["OmsOrderId"]] = order
            self.payments[order["OmsOrderId"]] = []
        deliveries = self.emit(order["OmsOrderId"]) if spec.get("notify", True) else []
        return json_response(201, {"id": str(order["OmsOrderId"]), "number": order["OrderNumber"],
                                    "order": copy.deepcopy(order), "webhooks": deliveries})

    def emit(self, order_id: int, urls: list[str] | None = None) -> list[dict]:
        """The Webhook Consumer call for an order, to each target; outside the lock (the receiver reads back)."""
        with self.lock:
            order = self.orders[order_id]
            data = {k: order[k] for k in ("OmsOrderId", "OrderNumber", "PortalId", "Total", "CurrencyCode",
                                          "OrderState", "PaymentStatus", "Email")}
            targets = list(urls if urls is not None else self.webhooks)
        body = dumps({"EventName": "OrderPlaced", "Data": data}).encode()
        results = [{"order_id": order_id, **post_webhook(url, body, {}, 30)} for url in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results

    def sim_reemit(self, req: Request, id: str) -> Response:
        spec = req.json() or {}
        with self.lock:
            if int(id) not in self.orders:
                return json_response(404, {"error": "no such order"})
        urls = [spec["url"]] if isinstance(spec, dict) and spec.get("url") else None
        results = self.emit(int(id), urls)
        if not results:
            raise SimError("no webhook targets registered")
        first = results[0]
        return json_response(200, {"status": first["status"], "body": first["body"], "error": first["error"],
                                   "deliveries": results})

    def sim_add_webhook(self, req: Request) -> Response:
        spec = req.json() or {}
        url = spec.get("url") if isinstance(spec, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SimError("url must be an http(s) URL")
        with self.lock:
            self.webhooks.append(url)
            return json_response(201, {"targets": list(self.webhooks)})

    def all_orders(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for o in self.orders.values()]

    def summary(self, order: dict) -> dict:
        status = order["PaymentStatus"].lower()
        rows = copy.deepcopy(self.payments[order["OmsOrderId"]])
        refunds = [r for r in rows if (r["TransactionStatus"] or "").lower() == "refunded"]
        returns = self.returns_summary(order)
        by_return = {r["stripe_refund_id"] for r in returns if r["stripe_refund_id"]}
        state = ("refunded" if status == "refunded" else "partially_refunded" if status == "captured" and refunds
                 else "paid" if status == "captured"
                 else "failed" if order["OrderState"] == "Payment Failed" or status == "declined" else "awaiting")
        return {"payment_state": state, "transaction_id": order["TransactionId"],
                "payments": [{**r, "amount": r["Amount"], "at": r["CreatedDate"]} for r in rows if r not in refunds],
                # a refund payment row of a return Tally refunded shows as that return
                "refunds": [{"id": str(r["OrderPaymentId"]), "amount": r["Amount"], "state": "refunded",
                             "stripe_refund_id": r["TransactionReference"], "at": r["CreatedDate"]}
                            for r in refunds if r["TransactionReference"] not in by_return] + returns,
                "status": order["OrderState"]}

    def sim_get_order(self, req: Request, id: str) -> Response:
        with self.lock:
            order = self.orders.get(int(id))
            if order is None:
                return json_response(404, {"error": "no such order"})
            return json_response(200, {"order": self.render(order), "summary": self.summary(order)})


def compare(actual, op: str, value: str, is_date: bool) -> bool:
    """Znode's filter operators on one column (values arrive lower-cased)."""
    if is_date:  # compared at minute precision, as the stored procedure does
        actual, value = str(actual)[:16], value[:16]
    elif isinstance(actual, (int, Decimal)) and not isinstance(actual, bool):
        try:
            actual, value = Decimal(actual), Decimal(value)
        except ArithmeticError:
            return False
    else:
        actual = str(actual or "").lower()
    return {"eq": actual == value, "ne": actual != value, "gt": actual > value, "ge": actual >= value,
            "lt": actual < value, "le": actual <= value,
            "cn": str(value) in str(actual), "sw": str(actual).startswith(str(value))}.get(op, False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4640)
    parser.add_argument("--domain", default="localhost:4640", help="the API domain name in the Basic credentials")
    parser.add_argument("--key", default="znode-local-api-key", help="the domain's API key")
    parser.add_argument("--auth", choices=["basic", "token"], default="basic",
                        help="EnableBasicAuthorization (default) or EnableTokenBasedAuthorization")
    parser.add_argument("--token-minutes", type=float, default=10, help="TokenExpirationTime (token mode)")
    args = parser.parse_args()
    serve("znode", ZnodeSimulator(args.domain, args.key, args.auth, args.token_minutes), args.host, args.port)


# the mixins' view of this module (under `python -m` it is `__main__`, not `simulators.znode`)
for mixin in (Returns, Customers):
    mixin.ZnodeError, mixin.SimError = ZnodeError, SimError
    mixin.envelope, mixin.compare = staticmethod(envelope), staticmethod(compare)

if __name__ == "__main__":
    main()
