"""The two API shapes the REST store simulator serves (rest_store.py): Clarity's, from what Clarity
publishes with the rest assumed, and a custom storefront's. Each says how its API looks: statuses,
auth, paths, JSON and paging; the store behind them keeps the rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

from ._common import Request, Response, currency_decimals, decimals_of, format_decimal, json_response, parse_decimal, round_money


class StoreError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class SimError(Exception):
    pass


def now() -> float:
    return time.time()


def sign(secret: str, body: bytes) -> str:
    t = str(int(time.time()))
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise StoreError(400, f"'{text}' is not an ISO 8601 date")


class Shape:
    """How one API looks: its statuses, auth, paths, JSON and paging."""
    awaiting = paid = refunded = partly_refunded = failed = ""
    statuses: list[str] = []

    # how the API words a body it cannot read
    not_json, not_object = "The request body is not valid JSON.", "The request body must be a JSON object."

    def __init__(self, store: "RestStore"):
        self.store = store

    @staticmethod
    def reply(status, obj):
        return json_response(status, obj)

    def body(self, req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise StoreError(400, self.not_json)
        if not isinstance(body, dict):
            raise StoreError(400, self.not_object)
        return body


class ClarityShape(Shape):
    awaiting, paid, failed = "Pending Payment", "Paid", "Payment Failed"
    refunded, partly_refunded = "Refunded", "Partially Refunded"
    statuses = ["Pending Payment", "Payment Failed", "Paid", "Processing", "Shipped", "Completed",
                "Partially Refunded", "Refunded", "Cancelled", "On Hold"]
    event = "order.created"

    def __init__(self, store, client_id: str, client_secret: str, token_seconds: float):
        super().__init__(store)
        self.client_id, self.client_secret, self.token_seconds = client_id, client_secret, token_seconds
        self.tokens: dict[str, float] = {}
        r = store.api
        r.add("POST", r"/oauth/token", self.token)
        r.add("GET", r"/api/v1/orders", self.list_orders)
        r.add("GET", r"/api/v1/orders/(?P<id>[^/]+)", lambda req, id: self.reply(200, self.order_json(store.get(id))))
        r.add("PATCH", r"/api/v1/orders/(?P<id>[^/]+)", self.patch_order)
        r.add("POST", r"/api/v1/orders/(?P<id>[^/]+)/payments", self.pay)
        r.add("POST", r"/api/v1/orders/(?P<id>[^/]+)/notes", self.note)
        r.add("GET", r"/api/v1/orders/(?P<id>[^/]+)/refunds", lambda req, id: self.reply(
            200, {"items": [self.refund_json(x) for x in store.get(id)["refunds"]]}))
        r.add("POST", r"/api/v1/orders/(?P<id>[^/]+)/refunds", self.refund)
        r.add("PATCH", r"/api/v1/orders/(?P<id>[^/]+)/refunds/(?P<rid>[^/]+)", self.patch_refund)
        r.add("GET", r"/api/v1/refunds", self.list_refunds)
        r.add("GET", r"/api/v1/customers", self.list_customers)
        r.add("GET", r"/api/v1/customers/(?P<id>[^/]+)", lambda req, id: self.reply(
            200, self.customer_json(store.customer(id))))
        r.add("PUT", r"/api/v1/customers/(?P<id>[^/]+)", self.put_customer)

    def error(self, e: StoreError) -> Response:
        return json_response(e.status, {"message": e.message, "statusCode": e.status})

    def authorize(self, req: Request) -> None:
        if req.path == "/oauth/token":
            return
        header = req.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.store.lock:
            expires = self.tokens.get(token)
        if expires is None or expires < now():
            raise StoreError(401, "The access token is missing, invalid or expired.")

    def token(self, req: Request) -> Response:
        form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        good = form.get("client_id") == self.client_id and hmac.compare_digest(
            (form.get("client_secret") or "").encode(), self.client_secret.encode())
        if not good:
            return json_response(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        with self.store.lock:
            self.tokens[token] = now() + self.token_seconds
            self.store.tokens_issued += 1
        return json_response(200, {"access_token": token, "token_type": "Bearer",
                                   "expires_in": max(int(self.token_seconds), 1), "scope": form.get("scope", "")})

    def money(self, amount: Decimal, currency: str):
        return format_decimal(round_money(amount, currency)) if currency_decimals(currency) else int(amount)

    def order_json(self, o: dict) -> dict:
        c = o["currency"]
        return {
            "id": o["id"], "orderNumber": o["number"], "status": o["status"], "currencyCode": c,
            "totals": {"subtotal": self.money(o["subtotal"], c), "shipping": self.money(o["shipping"], c),
                       "tax": self.money(o["tax"], c), "discount": self.money(-o["discount"], c),
                       "grandTotal": self.money(o["total"], c), "amountPaid": self.money(o["paid"], c)},
            "customer": {"email": o["email"], "firstName": o["first"], "lastName": o["last"]},
            "payment": {"method": o["method"], "transactionId": o["transaction_id"]},
            "lines": [{"sku": i["sku"], "name": i["name"], "quantity": i["qty"],
                       "unitPrice": self.money(i["price"], c), "lineTotal": self.money(i["total"], c)}
                      for i in o["items"]],
            "notes": [{"text": n["text"], "notifyCustomer": n["notify"], "createdDate": rfc3339(n["at"])}
                      for n in o["notes"]],
            "createdDate": rfc3339(o["created"]), "modifiedDate": rfc3339(o["modified"]),
        }

    def refund_json(self, r: dict) -> dict:
        o = self.store.orders[r["order_id"]]
        return {"id": r["id"], "orderId": o["id"], "amount": self.money(r["amount"], o["currency"]),
                "externalReference": r["stripe_refund_id"], "note": r["note"], "createdDate": rfc3339(r["at"])}

    def amount(self, value, currency: str) -> Decimal:
        amount = parse_decimal(value)
        if amount is None or decimals_of(amount) > currency_decimals(currency):
            raise StoreError(400, f"amount {value!r} is not a {currency} amount")
        return amount

    def page(self, req: Request, rows: list) -> tuple[list, dict]:
        page, size = int(req.arg("page") or 1), int(req.arg("pageSize") or 20)
        if page < 1 or not 1 <= size <= 200:
            raise StoreError(400, "page starts at 1; pageSize is 1 to 200")
        return rows[(page - 1) * size: page * size], {"totalCount": len(rows), "page": page, "pageSize": size}

    def list_orders(self, req: Request) -> Response:
        with self.store.lock:
            rows = list(self.store.orders.values())
        if req.arg("orderNumber") is not None:
            rows = [o for o in rows if o["number"] == req.arg("orderNumber")]
        if req.arg("modifiedSince"):
            since = parse_rfc3339(req.arg("modifiedSince"))
            rows = [o for o in rows if int(o["modified"]) >= int(since)]
        if req.arg("sort") == "modifiedDate":
            rows.sort(key=lambda o: (int(o["modified"]), o["id"]))
        items, meta = self.page(req, rows)
        return self.reply(200, {"items": [self.order_json(o) for o in items], **meta})

    def list_refunds(self, req: Request) -> Response:
        with self.store.lock:
            rows = [r for o in self.store.orders.values() for r in o["refunds"]]
        if req.arg("createdSince"):
            since = parse_rfc3339(req.arg("createdSince"))
            rows = [r for r in rows if int(r["at"]) >= int(since)]
        rows.sort(key=lambda r: (int(r["at"]), r["id"]))
        items, meta = self.page(req, rows)
        return self.reply(200, {"items": [self.refund_json(r) for r in items], **meta})

    def patch_order(self, req: Request, id: str) -> Response:
        body = self.body(req)
        if set(body) - {"status"}:
            raise StoreError(400, f"Only status can be changed, not {sorted(set(body) - {'status'})}.")
        self.store.set_status(id, body.get("status"))
        return self.reply(200, self.order_json(self.store.get(id)))

    def pay(self, req: Request, id: str) -> Response:
        b = self.body(req)
        o = self.store.get(id)
        status = b.get("status") or self.paid
        if status not in ("Paid", "Processing"):
            raise StoreError(400, f"A payment moves an order to Paid or Processing, not '{status}'.")
        payment = self.store.pay(id, self.amount(b.get("amount"), o["currency"]), b.get("currencyCode"),
                                 b.get("transactionId"), b.get("note"), status)
        return self.reply(201, {"id": payment["id"], "orderId": id, "transactionId": payment["transaction_id"]})

    def note(self, req: Request, id: str) -> Response:
        b = self.body(req)
        note = self.store.note(id, b.get("text"), bool(b.get("notifyCustomer")))
        return self.reply(201, {"text": note["text"], "createdDate": rfc3339(note["at"])})

    def refund(self, req: Request, id: str) -> Response:
        b = self.body(req)
        o = self.store.get(id)
        r = self.store.refund(id, self.amount(b.get("amount"), o["currency"]), b.get("currencyCode"),
                              b.get("externalReference"), b.get("note"))
        return self.reply(201, self.refund_json(r))

    def patch_refund(self, req: Request, id: str, rid: str) -> Response:
        b = self.body(req)
        r = self.store.mark_refund(id, rid, b.get("externalReference"), b.get("note"))
        return self.reply(200, self.refund_json(r))

    def webhook_body(self, o: dict) -> dict:
        return {"event": self.event, "data": {"orderId": o["id"], "orderNumber": o["number"]}}

    def customer_webhook_body(self, c: dict, created: bool) -> dict:
        return {"event": "customer.created" if created else "customer.updated", "data": {"customerId": c["id"]}}

    ADDRESS = {"line1": "line1", "line2": "line2", "city": "city", "region": "state", "postalCode": "postal_code",
               "countryCode": "country"}

    def customer_json(self, c: dict) -> dict:
        a = c["address"]
        return {"id": c["id"], "email": c["email"], "firstName": c["first"], "lastName": c["last"],
                "phone": c["phone"], "address": {k: a.get(v) for k, v in self.ADDRESS.items()} if a else None,
                "stripeCustomerId": c["stripe_customer_id"], "createdDate": rfc3339(c["created"]),
                "modifiedDate": rfc3339(c["modified"])}

    def list_customers(self, req: Request) -> Response:
        with self.store.lock:
            rows = list(self.store.customers.values())
        if req.arg("email") is not None:
            rows = [c for c in rows if (c["email"] or "").lower() == req.arg("email").lower()]
        if req.arg("modifiedSince"):
            since = parse_rfc3339(req.arg("modifiedSince"))
            rows = [c for c in rows if int(c["modified"]) >= int(since)]
        if req.arg("sort") == "modifiedDate":
            rows.sort(key=lambda c: (int(c["modified"]), c["id"]))
        items, meta = self.page(req, rows)
        return self.reply(200, {"items": [self.customer_json(c) for c in items], **meta})

    def put_customer(self, req: Request, id: str) -> Response:
        """A PUT replaces the customer: every field is sent (a missing one would be erased)."""
        b = self.body(req)
        missing = {"email", "firstName", "lastName", "phone", "address", "stripeCustomerId"} - set(b)
        if missing:
            raise StoreError(400, f"A customer PUT sends the whole customer; missing {sorted(missing)}.")
        a = b["address"]
        if a is not None and not isinstance(a, dict):
            raise StoreError(400, "address must be an object or null")
        fields = {"email": b["email"], "first": b["firstName"], "last": b["lastName"], "phone": b["phone"],
                  "address": {v: a.get(k) for k, v in self.ADDRESS.items()} if a else None,
                  "stripe_customer_id": b["stripeCustomerId"]}
        c = self.store.save_customer(id, fields)
        return self.reply(200, self.customer_json(c))


class StorefrontShape(Shape):
    awaiting, paid, failed = "awaiting_payment", "paid", "payment_failed"
    refunded, partly_refunded = "refunded", "paid"
    statuses = ["awaiting_payment", "payment_failed", "paid", "fulfilled", "refunded", "cancelled"]
    not_json, not_object = "body: not JSON", "body: not an object"

    def __init__(self, store, api_key: str):
        super().__init__(store)
        self.api_key = api_key
        r = store.api
        r.add("GET", r"/v2/orders", self.list_orders)
        r.add("GET", r"/v2/orders/(?P<id>\d+)", lambda req, id: self.reply(200, {"data": self.order_json(store.get(id))}))
        r.add("PUT", r"/v2/orders/(?P<id>\d+)/state", self.put_state)
        r.add("POST", r"/v2/orders/(?P<id>\d+)/payments", self.pay)
        r.add("POST", r"/v2/orders/(?P<id>\d+)/timeline", self.note)
        r.add("GET", r"/v2/orders/(?P<id>\d+)/refunds", lambda req, id: self.reply(
            200, {"data": [self.refund_json(x) for x in store.get(id)["refunds"]]}))
        r.add("POST", r"/v2/orders/(?P<id>\d+)/refunds", self.refund)
        r.add("PATCH", r"/v2/orders/(?P<id>\d+)/refunds/(?P<rid>[^/]+)", self.patch_refund)
        r.add("GET", r"/v2/refunds", self.list_refunds)
        r.add("GET", r"/v2/customers", self.list_customers)
        r.add("GET", r"/v2/customers/(?P<id>\d+)", lambda req, id: self.reply(
            200, {"data": self.customer_json(store.customer(id))}))
        r.add("PATCH", r"/v2/customers/(?P<id>\d+)", self.patch_customer)

    def error(self, e: StoreError) -> Response:
        code = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 409: "conflict"}.get(e.status, "error")
        return json_response(e.status, {"error": {"code": code, "message": e.message}})

    def authorize(self, req: Request) -> None:
        if not hmac.compare_digest(req.headers.get("x-api-key", "").encode(), self.api_key.encode()):
            raise StoreError(401, "A valid X-Api-Key header is required.")

    @staticmethod
    def minor(amount: Decimal, currency: str) -> int:
        return int(round_money(amount, currency).scaleb(currency_decimals(currency)))

    def order_json(self, o: dict) -> dict:
        c, m = o["currency"], self.minor
        return {
            "order_id": int(o["id"]), "reference": o["number"], "state": o["status"],
            "money": {"currency": c, "subtotal_minor": m(o["subtotal"], c), "shipping_minor": m(o["shipping"], c),
                      "tax_minor": m(o["tax"], c), "total_minor": m(o["total"], c), "paid_minor": m(o["paid"], c)},
            "buyer": {"email": o["email"], "given_name": o["first"], "family_name": o["last"]},
            "payment_method": o["method"], "payment_reference": o["transaction_id"],
            "items": [{"sku": i["sku"], "title": i["name"], "qty": str(i["qty"]), "total_minor": m(i["total"], c)}
                      for i in o["items"]],
            "timeline": [{"message": n["text"], "notify_buyer": n["notify"], "at": int(n["at"])} for n in o["notes"]],
            "created": int(o["created"]), "updated": int(o["modified"]),
        }

    def refund_json(self, r: dict) -> dict:
        o = self.store.orders[r["order_id"]]
        return {"refund_id": r["id"], "order_id": int(o["id"]), "amount_minor": self.minor(r["amount"], o["currency"]),
                "provider_refund_id": r["stripe_refund_id"], "message": r["note"], "created": int(r["at"])}

    def amount(self, value, currency: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int):
            raise StoreError(400, f"amount_minor {value!r}: an integer of minor units")
        return Decimal(value).scaleb(-currency_decimals(currency))

    def keyset(self, req: Request, rows: list, key, since_param: str) -> Response:
        """Rows by (time, id) from `since` (unix seconds, inclusive), `limit` at a time, with an opaque cursor."""
        limit = int(req.arg("limit") or 20)
        if not 1 <= limit <= 200:
            raise StoreError(400, "limit: 1 to 200")
        since = req.arg(since_param)
        if since:
            if not since.isdigit():
                raise StoreError(400, f"{since_param}: unix seconds")
            rows = [r for r in rows if key(r)[0] >= int(since)]
        rows.sort(key=key)
        cursor = req.arg("cursor")
        if cursor:
            try:
                at, rid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
            except ValueError:
                raise StoreError(400, "cursor: not one this API gave")
            rows = [r for r in rows if key(r) > (int(at), rid)]
        page = rows[:limit]
        more = len(rows) > limit
        next_cursor = base64.urlsafe_b64encode(f"{key(page[-1])[0]}|{key(page[-1])[1]}".encode()).decode() if more else None
        return page, next_cursor

    def list_orders(self, req: Request) -> Response:
        with self.store.lock:
            rows = list(self.store.orders.values())
        if req.arg("reference") is not None:
            rows = [o for o in rows if o["number"] == req.arg("reference")]
        page, cursor = self.keyset(req, rows, lambda o: (int(o["modified"]), o["id"].zfill(12)), "updated_from")
        return self.reply(200, {"data": [self.order_json(o) for o in page], "next_cursor": cursor})

    def list_refunds(self, req: Request) -> Response:
        with self.store.lock:
            rows = [r for o in self.store.orders.values() for r in o["refunds"]]
        page, cursor = self.keyset(req, rows, lambda r: (int(r["at"]), r["id"]), "created_from")
        return self.reply(200, {"data": [self.refund_json(r) for r in page], "next_cursor": cursor})

    def put_state(self, req: Request, id: str) -> Response:
        self.store.set_status(id, self.body(req).get("state"))
        return self.reply(200, {"data": self.order_json(self.store.get(id))})

    def pay(self, req: Request, id: str) -> Response:
        b = self.body(req)
        o = self.store.get(id)
        if b.get("provider") != "stripe":
            raise StoreError(400, "provider: only stripe is configured on this store")
        p = self.store.pay(id, self.amount(b.get("amount_minor"), o["currency"]), b.get("currency"),
                           b.get("provider_reference"), b.get("message"), self.paid)
        return self.reply(201, {"data": {"payment_id": p["id"], "order_id": int(id)}})

    def note(self, req: Request, id: str) -> Response:
        b = self.body(req)
        n = self.store.note(id, b.get("message"), bool(b.get("notify_buyer")))
        return self.reply(201, {"data": {"message": n["text"], "at": int(n["at"])}})

    def refund(self, req: Request, id: str) -> Response:
        b = self.body(req)
        o = self.store.get(id)
        r = self.store.refund(id, self.amount(b.get("amount_minor"), o["currency"]), b.get("currency"),
                              b.get("provider_refund_id"), b.get("message"))
        return self.reply(201, {"data": self.refund_json(r)})

    def patch_refund(self, req: Request, id: str, rid: str) -> Response:
        b = self.body(req)
        r = self.store.mark_refund(id, rid, b.get("provider_refund_id"), b.get("message"))
        return self.reply(200, {"data": self.refund_json(r)})

    def webhook_body(self, o: dict) -> dict:
        return {"type": "order.placed", "order_id": int(o["id"])}

    def customer_webhook_body(self, c: dict, created: bool) -> dict:
        return {"type": "customer.created" if created else "customer.updated", "customer_id": int(c["id"])}

    ADDRESS = {"street1": "line1", "street2": "line2", "city": "city", "region_code": "state", "zip": "postal_code",
               "country": "country"}

    def customer_json(self, c: dict) -> dict:
        a = c["address"]
        return {"customer_id": int(c["id"]), "email": c["email"], "given_name": c["first"], "family_name": c["last"],
                "phone": c["phone"], "billing_address": {k: a.get(v) for k, v in self.ADDRESS.items()} if a else None,
                "metadata": {"stripe_customer_id": c["stripe_customer_id"]}, "updated": int(c["modified"])}

    def list_customers(self, req: Request) -> Response:
        with self.store.lock:
            rows = list(self.store.customers.values())
        if req.arg("email") is not None:
            rows = [c for c in rows if (c["email"] or "").lower() == req.arg("email").lower()]
        page, cursor = self.keyset(req, rows, lambda c: (int(c["modified"]), c["id"].zfill(12)), "updated_from")
        return self.reply(200, {"data": [self.customer_json(c) for c in page], "next_cursor": cursor})

    def patch_customer(self, req: Request, id: str) -> Response:
        """A PATCH changes the fields sent; `billing_address` is replaced whole."""
        b = self.body(req)
        names = {"email": "email", "given_name": "first", "family_name": "last", "phone": "phone"}
        unknown = set(b) - set(names) - {"billing_address", "metadata"}
        if unknown:
            raise StoreError(400, f"unknown field(s) {sorted(unknown)}")
        fields = {names[k]: v for k, v in b.items() if k in names}
        if "billing_address" in b:
            a = b["billing_address"]
            fields["address"] = {v: a.get(k) for k, v in self.ADDRESS.items()} if a else None
        if isinstance(b.get("metadata"), dict) and "stripe_customer_id" in b["metadata"]:
            fields["stripe_customer_id"] = b["metadata"]["stripe_customer_id"]
        c = self.store.save_customer(id, fields)
        return self.reply(200, {"data": self.customer_json(c)})

