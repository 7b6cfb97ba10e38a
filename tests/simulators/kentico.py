"""Kentico Xperience 13 REST service simulator.

    cd tests && ../.venv/bin/python -m simulators.kentico --host 127.0.0.1 --port 4650 \\
        --user tally-integration --password PASSWORD

Serves what Tally uses of the REST service as Kentico 13 does (facts and sources:
../shared/platforms/kentico.md), under /rest on the administration application's domain:
- Basic auth of a Kentico user; missing or wrong credentials answer **403** (not 401).
- `GET /rest/<object type>/<id>` answers `{"<type with _>":[{...}]}`; an unknown id 404.
- `GET /rest/<object type>[/site/<site name>]` lists with `where` (SQL, see _sql_where.py),
  `orderby`, `topn`: `{"<type>s":[{"<type>":[...]},{"TotalRecords":[{"TotalRecords":n}]}]}`.
- `PUT /rest/<object type>/<id>` with `{"<type>": {fields}}` changes those fields; `POST
  /rest/<object type>` creates one (custom table items). Only `?format=json` is simulated.
- JSON dates are .NET's `\\/Date(ms+0000)\\/`; money `decimal(18,9)` numbers with nine places.
- The object API's rule on save (OrderInfoProvider): moving an order to a status flagged
  `StatusOrderIsPaid` sets `OrderIsPaid`; every status change is kept in the order's status
  history (COM_OrderStatusUser); every save moves `OrderLastModified`.
Object types: ecommerce.order, ecommerce.orderitem, ecommerce.orderstatus, ecommerce.currency,
ecommerce.paymentoption, ecommerce.customer, ecommerce.address, cms.country and cms.state
(kentico_customers.py), and the custom table customtableitem.tally.refund Tally's README asks
merchants to create (RefundOrderID, RefundAmount, RefundStatus, RefundStripeRefundID, RefundNote
and the custom table system fields ItemID, ItemGUID, ItemCreatedWhen, ItemModifiedWhen).
**Assumed** (kentico.md marks them UNCONFIRMED): the PUT path format, the plural wrapper's name,
and that REST saves run the provider's paid-status rule.

Kentico 13 sends no webhooks. A merchant's integration-bus connector posts Tally's signed task
(README, "Kentico"): URLs registered with POST /_sim/webhooks `{"url", "secret"}` get
`{"TaskType":"CreateObject","ObjectType":"ecommerce.order","ObjectID":id}` with
`X-Tally-Signature: t=..,v1=..` for each order placed with `notify` (the default).

Control API, the same on every platform simulator: POST/GET /_sim/orders, GET /_sim/orders/{id}
(native order plus `summary`), POST /_sim/orders/{id}/refunds (a person's refund request row:
`{"amount"}` or `{"items": [{"sku", "qty"}]}`), POST /_sim/orders/{id}/webhook,
POST/GET/DELETE /_sim/faults, GET /_sim/requests, POST /_sim/reset.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import threading
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from ._common import (Faults, Request, RequestLog, Response, Router, control_route, currency_decimals,
                      decimals_of, dumps, format_decimal, injected_fault, parse_decimal, post_webhook,
                      round_money, serve)
from ._sql_where import SqlError, order_by, where
from .kentico_customers import ADDRESS, CUSTOMER, KenticoCustomers

SITE_ID, SITE_NAME = 1, "DancingGoat"
# COM_OrderStatus rows as a merchant might have them (names are the merchant's data)
STATUSES = [(1, "New", False), (2, "PaymentReceived", True), (3, "PaymentFailed", False), (4, "InProgress", False),
            (5, "Completed", True), (6, "Canceled", False)]
PAYMENT_OPTIONS = [(1, "stripe_payments", "Card (Stripe)"), (2, "cod", "Cash on delivery")]
REFUND_TABLE = "customtableitem.tally.refund"
NINE = Decimal("0.000000001")


class KenticoError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class SimError(Exception):
    pass


class Raw(str):
    """Text emitted into JSON as is (a .NET decimal keeps its scale: 39.980000000)."""


def to_json(value):
    if isinstance(value, datetime):
        ms = int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)
        return f"/Date({ms}+0000)/"
    if isinstance(value, Decimal):
        return Raw(format(value.quantize(NINE), "f"))
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def encode(obj) -> bytes:
    """Compact JSON, "/" escaped as .NET's serializer does, Raw numbers unquoted."""
    if isinstance(obj, Raw):
        return str(obj).encode()
    if isinstance(obj, dict):
        return b"{" + b",".join(dumps(str(k)).encode() + b":" + encode(v) for k, v in obj.items()) + b"}"
    if isinstance(obj, list):
        return b"[" + b",".join(encode(v) for v in obj) + b"]"
    return dumps(obj, php=True).encode()


