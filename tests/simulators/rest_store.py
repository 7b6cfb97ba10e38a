"""A configurable REST store: the commerce API a declarative platform's mapping describes.

    cd tests && ../.venv/bin/python -m simulators.rest_store --preset clarity --port 4680 \\
        --client-id tally --client-secret SECRET
    cd tests && ../.venv/bin/python -m simulators.rest_store --preset storefront --port 4681 --api-key KEY

One store (orders with lines, notes, payments, refunds and a status history) served in the shape
a preset names. The shapes are written here independently of Tally's mapping presets
(shared/core/src/commerce/declarative/presets/), so each checks the other:

- `clarity`: what Clarity eCommerce publishes (../shared/platforms/clarity.md: OAuth 2.0, the
  statuses 'Pending Payment', 'Paid', 'Processing', order.created/order.updated events), the rest
  ASSUMED: `POST /oauth/token` (client credentials, tokens expiring after --token-seconds; 401 with
  a missing or expired token), camelCase JSON under /api/v1, amounts as decimal strings or numbers,
  RFC 3339 dates, page-number paging (`page`, `pageSize`, `{"items", "totalCount"}`).
- `storefront`: a custom storefront: an `X-Api-Key` header, snake_case JSON in a `{"data": ...}`
  envelope under /v2, amounts as integers of minor units, unix-second dates, keyset cursor paging
  (`limit`, `cursor`, `{"data", "next_cursor"}`).

Both keep the rules a real store keeps: only an order awaiting payment takes a payment, and only
for its currency and total; a refund only on a paid order and never more than is left; an unknown
status is refused; every change moves the order's modification time.

Webhooks under Tally's contract: POST /_sim/webhooks `{"url", "secret"}`; each order placed with
`notify` (the default) is posted as the preset's order event, signed `X-Tally-Signature`.

Control API, the same on every platform simulator: POST/GET /_sim/orders, GET /_sim/orders/{id}
(native order plus `summary`), POST /_sim/orders/{id}/refunds (a merchant's refund: `{"amount"}`
or `{"items": [{"sku", "qty"}]}`), POST /_sim/orders/{id}/webhook, POST/GET/DELETE /_sim/faults (here
`path_contains` is matched against the path with its query, so `/orders?` picks out the listing),
GET /_sim/requests, POST /_sim/reset.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import secrets
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

from ._common import (Faults, Request, RequestLog, Response, Router, control_route, currency_decimals,
                      decimals_of, dumps, format_decimal, json_response, parse_decimal, post_webhook,
                      round_money, serve)


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

    def __init__(self, store: "RestStore"):
        self.store = store


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

    @staticmethod
    def reply(status, obj):
        return json_response(status, obj)

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

    def body(self, req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise StoreError(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            raise StoreError(400, "The request body must be a JSON object.")
        return body

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

    @staticmethod
    def reply(status, obj):
        return json_response(status, obj)

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

    def body(self, req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise StoreError(400, "body: not JSON")
        if not isinstance(body, dict):
            raise StoreError(400, "body: not an object")
        return body

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


class RestStore:
    def __init__(self, preset: str, **auth):
        self.lock = threading.RLock()
        self.faults = Faults(lambda status: {"message": "Simulated failure"})
        self.requests = RequestLog()
        self.api, self.sim = Router(), Router()
        self.webhooks: list[dict] = []
        self.tokens_issued = 0
        self.preset = preset
        self.shape = (ClarityShape(self, auth["client_id"], auth["client_secret"], auth["token_seconds"])
                      if preset == "clarity" else StorefrontShape(self, auth["api_key"]))
        self.reset()
        s = self.sim
        s.add("POST", r"/_sim/orders", self.sim_create_order)
        s.add("GET", r"/_sim/orders", lambda req: json_response(200, {"items": [self.shape.order_json(o) for o in self.all()]}))
        s.add("GET", r"/_sim/orders/(?P<id>[^/]+)", self.sim_get_order)
        s.add("POST", r"/_sim/orders/(?P<id>[^/]+)/refunds", self.sim_refund)
        s.add("POST", r"/_sim/orders/(?P<id>[^/]+)/webhook", self.sim_reemit)
        s.add("POST", r"/_sim/customers", self.sim_create_customer)
        s.add("GET", r"/_sim/customers/(?P<id>[^/]+)", self.sim_get_customer)
        s.add("PATCH", r"/_sim/customers/(?P<id>[^/]+)", self.sim_edit_customer)
        s.add("POST", r"/_sim/customers/(?P<id>[^/]+)/webhook", self.sim_reemit_customer)
        s.add("POST", r"/_sim/webhooks", self.sim_add_webhook)
        s.add("GET", r"/_sim/webhooks", lambda req: json_response(200, {"targets": [t["url"] for t in self.webhooks],
                                                                         "deliveries": list(self.deliveries)}))
        s.add("DELETE", r"/_sim/webhooks", lambda req: (self.webhooks.clear(), json_response(200, {"targets": []}))[1])
        s.add("GET", r"/_sim/requests", lambda req: json_response(200, {"requests": self.requests.list(
            req.arg("path_contains"), req.arg("method"))}))
        s.add("POST", r"/_sim/faults", lambda req: json_response(201, self.faults.add(req.json())))
        s.add("GET", r"/_sim/faults", lambda req: json_response(200, {"faults": self.faults.list()}))
        s.add("DELETE", r"/_sim/faults", lambda req: (self.faults.clear(), json_response(200, {"faults": []}))[1])
        s.add("POST", r"/_sim/reset", lambda req: (self.reset(), json_response(200, {"reset": True}))[1])
        s.add("GET", r"/_sim/health", lambda req: json_response(200, {"ok": True, "preset": self.preset,
                                                                       "tokens_issued": self.tokens_issued}))

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[str, dict] = {}
            self.customers: dict[str, dict] = {}
            self.deliveries: list[dict] = []
            self.next_id = 1000
            self.next_refund = 0

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return control_route(self.sim, req, json_response, (SimError, ValueError))
        # faults match the path with its query, so a listing (`/orders?`) can be told from a read
        fault = self.faults.take(req.method, f"{req.path}?{req.query}" if req.query else req.path)
        if fault and not fault["passthrough"]:
            response = self.faults.response(fault)
            self.requests.record(req, response.status, fault=True)
            return response
        if fault:
            time.sleep(fault["delay"])
        try:
            self.shape.authorize(req)
            found = self.api.match(req.method, req.path.rstrip("/"))
            if not found:
                raise StoreError(404, f"No route {req.method} {req.path}.")
            handler, args = found
            response = handler(req, **args)
        except StoreError as e:
            response = self.shape.error(e)
        self.requests.record(req, response.status)
        return response

    # --- the store's rules ---

    def get(self, order_id: str) -> dict:
        with self.lock:
            o = self.orders.get(str(order_id))
            if o is None:
                raise StoreError(404, f"Order {order_id} not found.")
            return o

    def touch(self, o: dict) -> None:
        o["modified"] = now()

    def customer(self, customer_id: str) -> dict:
        with self.lock:
            c = self.customers.get(str(customer_id))
            if c is None:
                raise StoreError(404, f"Customer {customer_id} not found.")
            return c

    def save_customer(self, customer_id: str, fields: dict, notify: bool = True) -> dict:
        """Changes the fields given; every save moves the modification time and is announced."""
        with self.lock:
            c = self.customer(customer_id)
            email = fields.get("email", c["email"])
            if not isinstance(email, str) or not email.strip():
                raise StoreError(400, "email is required")
            clash = next((o for o in self.customers.values()
                          if o["id"] != c["id"] and (o["email"] or "").lower() == email.lower()), None)
            if clash:
                raise StoreError(409, f"Another customer has the email {email}.")
            c.update(fields)
            c["modified"] = now()
            saved = copy.deepcopy(c)
        if notify:
            self.emit_customer(saved)
        return saved

    def set_status(self, order_id: str, status) -> None:
        with self.lock:
            o = self.get(order_id)
            if status not in self.shape.statuses:
                raise StoreError(400, f"Unknown status '{status}'.")
            if status != o["status"]:
                o["history"].append({"from": o["status"], "to": status, "at": now()})
                o["status"] = status
            self.touch(o)

    def pay(self, order_id: str, amount: Decimal, currency, transaction_id, note, status) -> dict:
        with self.lock:
            o = self.get(order_id)
            if o["status"] not in (self.shape.awaiting, self.shape.failed):
                raise StoreError(409, f"Order {order_id} is '{o['status']}', not awaiting payment.")
            if currency != o["currency"]:
                raise StoreError(400, f"The order is in {o['currency']}, not {currency}.")
            if amount != o["total"]:
                raise StoreError(400, f"A payment of {format_decimal(amount)} does not settle {format_decimal(o['total'])}.")
            payment = {"id": f"pay_{len(o['payments']) + 1}_{order_id}", "amount": amount,
                       "transaction_id": transaction_id, "at": now()}
            o["payments"].append(payment)
            o["paid"], o["transaction_id"] = amount, transaction_id
            if note:
                o["notes"].append({"text": str(note), "notify": False, "at": now()})
            o["history"].append({"from": o["status"], "to": status, "at": now()})
            o["status"] = status
            self.touch(o)
            return payment

    def note(self, order_id: str, text, notify: bool) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise StoreError(400, "A note needs text.")
        with self.lock:
            o = self.get(order_id)
            note = {"text": text, "notify": notify, "at": now()}
            o["notes"].append(note)
            self.touch(o)
            return note

    def refunded(self, o: dict) -> Decimal:
        return sum((r["amount"] for r in o["refunds"]), Decimal(0))

    def refund(self, order_id: str, amount: Decimal, currency, stripe_refund_id, note, by_merchant=False) -> dict:
        with self.lock:
            o = self.get(order_id)
            if not o["payments"]:
                raise StoreError(409, f"Order {order_id} is not paid.")
            if currency is not None and currency != o["currency"]:
                raise StoreError(400, f"The order is in {o['currency']}, not {currency}.")
            left = o["total"] - self.refunded(o)
            if amount <= 0 or amount > left:
                raise StoreError(400, f"At most {format_decimal(left)} can be refunded.")
            self.next_refund += 1
            r = {"id": f"rf_{self.next_refund}", "order_id": o["id"], "amount": amount,
                 "stripe_refund_id": stripe_refund_id or None, "note": note, "at": now(), "by_merchant": by_merchant}
            o["refunds"].append(r)
            done = self.refunded(o) >= o["total"]
            status = self.shape.refunded if done else self.shape.partly_refunded
            if status != o["status"]:
                o["history"].append({"from": o["status"], "to": status, "at": now()})
                o["status"] = status
            self.touch(o)
            return r

    def mark_refund(self, order_id: str, refund_id: str, stripe_refund_id, note) -> dict:
        with self.lock:
            o = self.get(order_id)
            r = next((r for r in o["refunds"] if r["id"] == refund_id), None)
            if r is None:
                raise StoreError(404, f"Refund {refund_id} not found on order {order_id}.")
            if r["stripe_refund_id"] and stripe_refund_id != r["stripe_refund_id"]:
                raise StoreError(409, f"Refund {refund_id} already names {r['stripe_refund_id']}.")
            r["stripe_refund_id"] = stripe_refund_id
            if note:
                r["note"] = note
            self.touch(o)
            return r

    # --- control API ---

    def sim_create_order(self, req: Request) -> Response:
        spec = req.json() or {}
        currency = str(spec.get("currency") or "USD").upper()
        places = currency_decimals(currency)
        items, subtotal = [], Decimal(0)
        for n, raw in enumerate(spec.get("items") or [{"sku": "TEE", "name": "Tee", "qty": 1, "price": "10.00"}]):
            qty, price = parse_decimal(raw.get("qty", 1)), parse_decimal(raw.get("price"))
            if qty is None or qty <= 0 or price is None or price < 0 or decimals_of(price) > places:
                raise SimError(f"items[{n}] needs a positive qty and a price with at most {places} decimals")
            total = round_money(price * qty, currency)
            subtotal += total
            items.append({"sku": raw.get("sku") or f"SKU{n}", "name": raw.get("name") or raw.get("sku"),
                          "qty": int(qty) if qty == int(qty) else qty, "price": price, "total": total})
        extra = {k: parse_decimal(spec.get(f"{k}_amount") or "0") for k in ("shipping", "tax", "discount")}
        customer = spec.get("customer") or {}
        with self.lock:
            self.next_id += 1
            order_id = str(self.next_id)
            stamp = now()
            o = {"id": order_id, "number": f"{'CL' if self.preset == 'clarity' else 'SF'}-{order_id}",
                 "status": self.shape.awaiting, "currency": currency, "items": items, "subtotal": subtotal,
                 "shipping": extra["shipping"], "tax": extra["tax"], "discount": abs(extra["discount"]),
                 "total": subtotal + extra["shipping"] + extra["tax"] - abs(extra["discount"]), "paid": Decimal(0),
                 "email": customer.get("email"), "first": customer.get("firstname"), "last": customer.get("lastname"),
                 "method": str(spec.get("payment_method") or "stripe_payments"), "transaction_id": None,
                 "notes": [], "payments": [], "refunds": [], "history": [], "created": stamp, "modified": stamp}
            self.orders[order_id] = o
            native = copy.deepcopy(self.shape.order_json(o))
        deliveries = self.emit(order_id) if spec.get("notify", True) else []
        return json_response(201, {"id": order_id, "number": o["number"], "order": native, "webhooks": deliveries})

    def sim_refund(self, req: Request, id: str) -> Response:
        """A merchant's refund made in the store's admin: it names no Stripe refund yet."""
        spec = req.json() or {}
        with self.lock:
            o = self.orders.get(id)
            if o is None:
                return json_response(404, {"error": "no such order"})
            if spec.get("amount") is not None:
                amount = parse_decimal(spec["amount"])
            else:
                amount = Decimal(0)
                for e in spec.get("items") or []:
                    item = next((i for i in o["items"] if i["sku"] == e.get("sku")), None)
                    qty = parse_decimal(e.get("qty", 1))
                    if item is None or qty is None or qty <= 0:
                        raise SimError(f"cannot refund {e}")
                    amount += round_money(item["price"] * qty, o["currency"])
            if amount is None or decimals_of(amount) > currency_decimals(o["currency"]):
                raise SimError("amount must be a decimal in the order's currency")
            try:
                r = self.refund(id, amount, None, None, "Refunded by the merchant", by_merchant=True)
            except StoreError as e:
                raise SimError(e.message)
            return json_response(201, {"id": r["id"], "amount": format_decimal(amount), "state": "requested"})

    def emit(self, order_id: str, urls: list[dict] | None = None) -> list[dict]:
        with self.lock:
            targets = list(urls if urls is not None else self.webhooks)
            body = dumps(self.shape.webhook_body(self.orders[order_id])).encode()
        results = [{"order_id": order_id, **post_webhook(t["url"], body, {"X-Tally-Signature": sign(t["secret"], body)}, 30)}
                   for t in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results

    @staticmethod
    def address_of(spec) -> dict | None:
        """The control API's address (Magento's shape, as every simulator takes it) in Stripe's parts."""
        if not spec:
            return None
        street = spec.get("street") or []
        return {"line1": street[0] if street else None, "line2": street[1] if len(street) > 1 else None,
                "city": spec.get("city"), "state": spec.get("region_code"), "postal_code": spec.get("postcode"),
                "country": spec.get("country_id")}

    def emit_customer(self, c: dict, created: bool = False) -> list[dict]:
        with self.lock:
            targets = list(self.webhooks)
        body = dumps(self.shape.customer_webhook_body(c, created)).encode()
        results = [{"customer_id": c["id"], **post_webhook(t["url"], body, {"X-Tally-Signature": sign(t["secret"], body)}, 30)}
                   for t in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results

    def sim_create_customer(self, req: Request) -> Response:
        spec = req.json() or {}
        with self.lock:
            self.next_id += 1
            customer_id = str(self.next_id)
            stamp = now()
            c = {"id": customer_id, "email": spec.get("email"), "first": spec.get("firstname"),
                 "last": spec.get("lastname"), "phone": spec.get("telephone"),
                 "address": self.address_of(spec.get("address")), "stripe_customer_id": None,
                 "created": stamp, "modified": stamp}
            self.customers[customer_id] = c
            saved = copy.deepcopy(c)
        if spec.get("notify", True):
            self.emit_customer(saved, created=True)
        return json_response(201, {"id": customer_id, "customer": self.shape.customer_json(saved)})

    def sim_edit_customer(self, req: Request, id: str) -> Response:
        """A person's edit in the store's admin (the control API's field names)."""
        spec = req.json() or {}
        fields = {k: spec[s] for s, k in (("email", "email"), ("firstname", "first"), ("lastname", "last"),
                                          ("telephone", "phone")) if s in spec}
        if "address" in spec:
            fields["address"] = self.address_of(spec["address"])
        try:
            c = self.save_customer(id, fields, notify=spec.get("notify", True))
        except StoreError as e:
            raise SimError(e.message)
        return json_response(200, {"customer": self.shape.customer_json(c)})

    def sim_get_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            c = self.customers.get(id)
            if c is None:
                return json_response(404, {"error": "no such customer"})
            name = " ".join(p for p in (c["first"], c["last"]) if p)
            return json_response(200, {"customer": self.shape.customer_json(c), "summary": {
                "email": c["email"], "name": name, "phone": c["phone"], "stripe_customer_id": c["stripe_customer_id"],
                "address": dict(c["address"]) if c["address"] else None}})

    def sim_reemit_customer(self, req: Request, id: str) -> Response:
        with self.lock:
            c = copy.deepcopy(self.customers.get(id))
        if c is None:
            return json_response(404, {"error": "no such customer"})
        results = self.emit_customer(c)
        if not results:
            raise SimError("no webhook targets registered")
        return json_response(200, {"status": results[0]["status"], "deliveries": results})

    def sim_reemit(self, req: Request, id: str) -> Response:
        if id not in self.orders:
            return json_response(404, {"error": "no such order"})
        results = self.emit(id)
        if not results:
            raise SimError("no webhook targets registered")
        first = results[0]
        return json_response(200, {"status": first["status"], "body": first["body"], "error": first["error"],
                                   "deliveries": results})

    def sim_add_webhook(self, req: Request) -> Response:
        spec = req.json() or {}
        url, secret = (spec.get("url"), spec.get("secret")) if isinstance(spec, dict) else (None, None)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not secret:
            raise SimError("give an http(s) url and the signing secret")
        with self.lock:
            self.webhooks.append({"url": url, "secret": str(secret)})
            return json_response(201, {"targets": [t["url"] for t in self.webhooks]})

    def all(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for o in self.orders.values()]

    def summary(self, o: dict) -> dict:
        refunded = self.refunded(o)
        state = ("failed" if o["status"] == self.shape.failed else "awaiting" if not o["payments"]
                 else "refunded" if refunded >= o["total"] else "partially_refunded" if refunded else "paid")
        return {"payment_state": state, "transaction_id": o["transaction_id"], "status": o["status"],
                "payments": [{"amount": format_decimal(p["amount"]), "transaction_id": p["transaction_id"],
                              "at": rfc3339(p["at"])} for p in o["payments"]],
                "refunds": [{"id": r["id"], "amount": format_decimal(r["amount"]),
                             "state": "refunded" if r["stripe_refund_id"] else "requested",
                             "stripe_refund_id": r["stripe_refund_id"], "at": rfc3339(r["at"])} for r in o["refunds"]],
                "notes": [{"text": n["text"], "notified": n["notify"], "at": rfc3339(n["at"])} for n in o["notes"]],
                "status_history": [{"from": h["from"], "to": h["to"], "at": rfc3339(h["at"])} for h in o["history"]]}

    def sim_get_order(self, req: Request, id: str) -> Response:
        with self.lock:
            o = self.orders.get(id)
            if o is None:
                return json_response(404, {"error": "no such order"})
            return json_response(200, {"order": self.shape.order_json(o), "summary": self.summary(o)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["clarity", "storefront"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", default="tally")
    parser.add_argument("--client-secret", default="clarity-local-client-secret")
    parser.add_argument("--token-seconds", type=float, default=3600)
    parser.add_argument("--api-key", default="storefront-local-api-key")
    args = parser.parse_args()
    store = RestStore(args.preset, client_id=args.client_id, client_secret=args.client_secret,
                      token_seconds=args.token_seconds, api_key=args.api_key)
    serve(args.preset, store, args.host, args.port)


if __name__ == "__main__":
    main()
