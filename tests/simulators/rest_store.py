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
import copy
import threading
import time
from decimal import Decimal

from ._common import (Faults, Request, RequestLog, Response, Router, control_route, currency_decimals,
                      decimals_of, dumps, format_decimal, json_response, parse_decimal, post_webhook,
                      round_money, serve)
from .rest_store_shapes import ClarityShape, SimError, StorefrontShape, StoreError, now, rfc3339, sign


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