def kentico_json(status: int, obj) -> Response:
    return Response(status, encode(to_json(obj)), "application/json; charset=utf-8")


def now() -> datetime:
    moment = datetime.now(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def sign(secret: str, body: bytes) -> str:
    t = str(int(time.time()))
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class KenticoSimulator(KenticoCustomers):
    def __init__(self, user: str, password: str):
        self.user, self.password = user, password
        self.lock = threading.RLock()
        self.faults = Faults(lambda status: "Simulated failure")
        self.requests = RequestLog()
        self.rest, self.sim = Router(ignore_case=True), Router()
        self.reset()
        r = self.rest
        r.add("GET", r"/rest/(?P<type>[a-z0-9_.]+)/site/(?P<site>[^/]+)", self.list_objects)
        r.add("GET", r"/rest/(?P<type>[a-z0-9_.]+)/(?P<id>\d+)", self.get_object)
        r.add("GET", r"/rest/(?P<type>[a-z0-9_.]+)", self.list_objects)
        r.add("PUT", r"/rest/(?P<type>[a-z0-9_.]+)/(?P<id>\d+)", self.put_object)
        r.add("POST", r"/rest/(?P<type>[a-z0-9_.]+)/site/(?P<site>[^/]+)", self.post_object)
        r.add("POST", r"/rest/(?P<type>[a-z0-9_.]+)", self.post_object)
        s = self.sim
        s.add("POST", r"/_sim/orders", self.sim_create_order)
        s.add("GET", r"/_sim/orders", lambda req: kentico_json(200, {"items": self.all_orders()}))
        s.add("GET", r"/_sim/orders/(?P<id>\d+)", self.sim_get_order)
        s.add("POST", r"/_sim/orders/(?P<id>\d+)/refunds", self.sim_refund_request)
        s.add("POST", r"/_sim/orders/(?P<id>\d+)/webhook", self.sim_reemit)
        s.add("POST", r"/_sim/webhooks", self.sim_add_webhook)
        s.add("GET", r"/_sim/webhooks", lambda req: kentico_json(200, {"targets": [t["url"] for t in self.webhooks],
                                                                        "deliveries": list(self.deliveries)}))
        s.add("DELETE", r"/_sim/webhooks", lambda req: (self.webhooks.clear(), kentico_json(200, {"targets": []}))[1])
        s.add("GET", r"/_sim/requests", lambda req: kentico_json(200, {"requests": self.requests.list(
            req.arg("path_contains"), req.arg("method"))}))
        s.add("POST", r"/_sim/faults", lambda req: kentico_json(201, self.faults.add(req.json())))
        s.add("GET", r"/_sim/faults", lambda req: kentico_json(200, {"faults": self.faults.list()}))
        s.add("DELETE", r"/_sim/faults", lambda req: (self.faults.clear(), kentico_json(200, {"faults": []}))[1])
        s.add("POST", r"/_sim/reset", lambda req: (self.reset(), kentico_json(200, {"reset": True}))[1])
        s.add("GET", r"/_sim/health", lambda req: kentico_json(200, {"ok": True}))
        self.customer_routes()

    def reset(self) -> None:
        with self.lock:
            self.webhooks: list[dict] = getattr(self, "webhooks", [])
            self.deliveries: list[dict] = []
            stamp = now()
            self.tables: dict[str, dict[int, dict]] = {
                "ecommerce.order": {}, "ecommerce.orderitem": {}, REFUND_TABLE: {}, CUSTOMER: {},
                "ecommerce.orderstatus": {i: {"StatusID": i, "StatusName": n, "StatusDisplayName": n,
                                              "StatusOrderIsPaid": paid, "StatusEnabled": True, "StatusSiteID": SITE_ID,
                                              "StatusLastModified": stamp} for i, n, paid in STATUSES},
                "ecommerce.currency": {},
                "ecommerce.paymentoption": {i: {"PaymentOptionID": i, "PaymentOptionName": n,
                                                "PaymentOptionDisplayName": d, "PaymentOptionSiteID": SITE_ID}
                                            for i, n, d in PAYMENT_OPTIONS},
            }
            self.tables.update(self.customer_tables(stamp))
            for code in ("USD", "EUR", "JPY", "KWD"):
                self.currency_id(code)
            self.next_id = {"ecommerce.order": 100, "ecommerce.orderitem": 1000, REFUND_TABLE: 0}

    def currency_id(self, code: str) -> int:
        table = self.tables["ecommerce.currency"]
        found = next((c["CurrencyID"] for c in table.values() if c["CurrencyCode"] == code), None)
        if found is None:
            found = len(table) + 1
            table[found] = {"CurrencyID": found, "CurrencyCode": code, "CurrencyName": code,
                            "CurrencyDisplayName": code, "CurrencyEnabled": True, "CurrencySiteID": SITE_ID,
                            "CurrencyRoundTo": currency_decimals(code)}
        return found

    # --- dispatch ---

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return control_route(self.sim, req, kentico_json, (SimError, ValueError))
        faulted = injected_fault(self.faults, self.requests, req)
        if faulted:
            return faulted
        try:
            self.authorize(req)
            if (req.arg("format") or "xml").lower() != "json":
                raise KenticoError(400, "The simulator serves format=json only.")
            found = self.rest.match(req.method, req.path.rstrip("/"))
            if not found:
                raise KenticoError(404, "Not found.")
            handler, args = found
            response = handler(req, **args)
        except KenticoError as e:
            response = Response(e.status, e.message.encode(), "text/plain; charset=utf-8")
        except SqlError as e:
            response = Response(400, str(e).encode(), "text/plain; charset=utf-8")
        self.requests.record(req, response.status)
        return response

    def authorize(self, req: Request) -> None:
        header = req.headers.get("authorization", "")
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode() if header.startswith("Basic ") else ""
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        user, _, password = decoded.partition(":")
        if not (user == self.user and hmac.compare_digest(password.encode(), self.password.encode())):
            raise KenticoError(403, "Access denied.")

    # --- REST ---

    def table(self, object_type: str) -> dict[int, dict]:
        table = self.tables.get(object_type.lower())
        if table is None:
            raise KenticoError(404, f"Object type '{object_type}' not found.")
        return table

    @staticmethod
    def wrap_one(object_type: str, obj: dict) -> dict:
        return {object_type.lower().replace(".", "_"): [obj]}

    def get_object(self, req: Request, type: str, id: str) -> Response:
        with self.lock:
            obj = self.table(type).get(int(id))
            if obj is None:
                raise KenticoError(404, "Not found.")
            return kentico_json(200, self.wrap_one(type, copy.deepcopy(obj)))

    def list_objects(self, req: Request, type: str, site: str | None = None) -> Response:
        if site is not None and site.lower() != SITE_NAME.lower():
            raise KenticoError(404, f"Site '{site}' not found.")
        with self.lock:
            rows = list(self.table(type).values())
            columns = {k for k in (rows[0] if rows else self.columns_of(type)) if not k.startswith("_")}
            predicate = where(req.arg("where"), columns)
            # filtered before copying: a table of thousands of orders is read in one pass
            rows = [copy.deepcopy(r) for r in rows if predicate(r) and (site is None or all(
                r.get(k) in (SITE_ID, None) for k in r if k.endswith("SiteID")))]
        rows = order_by(rows, req.arg("orderby") or self.id_column(type, rows), columns)
        total = len(rows)
        top = req.arg("topn")
        if top:
            rows = rows[: max(int(top), 0)]
        name = type.lower().replace(".", "_")
        listing = ([{name: rows}] if rows else []) + [{"TotalRecords": [{"TotalRecords": total}]}]
        return kentico_json(200, {name + "s": listing})

    def columns_of(self, object_type: str) -> set[str]:
        """Columns of an empty table (its first row's shape when it has one)."""
        sample = {"ecommerce.order": self.build_order({}, dry=True), "ecommerce.orderitem": {
            "OrderItemID": 0, "OrderItemOrderID": 0, "OrderItemSKUName": "", "OrderItemSKUID": 0,
            "OrderItemUnitCount": 0, "OrderItemUnitPrice": 0, "OrderItemTotalPrice": 0},
            REFUND_TABLE: self.refund_row(0, Decimal(0), "requested", dry=True), CUSTOMER: self.customer_row(0),
            ADDRESS: self.address_row(0, 0)}
        return set(sample.get(object_type.lower(), {}).keys())

    @staticmethod
    def id_column(object_type: str, rows: list[dict]) -> str:
        return "ItemID" if object_type.lower().startswith("customtableitem.") else next(
            (k for k in (rows[0] if rows else {}) if k.endswith("ID")), "")

    def body_fields(self, req: Request, object_type: str) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise KenticoError(400, "The request body is not valid JSON.")
        name = object_type.lower().replace(".", "_")
        fields = next((v for k, v in (body or {}).items() if k.lower() == name), None) if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise KenticoError(400, f"The body must be {{\"{name}\": {{...}}}}.")
        return fields

    def put_object(self, req: Request, type: str, id: str) -> Response:
        fields = self.body_fields(req, type)
        with self.lock:
            obj = self.table(type).get(int(id))
            if obj is None:
                raise KenticoError(404, "Not found.")
            unknown = [k for k in fields if k not in obj or k.startswith("_")]
            if unknown:
                raise KenticoError(400, f"Unknown field(s) {', '.join(unknown)}.")
            if type.lower() == "ecommerce.order":
                self.save_order(obj, fields)
            else:
                for k, v in fields.items():
                    obj[k] = self.stored(obj[k], v)
                if "ItemModifiedWhen" in obj:
                    obj["ItemModifiedWhen"] = now()
                if type.lower() == CUSTOMER:
                    self.customer_saved(obj)
                if type.lower() == ADDRESS:
                    self.check_address(obj)
                    obj["AddressLastModified"] = now()
            answer = kentico_json(200, self.wrap_one(type, copy.deepcopy(obj)))
        if type.lower() == CUSTOMER:
            self.emit_customer(int(id))
        if type.lower() == ADDRESS:  # the connector sends the address's customer
            self.emit_customer(obj["AddressCustomerID"])
        return answer

    def post_object(self, req: Request, type: str, site: str | None = None) -> Response:
        if site is not None and site.lower() != SITE_NAME.lower():
            raise KenticoError(404, f"Site '{site}' not found.")
        if type.lower() == CUSTOMER:
            fields = self.body_fields(req, type)
            with self.lock:
                row = self.create_customer_object(fields)
                answer = kentico_json(200, self.wrap_one(type, copy.deepcopy(row)))
            self.emit_customer(row["CustomerID"], "CreateObject")
            return answer
        if type.lower() == ADDRESS:
            fields = self.body_fields(req, type)
            with self.lock:
                row = self.create_address(fields)
                answer = kentico_json(200, self.wrap_one(type, copy.deepcopy(row)))
            self.emit_customer(row["AddressCustomerID"], "CreateObject")
            return answer
        if type.lower() != REFUND_TABLE:
            raise KenticoError(403, f"Creating {type} objects through REST is not allowed on this site.")
        fields = self.body_fields(req, type)
        with self.lock:
            amount = parse_decimal(fields.get("RefundAmount"))
            if amount is None:
                raise KenticoError(400, "RefundAmount: not a decimal.")
            row = self.refund_row(int(fields.get("RefundOrderID") or 0), amount, str(fields.get("RefundStatus") or ""))
            for k, v in fields.items():
                if k not in row:
                    raise KenticoError(400, f"Unknown field {k}.")
                if k not in ("RefundAmount",):
                    row[k] = v
            return kentico_json(200, self.wrap_one(type, copy.deepcopy(row)))

    @staticmethod
    def stored(old, new):
        if isinstance(old, Decimal) and new is not None:
            value = parse_decimal(new)
            if value is None:
                raise KenticoError(400, f"{new!r} is not a decimal.")
            return value
        return new

    def save_order(self, order: dict, fields: dict) -> None:
        """OrderInfoProvider.SetOrderInfoInternal: the paid-status rule, status history, OrderLastModified."""
        statuses = self.tables["ecommerce.orderstatus"]
        if "OrderStatusID" in fields and int(fields["OrderStatusID"] or 0) not in statuses:
            raise KenticoError(400, f"OrderStatusID {fields['OrderStatusID']} does not exist.")
        before = (order["OrderStatusID"], order["OrderIsPaid"])
        for k, v in fields.items():
            order[k] = self.stored(order[k], v)
        status = statuses[order["OrderStatusID"]]
        if order["OrderStatusID"] != before[0]:
            order["_history"].append({"FromStatusID": before[0], "ToStatusID": order["OrderStatusID"], "Date": now()})
            if status["StatusOrderIsPaid"]:
                order["OrderIsPaid"] = True
        if order["OrderIsPaid"] and not before[1]:
            order["_payments"].append({"amount": order["OrderGrandTotal"], "at": now(),
                                       "transaction_id": self.payment_item(order, "transactionid")})
        order["OrderLastModified"] = now()

    @staticmethod
    def payment_item(order: dict, name: str) -> str | None:
        import re
        m = re.search(r'<item name="' + name + r'"[^>]* value="([^"]*)"', order.get("OrderPaymentResult") or "")
        return m.group(1) if m else None

    # --- control API ---

    def refund_row(self, order_id: int, amount: Decimal, status: str, dry: bool = False) -> dict:
        stamp = now()
        item_id = 0 if dry else self.next_id[REFUND_TABLE] + 1
        row = {"ItemID": item_id, "ItemGUID": str(uuid.uuid4()), "ItemCreatedBy": 53, "ItemCreatedWhen": stamp,
               "ItemModifiedBy": 53, "ItemModifiedWhen": stamp, "ItemOrder": None, "RefundOrderID": order_id,
               "RefundAmount": amount, "RefundStatus": status, "RefundStripeRefundID": None, "RefundNote": None}
        if not dry:
            self.next_id[REFUND_TABLE] = item_id
            self.tables[REFUND_TABLE][item_id] = row
        return row

    def build_order(self, spec: dict, dry: bool = False) -> dict:
        currency = str(spec.get("currency") or "USD").upper()
        places = currency_decimals(currency)
        order_id = 0 if dry else self.next_id["ecommerce.order"] + 1
        items, total = [], Decimal(0)
        for n, raw in enumerate(spec.get("items") or ([] if dry else [{"sku": "TEE", "name": "Tee", "qty": 1, "price": "10.00"}])):
            qty, price = parse_decimal(raw.get("qty", 1)), parse_decimal(raw.get("price"))
            if qty is None or qty <= 0 or price is None or price < 0 or decimals_of(price) > places:
                raise SimError(f"items[{n}] needs a positive qty and a price with at most {places} decimals")
            row = round_money(price * qty, currency)
            total += row
            items.append({"OrderItemID": 0, "OrderItemOrderID": order_id, "OrderItemSKUID": 500 + n,
                          "OrderItemSKUName": raw.get("name") or raw.get("sku"), "_sku": raw.get("sku") or f"SKU{n}",
                          "OrderItemUnitCount": int(qty) if qty == int(qty) else qty, "OrderItemUnitPrice": price,
                          "OrderItemTotalPrice": row})
        option = next((i for i, name, _ in PAYMENT_OPTIONS if name == str(spec.get("payment_method") or "stripe_payments").lower()), 1)
        stamp = now()
        order = {
            "OrderID": order_id, "OrderInvoiceNumber": str(order_id), "OrderSiteID": SITE_ID, "OrderStatusID": 1,
            "OrderCurrencyID": 0 if dry else self.currency_id(currency), "OrderCustomerID": 7, "OrderCreatedByUserID": None,
            "OrderPaymentOptionID": option, "OrderShippingOptionID": 1, "OrderTotalShipping": Decimal(0),
            "OrderTotalPrice": total, "OrderTotalTax": Decimal(0), "OrderGrandTotal": total,
            "OrderGrandTotalInMainCurrency": total, "OrderTotalPriceInMainCurrency": total, "OrderIsPaid": False,
            "OrderDate": stamp, "OrderLastModified": stamp, "OrderNote": None, "OrderPaymentResult": None,
            "OrderCulture": "en-US", "OrderGUID": str(uuid.uuid4()), "OrderCustomData": None,
            "OrderTrackingNumber": None, "OrderInvoice": None, "OrderDiscounts": None, "OrderOtherPayments": None,
            "OrderTaxSummary": None, "OrderCouponCodes": None,
            "_items": items, "_history": [], "_payments": [], "_email": (spec.get("customer") or {}).get("email"),
        }
        return order

    def sim_create_order(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict):
            raise SimError("body must be a JSON object")
        with self.lock:
            order = self.build_order(spec)
            order_id = order["OrderID"]
            self.next_id["ecommerce.order"] = order_id
            self.tables["ecommerce.order"][order_id] = order
            for item in order["_items"]:
                self.next_id["ecommerce.orderitem"] += 1
                item["OrderItemID"] = self.next_id["ecommerce.orderitem"]
                self.tables["ecommerce.orderitem"][item["OrderItemID"]] = item
        deliveries = self.emit(order_id) if spec.get("notify", True) else []
        return kentico_json(201, {"id": str(order_id), "number": order["OrderInvoiceNumber"],
                                  "order": copy.deepcopy(order), "webhooks": deliveries})

    def sim_refund_request(self, req: Request, id: str) -> Response:
        """A person's refund request: a row added in the admin's Custom table data application."""
        spec = req.json() or {}
        with self.lock:
            order = self.tables["ecommerce.order"].get(int(id))
            if order is None:
                return kentico_json(404, {"error": "no such order"})
            currency = self.tables["ecommerce.currency"][order["OrderCurrencyID"]]["CurrencyCode"]
            if spec.get("amount") is not None:
                amount = parse_decimal(spec["amount"])
            else:
                amount = Decimal(0)
                for e in spec.get("items") or []:
                    item = next((i for i in order["_items"] if i["_sku"] == e.get("sku")), None)
                    qty = parse_decimal(e.get("qty", 1))
                    if item is None or qty is None or qty <= 0:
                        raise SimError(f"cannot refund {e}")
                    amount += round_money(item["OrderItemUnitPrice"] * qty, currency)
            if amount is None or amount <= 0 or amount > order["OrderGrandTotal"]:
                raise SimError("amount must be positive and at most the order total")
            row = self.refund_row(order["OrderID"], amount, "requested")
            return kentico_json(201, {"id": str(row["ItemID"]), "amount": Raw(format_decimal(amount)), "state": "requested"})

    def emit(self, order_id: int, urls: list[dict] | None = None) -> list[dict]:
        """The connector's signed task for an order, to each target; outside the lock (the receiver reads back)."""
        with self.lock:
            targets = list(urls if urls is not None else self.webhooks)
        body = dumps({"TaskType": "CreateObject", "ObjectType": "ecommerce.order", "ObjectID": order_id}).encode()
        results = [{"order_id": order_id, **post_webhook(t["url"], body, {"X-Tally-Signature": sign(t["secret"], body)}, 30)}
                   for t in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results

    def sim_reemit(self, req: Request, id: str) -> Response:
        with self.lock:
            if int(id) not in self.tables["ecommerce.order"]:
                return kentico_json(404, {"error": "no such order"})
        results = self.emit(int(id))
        if not results:
            raise SimError("no webhook targets registered")
        first = results[0]
        return kentico_json(200, {"status": first["status"], "body": first["body"], "error": first["error"],
                                  "deliveries": results})

    def sim_add_webhook(self, req: Request) -> Response:
        spec = req.json() or {}
        url, secret = (spec.get("url"), spec.get("secret")) if isinstance(spec, dict) else (None, None)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not secret:
            raise SimError("give an http(s) url and the connector's signing secret")
        with self.lock:
            self.webhooks.append({"url": url, "secret": str(secret)})
            return kentico_json(201, {"targets": [t["url"] for t in self.webhooks]})

    def all_orders(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for o in self.tables["ecommerce.order"].values()]

    def summary(self, order: dict) -> dict:
        """The shared control API's view (amounts as their shortest exact numbers, like the other simulators')."""
        exact = lambda d: Raw(format_decimal(d))  # noqa: E731
        status = self.tables["ecommerce.orderstatus"][order["OrderStatusID"]]["StatusName"]
        rows = [r for r in self.tables[REFUND_TABLE].values() if r["RefundOrderID"] == order["OrderID"]]
        refunded = sum((r["RefundAmount"] for r in rows if (r["RefundStatus"] or "").lower() == "refunded"), Decimal(0))
        state = ("paid" if order["OrderIsPaid"] else "failed" if status == "PaymentFailed" else "awaiting")
        if state == "paid" and refunded:
            state = "refunded" if refunded >= order["OrderGrandTotal"] else "partially_refunded"
        return {"payment_state": state, "transaction_id": self.payment_item(order, "transactionid"),
                "payments": [{"amount": exact(p["amount"]), "transaction_id": p["transaction_id"], "at": p["at"]}
                             for p in order["_payments"]],
                "refunds": [{"id": str(r["ItemID"]), "amount": exact(r["RefundAmount"]), "state": (r["RefundStatus"] or "").lower(),
                             "stripe_refund_id": r["RefundStripeRefundID"] or None, "at": r["ItemCreatedWhen"]} for r in rows],
                "status": status,
                "status_history": [{"from": h["FromStatusID"], "to": h["ToStatusID"], "at": h["Date"]} for h in order["_history"]]}

    def sim_get_order(self, req: Request, id: str) -> Response:
        with self.lock:
            order = self.tables["ecommerce.order"].get(int(id))
            if order is None:
                return kentico_json(404, {"error": "no such order"})
            native = copy.deepcopy(order)
            native["Items"] = copy.deepcopy(order["_items"])
            return kentico_json(200, {"order": native, "summary": self.summary(order)})


KenticoSimulator.now = staticmethod(now)
KenticoSimulator.sign_task = staticmethod(sign)
KenticoSimulator.json = staticmethod(kentico_json)
KenticoSimulator.SITE_ID = SITE_ID
KenticoSimulator.SimError = SimError
KenticoSimulator.KenticoError = KenticoError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4650)
    parser.add_argument("--user", default="tally-integration", help="the Kentico user Tally signs in as")
    parser.add_argument("--password", default="kentico-local-password")
    args = parser.parse_args()
    serve("kentico", KenticoSimulator(args.user, args.password), args.host, args.port)


if __name__ == "__main__":
    main()
