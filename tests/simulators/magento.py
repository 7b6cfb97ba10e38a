"""Magento 2 / Adobe Commerce REST simulator.

    cd tests && ../.venv/bin/python -m simulators.magento --host 127.0.0.1 --port 4610 \\
        --token TOKEN --private-key PATH

Serves the REST routes Tally uses under /rest/V1/... and /rest/{store_code}/V1/..., with Magento's
error bodies and quirks, plus a control API under /_sim/ (orders, webhooks, faults, request log).
An order's items are `{"sku", "name", "qty", "price", "discount"}` (`discount`: a cart rule's amount off
the row, kept in the item's `discount_amount`). Credit memos: `magento_creditmemos.py`; Adobe Commerce
returns (RMA): `magento_returns.py`. Orders placed through /_sim/orders are pushed to registered targets as Adobe Commerce webhooks,
signed like Adobe Commerce does (RSA-SHA256 over the base64 of the body).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hmac
import json
import os
import re
import threading
from decimal import Decimal
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import _search
from .magento_creditmemos import CreditMemos
from .magento_customers import Customers
from .magento_returns import Returns
from .magento_webhooks import WebhookSubscriptions
from ._common import (Faults, Request, RequestLog, Response, Router, control_route, currency_decimals,
                      decimals_of, dumps, injected_fault, json_response, magento_time, parse_decimal,
                      post_webhook, round_money, serve, text_response)

# Status -> the states it is assigned to (sales_order_status_state), plus Tally's payment_failed.
STATUS_STATES = {
    "pending": ["new"],
    "pending_payment": ["pending_payment"],
    "payment_failed": ["new", "pending_payment", "holded"],
    "processing": ["processing"],
    "fraud": ["processing", "payment_review"],
    "payment_review": ["payment_review"],
    "holded": ["holded"],
    "complete": ["complete"],
    "closed": ["closed"],
    "canceled": ["canceled"],
}
# Magento\Sales\Model\Order\Validation\CanInvoice refuses these states outright.
UNINVOICEABLE_STATES = {"payment_review", "holded", "canceled", "complete", "closed"}

NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
NO_ROUTE = "Request does not match any route."
INVOICE_ERRORS = "Invoice Document Validation Error(s):\n"
REST_PATH = re.compile(r"^/rest(?:/(?P<store>[A-Za-z][A-Za-z0-9_]*))?/V1/(?P<route>.*)$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
WEBHOOK_EVENT = "observer.sales_order_place_after"
SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"


class MagentoError(Exception):
    def __init__(self, status: int, message: str, parameters=None):
        super().__init__(message)
        self.status, self.message, self.parameters = status, message, parameters


class SimError(Exception):
    """A bad /_sim/ request (the control API is ours, so its errors are plain)."""


def magento_body(message: str, parameters=None) -> dict:
    # Magento only adds "parameters" when there are some.
    return {"message": message, "parameters": parameters} if parameters else {"message": message}


def default_fault_body(status: int) -> dict:
    if status == 400:
        return magento_body("Simulated bad request %1", ["fault"])
    if status == 401:
        return magento_body("The consumer isn't authorized to access %resources.",
                            {"resources": "Magento_Sales::sales"})
    if status == 404:
        return magento_body(NOT_FOUND)
    if status == 500:
        return magento_body("Internal Error. Details are available in Magento log file. Report ID: webapi-fault")
    if status == 429:
        return magento_body("Too Many Requests")
    return magento_body(f"Simulated error {status}")


def without_nulls(value):
    """Magento's output processor drops null fields instead of emitting null."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


# --- Adobe Commerce webhook signatures -------------------------------------------------------


def sign_adobe_webhook(private_key_pem: bytes, body: bytes) -> str:
    """The x-adobe-commerce-webhook-signature value: Adobe signs the base64 text of the body, not
    the body itself (RSA PKCS#1 v1.5, SHA-256), and sends the signature base64-encoded."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    signature = key.sign(base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def verify_adobe_webhook(public_key_pem: bytes | str, body: bytes, signature: str) -> bool:
    if isinstance(public_key_pem, str):
        public_key_pem = public_key_pem.encode()
    key = serialization.load_pem_public_key(public_key_pem)
    try:
        key.verify(base64.b64decode(signature, validate=True), base64.b64encode(body),
                   padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def load_or_create_key(path: str | None) -> bytes:
    """PKCS8 PEM from `path`, generated and written there (0600) on first use so restarts keep it."""
    if path and Path(path).exists():
        return Path(path).read_bytes()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return pem


# --- the simulator ---------------------------------------------------------------------------


class MagentoSimulator(CreditMemos, Customers, Returns, WebhookSubscriptions):
    # for the mixins: run as `python -m simulators.magento`, this module is __main__,
    # and importing it again by name would make a second, uncaught MagentoError
    Error = None  # set below, once MagentoError exists in this module's namespace

    def __init__(self, token: str, private_key_pem: bytes, webhook_timeout: float = 30.0, first_id: int = 1):
        self.token = token
        # Where entity ids start: a store whose orders reach a ledger that outlives the simulator
        # (Tryton's) starts past the ids it gave before, as a real store never reuses one.
        self.first_id = first_id
        self.private_key_pem = private_key_pem
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        self.public_key_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.webhook_timeout = webhook_timeout
        self.lock = threading.RLock()
        self.faults = Faults(default_fault_body)
        self.requests = RequestLog()
        self.webhooks: list[str] = []
        self.reset()

        self.rest = Router()
        self.rest.add("GET", r"orders/(?P<id>[^/]+)", self.authed("Magento_Sales::actions_view", self.get_order))
        self.rest.add("GET", r"orders", self.authed("Magento_Sales::actions_view", self.search_orders))
        self.rest.add("POST", r"orders/(?P<id>[^/]+)/comments", self.authed("Magento_Sales::comment", self.add_comment))
        self.rest.add("POST", r"order/(?P<id>[^/]+)/invoice", self.authed("Magento_Sales::sales_invoice", self.invoice))
        self.rest.add("GET", r"invoices/(?P<id>[^/]+)", self.authed("Magento_Sales::sales_invoice", self.get_invoice))
        self.rest.add("GET", r"invoices", self.authed("Magento_Sales::sales_invoice", self.search_invoices))

        self.sim = Router()
        self.sim.add("POST", r"/_sim/orders", self.sim_create_order)
        self.sim.add("GET", r"/_sim/orders", self.sim_list_orders)
        self.sim.add("GET", r"/_sim/orders/(?P<id>\d+)", self.sim_get_order)
        self.sim.add("POST", r"/_sim/orders/(?P<id>\d+)/webhook", self.sim_reemit)
        self.sim.add("POST", r"/_sim/webhooks", self.sim_add_webhook)
        self.sim.add("GET", r"/_sim/webhooks", self.sim_list_webhooks)
        self.sim.add("DELETE", r"/_sim/webhooks", self.sim_clear_webhooks)
        self.sim.add("GET", r"/_sim/webhook-public-key", lambda req: text_response(200, self.public_key_pem))
        self.sim.add("GET", r"/_sim/requests", self.sim_requests)
        self.sim.add("POST", r"/_sim/reset", self.sim_reset)
        self.sim.add("POST", r"/_sim/faults", self.sim_add_fault)
        self.sim.add("GET", r"/_sim/faults", lambda req: json_response(200, {"faults": self.faults.list()}))
        self.sim.add("DELETE", r"/_sim/faults", self.sim_clear_faults)
        self.creditmemo_routes(self.authed)
        self.return_routes(self.authed)
        self.webhook_subscription_routes(self.authed)
        self.customer_routes(self.authed)

    def reset(self) -> None:
        """Everything but the key and the token."""
        with self.lock:
            self.orders: dict[int, dict] = {}
            self.invoices: dict[int, dict] = {}
            self.creditmemos: dict[int, dict] = {}
            self.returns: dict[int, dict] = {}
            self.deliveries: list[dict] = []
            self.webhooks.clear()
            self.subscriptions: list[dict] = []
            self.customers: dict[int, dict] = {}
            self.next_id = dict.fromkeys(("order", "item", "address", "history", "invoice", "invoice_item", "comment",
                                          "creditmemo", "creditmemo_item", "rma", "rma_item", "rma_comment", "customer"),
                                         self.first_id)
        self.faults.clear()
        self.requests.clear()

    def new_id(self, kind: str) -> int:
        with self.lock:
            value = self.next_id[kind]
            self.next_id[kind] += 1
            return value

    # --- dispatch ---

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return control_route(self.sim, req, json_response, (SimError, ValueError))
        route = REST_PATH.match(req.path)
        if not route:
            return json_response(404, magento_body(NO_ROUTE), php=True)
        faulted = injected_fault(self.faults, self.requests, req, php=True)
        if faulted:
            return faulted
        found = self.rest.match(req.method, route.group("route"))
        try:
            if not found:
                raise MagentoError(404, NO_ROUTE)
            handler, args = found
            response = handler(req, **args)
        except (MagentoError, _search.SearchError) as exc:
            response = json_response(exc.status, magento_body(exc.message, exc.parameters), php=True)
        self.requests.record(req, response.status)
        return response

    def authed(self, resource: str, handler):
        def check(req: Request, **args) -> Response:
            scheme, _, token = req.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.token.encode()):
                raise MagentoError(401, "The consumer isn't authorized to access %resources.", {"resources": resource})
            return handler(req, **args)
        return check

    # --- REST ---

    @staticmethod
    def entity_id(value: str) -> int:
        if not value.isdigit():
            raise MagentoError(400, f'Invalid type for value: "{value}". Expected Type: "int".')
        return int(value)

    @staticmethod
    def body(req: Request) -> dict:
        try:
            data = req.json()
        except ValueError:
            raise MagentoError(400, "Decoding error.")
        return data if isinstance(data, dict) else {}

    def order_or_404(self, order_id: int) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise MagentoError(404, NOT_FOUND)
        return order

    def render_order(self, order: dict, strip: bool = True) -> dict:
        out = copy.deepcopy(order)
        out["extension_attributes"]["shipping_assignments"][0]["items"] = copy.deepcopy(order["items"])
        return without_nulls(out) if strip else out

    def get_order(self, req: Request, id: str) -> Response:
        with self.lock:
            return json_response(200, self.render_order(self.order_or_404(self.entity_id(id))), php=True)

    def search_orders(self, req: Request) -> Response:
        criteria = _search.parse(req.params)
        with self.lock:
            # Filter before dropping nulls, so "null"/"notnull" conditions see the fields.
            rows = [self.render_order(o, strip=False) for o in self.orders.values()]
        items, total = _search.run(rows, criteria)
        items = [without_nulls(i) for i in items]
        return json_response(200, {"items": items, "search_criteria": _search.echo(criteria), "total_count": total},
                             php=True)

    def add_comment(self, req: Request, id: str) -> Response:
        order_id = self.entity_id(id)
        history = self.body(req).get("statusHistory")
        if not isinstance(history, dict):
            raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "statusHistory"})
        with self.lock:
            order = self.order_or_404(order_id)
            status = history.get("status") or None
            if status is not None:
                # Order::addStatusHistory only accepts a status assigned to the order's current
                # state (Magento 2.4: LocalizedException "Order status is not valid").
                if order["state"] not in STATUS_STATES.get(status, []):
                    raise MagentoError(400, "Order status is not valid")
                order["status"] = status
            self.add_history(order, history.get("comment"), order["status"],
                             history.get("is_customer_notified", 0), history.get("is_visible_on_front", 0))
        return json_response(200, True)

    def add_history(self, order: dict, comment, status: str, notified, visible) -> None:
        now = magento_time()
        order["status_histories"].insert(0, {  # newest first, as Magento returns them
            "comment": comment,
            "created_at": now,
            "entity_id": self.new_id("history"),
            "entity_name": "order",
            "is_customer_notified": int(notified) if notified is not None else None,
            "is_visible_on_front": int(visible or 0),
            "parent_id": order["entity_id"],
            "status": status,
        })
        order["updated_at"] = now

    def invoice(self, req: Request, id: str) -> Response:
        order_id = self.entity_id(id)
        body = self.body(req)
        with self.lock:
            order = self.order_or_404(order_id)
            quantities = self.invoice_quantities(order, body.get("items") or [])
            invoice = self.create_invoice(order, quantities, body)
        # Magento returns the new entity id as the database gave it: a JSON string, e.g. "3".
        return json_response(200, str(invoice["entity_id"]))

    def invoice_quantities(self, order: dict, requested: list) -> dict[int, Decimal]:
        """Item id -> qty to invoice, validated like Magento's invoice document validators."""
        open_qty = {i["item_id"]: i["qty_ordered"] - i["qty_invoiced"] for i in order["items"]}
        errors = []
        if order["state"] in UNINVOICEABLE_STATES:
            errors.append(f"An invoice cannot be created when an order has a status of {order['status']}")
        elif not any(q > 0 for q in open_qty.values()):
            errors.append("The order does not allow an invoice to be created.")
        quantities = {k: v for k, v in open_qty.items() if v > 0}
        if requested and not errors:
            quantities = {}
            for entry in requested:
                item_id = entry.get("order_item_id") if isinstance(entry, dict) else None
                qty = parse_decimal(entry.get("qty")) if isinstance(entry, dict) else None
                if item_id not in open_qty or qty is None:
                    errors.append("The invoice contains one or more items that are not part of the original order.")
                elif qty > open_qty[item_id]:
                    sku = next(i["sku"] for i in order["items"] if i["item_id"] == item_id)
                    errors.append(f'The quantity to invoice must not be greater than the uninvoiced quantity for product SKU "{sku}".')
                elif qty > 0:
                    quantities[item_id] = qty
            if not errors and not quantities:
                errors.append("You can't create an invoice without products.")
        if errors:
            raise MagentoError(400, INVOICE_ERRORS + "\n".join(errors))
        return quantities

    def create_invoice(self, order: dict, quantities: dict[int, Decimal], body: dict) -> dict:
        currency = order["order_currency_code"]
        first = not any(i["invoice"]["order_id"] == order["entity_id"] for i in self.invoices.values())
        # Shipping and tax go on the first invoice (the order's tax is not per item here).
        shipping = order["shipping_amount"] if first else Decimal(0)
        tax = order["tax_amount"] if first else Decimal(0)
        now = magento_time()
        invoice_id = self.new_id("invoice")
        lines, subtotal = [], Decimal(0)
        for item in order["items"]:
            qty = quantities.get(item["item_id"])
            if not qty:
                continue
            row = round_money(item["price"] * qty, currency)
            subtotal += row
            item["qty_invoiced"] += qty
            item["row_invoiced"] += row
            lines.append({"base_price": item["price"], "base_row_total": row, "entity_id": self.new_id("invoice_item"),
                          "name": item["name"], "order_item_id": item["item_id"], "parent_id": invoice_id,
                          "price": item["price"], "qty": qty, "row_total": row, "sku": item["sku"]})
        total = round_money(subtotal + shipping + tax, currency)
        comment = body.get("comment") if isinstance(body.get("comment"), dict) else None
        notify, append = bool(body.get("notify")), bool(body.get("appendComment"))
        comments = []
        if comment and comment.get("comment"):
            comments.append({"comment": comment["comment"], "created_at": now, "entity_id": self.new_id("comment"),
                             "is_customer_notified": int(notify and append),
                             "is_visible_on_front": int(comment.get("is_visible_on_front") or 0),
                             "parent_id": invoice_id})
        capture = bool(body.get("capture"))
        invoice = {
            "base_currency_code": order["base_currency_code"], "base_discount_amount": Decimal(0),
            "base_grand_total": total, "base_shipping_amount": shipping, "base_subtotal": subtotal,
            "base_tax_amount": tax, "base_to_global_rate": 1, "base_to_order_rate": 1,
            "billing_address_id": order["billing_address_id"], "can_void_flag": 0, "comments": comments,
            "created_at": now, "discount_amount": Decimal(0), "email_sent": int(notify), "entity_id": invoice_id,
            "global_currency_code": currency, "grand_total": total, "increment_id": f"{invoice_id:09d}",
            "items": lines, "order_currency_code": currency, "order_id": order["entity_id"],
            "shipping_amount": shipping, "state": 2, "store_currency_code": currency, "store_id": order["store_id"],
            "subtotal": subtotal, "tax_amount": tax, "total_qty": sum(quantities.values(), Decimal(0)),
            "transaction_id": order["payment"].get("last_trans_id") if capture else None,
            "updated_at": now,
        }
        self.invoices[invoice_id] = {"invoice": invoice, "capture_case": "online" if capture else "offline"}
        # What InvoiceOrder does on success: paid invoice, order in processing, totals moved.
        for prefix in ("", "base_"):
            order[prefix + "total_invoiced"] = (order[prefix + "total_invoiced"] or Decimal(0)) + total
            order[prefix + "total_paid"] = (order[prefix + "total_paid"] or Decimal(0)) + total
            order[prefix + "total_due"] = order[prefix + "grand_total"] - order[prefix + "total_paid"]
        order["payment"]["amount_paid"] = order["payment"]["base_amount_paid"] = order["total_paid"]
        order["state"] = order["status"] = "processing"
        order["updated_at"] = now
        if append and comment and comment.get("comment"):
            self.add_history(order, comment["comment"], order["status"], int(notify), comment.get("is_visible_on_front"))
        return invoice

    def get_invoice(self, req: Request, id: str) -> Response:
        with self.lock:
            found = self.invoices.get(self.entity_id(id))
            if found is None:
                raise MagentoError(404, NOT_FOUND)
            return json_response(200, without_nulls(found["invoice"]), php=True)

    def search_invoices(self, req: Request) -> Response:
        criteria = _search.parse(req.params)
        with self.lock:
            rows = [copy.deepcopy(i["invoice"]) for i in self.invoices.values()]
        items, total = _search.run(rows, criteria)
        items = [without_nulls(i) for i in items]
        return json_response(200, {"items": items, "search_criteria": _search.echo(criteria), "total_count": total},
                             php=True)

    # --- order placement (control API) ---

    def build_order(self, spec: dict) -> dict:
        currency = str(spec.get("currency") or "USD").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise SimError("currency must be a 3-letter code")
        places = currency_decimals(currency)

        def money(value, field: str) -> Decimal:
            amount = parse_decimal(value)
            if amount is None or amount < 0:
                raise SimError(f"{field} must be a non-negative decimal string, got {value!r}")
            if decimals_of(amount) > places:
                raise SimError(f"{field} {value} has more decimals than {currency} allows ({places})")
            return amount

        raw_items = spec.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise SimError("items must be a non-empty list")
        state, status = spec.get("state", "new"), spec.get("status", "pending")
        if state not in STATUS_STATES.get(status, []):
            raise SimError(f'status "{status}" is not assigned to state "{state}"')
        created = spec.get("created_at") or magento_time()
        if not TIMESTAMP.match(created):
            raise SimError("created_at must be YYYY-MM-DD HH:MM:SS")
        customer = spec.get("customer") or {}
        email = customer.get("email") or "customer@example.com"
        first, last = customer.get("firstname") or "Jane", customer.get("lastname") or "Doe"
        order_id = self.new_id("order")

        items = []
        for n, raw in enumerate(raw_items):
            if not isinstance(raw, dict) or not raw.get("sku"):
                raise SimError(f"items[{n}] needs a sku")
            qty = parse_decimal(raw.get("qty", 1))
            if qty is None or qty <= 0:
                raise SimError(f"items[{n}].qty must be positive")
            price = money(raw.get("price"), f"items[{n}].price")
            row = round_money(price * qty, currency)
            # a cart rule's discount on the row (Magento keeps it beside the row total)
            discount = money(raw.get("discount", "0"), f"items[{n}].discount")
            items.append({
                "base_price": price, "base_row_total": row, "created_at": created, "discount_amount": discount,
                "is_virtual": 0, "item_id": self.new_id("item"), "name": raw.get("name") or raw["sku"],
                "order_id": order_id, "original_price": price, "price": price, "price_incl_tax": price,
                "product_type": "simple", "qty_invoiced": Decimal(0), "qty_ordered": qty, "row_invoiced": Decimal(0),
                "row_total": row, "row_total_incl_tax": row, "sku": raw["sku"], "store_id": 1,
                "tax_amount": Decimal(0), "updated_at": created,
            })
        subtotal = sum((i["row_total"] for i in items), Decimal(0))
        shipping = round_money(money(spec.get("shipping_amount", "0"), "shipping_amount"), currency)
        tax = round_money(money(spec.get("tax_amount", "0"), "tax_amount"), currency)
        discount = sum((i["discount_amount"] for i in items), Decimal(0))
        grand = round_money(subtotal + shipping + tax - discount, currency)

        def address(kind: str) -> dict:
            given = spec.get(f"{kind}_address") or {}
            return {
                "address_type": kind, "city": given.get("city", "Austin"),
                "country_id": given.get("country_id", "US"), "email": given.get("email", email),
                "entity_id": self.new_id("address"), "firstname": given.get("firstname", first),
                "lastname": given.get("lastname", last), "parent_id": order_id,
                "postcode": given.get("postcode", "78701"), "region": given.get("region", "Texas"),
                "region_code": given.get("region_code", "TX"), "street": given.get("street", ["1 Main Street"]),
                "telephone": given.get("telephone", "5125550100"),
            }

        method = spec.get("payment_method") or "checkmo"
        info = spec.get("payment_additional_information")
        if info is None:
            info = ["Check / Money order"] if method == "checkmo" else []
        billing, shipping_address = address("billing"), address("shipping")
        return {
            "base_currency_code": currency, "base_discount_amount": -discount, "base_grand_total": grand,
            "base_shipping_amount": shipping, "base_subtotal": subtotal, "base_tax_amount": tax,
            "base_to_global_rate": 1, "base_to_order_rate": 1, "base_total_due": grand,
            "base_total_invoiced": None, "base_total_paid": None,
            "billing_address_id": billing["entity_id"], "created_at": created,
            "customer_email": email, "customer_firstname": first, "customer_group_id": 0 if customer.get("id") is None else 1,
            "customer_id": customer.get("id"), "customer_is_guest": 1 if customer.get("id") is None else 0,
            "customer_lastname": last, "customer_note_notify": 1, "discount_amount": -discount,
            "entity_id": order_id, "global_currency_code": currency, "grand_total": grand,
            "increment_id": str(spec.get("increment_id") or f"{order_id:09d}"), "is_virtual": 0,
            "order_currency_code": currency, "shipping_amount": shipping,
            "shipping_description": "Flat Rate - Fixed", "state": state, "status": status,
            "store_currency_code": currency, "store_id": 1,
            "store_name": "Main Website\nMain Website Store\nDefault Store View",
            "subtotal": subtotal, "subtotal_incl_tax": subtotal, "tax_amount": tax, "total_due": grand,
            "total_invoiced": None, "total_item_count": len(items), "total_paid": None,
            "total_qty_ordered": sum((i["qty_ordered"] for i in items), Decimal(0)), "updated_at": created,
            "items": items,
            "billing_address": billing,
            "payment": {
                "additional_information": info, "amount_ordered": grand, "amount_paid": None,
                "base_amount_ordered": grand, "base_amount_paid": None, "base_shipping_amount": shipping,
                "entity_id": order_id, "last_trans_id": spec.get("last_trans_id"), "method": method,
                "parent_id": order_id, "shipping_amount": shipping,
            },
            "status_histories": [],
            "extension_attributes": {
                "shipping_assignments": [{
                    "shipping": {
                        "address": shipping_address, "method": "flatrate_flatrate",
                        "total": {"base_shipping_amount": shipping, "shipping_amount": shipping,
                                  "shipping_incl_tax": shipping, "shipping_tax_amount": Decimal(0)},
                    },
                    "items": [],
                }],
                "payment_additional_info": [{"key": "method_title", "value": info[0] if info else method}],
                "applied_taxes": [],
            },
        }

    def sim_create_order(self, req: Request) -> Response:
        spec = req.json() or {}
        if not isinstance(spec, dict):
            raise SimError("body must be a JSON object")
        with self.lock:
            counters = dict(self.next_id)
            try:
                order = self.build_order(spec)
            except SimError:
                self.next_id = counters  # a refused order leaves no gap in the ids
                raise
            self.orders[order["entity_id"]] = order
            rendered = self.render_order(order)
        deliveries = self.emit(order["entity_id"]) if spec.get("notify", True) else []
        statuses = ",".join(str(d["status"]) for d in deliveries)
        # the shared control API's "id" and "number" beside Magento's own fields
        answer = {"id": str(order["entity_id"]), "number": order["increment_id"], **rendered}
        return json_response(201, answer, {"X-Sim-Webhook-Statuses": statuses} if deliveries else None, php=True)

    # --- webhooks ---

    def emit(self, order_id: int, urls: list[str] | None = None) -> list[dict]:
        """POST the order-placed webhook to each target, synchronously like Adobe Commerce webhooks.
        Runs outside the lock: a receiver may call back into this simulator."""
        with self.lock:
            payload = {"eventName": WEBHOOK_EVENT, "data": {"order": self.render_order(self.orders[order_id])}}
            targets = list(urls) if urls is not None else self.targets_for(WEBHOOK_EVENT)
        if not targets:
            return []
        body = dumps(payload, php=True).encode()
        signature = sign_adobe_webhook(self.private_key_pem, body)
        results = []
        for url in targets:
            results.append(self.post_webhook(url, body, signature, order_id))
        with self.lock:
            self.deliveries.extend(results)
        return results

    def post_webhook(self, url: str, body: bytes, signature: str, order_id: int) -> dict:
        return {"order_id": order_id, **post_webhook(url, body, {SIGNATURE_HEADER: signature}, self.webhook_timeout)}

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

    def sim_list_webhooks(self, req: Request) -> Response:
        with self.lock:
            return json_response(200, {"targets": list(self.webhooks), "deliveries": list(self.deliveries)})

    def sim_clear_webhooks(self, req: Request) -> Response:
        with self.lock:
            self.webhooks.clear()
        return json_response(200, {"targets": []})

    # --- the rest of the control API ---

    def sim_list_orders(self, req: Request) -> Response:
        with self.lock:
            return json_response(200, {"items": [self.render_order(o) for o in self.orders.values()]})

    def sim_get_order(self, req: Request, id: str) -> Response:
        with self.lock:
            order = self.orders.get(int(id))
            if order is None:
                return json_response(404, {"error": "no such order"})
            invoices = [dict(without_nulls(i["invoice"]), capture_case=i["capture_case"])
                        for i in self.invoices.values() if i["invoice"]["order_id"] == order["entity_id"]]
            return json_response(200, {"order": self.render_order(order), "invoices": invoices,
                                       "summary": self.summary(order, invoices)})

    def summary(self, order: dict, invoices: list) -> dict:
        """The shared control API's view: the same keys on every platform simulator."""
        paid = bool(invoices) and (order.get("total_invoiced") or 0) >= order["grand_total"]
        state = "paid" if paid else "failed" if order["status"] == "payment_failed" else "awaiting"
        refunded = order.get("total_refunded") or 0
        if paid and refunded:
            state = "refunded" if refunded >= (order.get("total_paid") or 0) else "partially_refunded"
        return {"payment_state": state, "transaction_id": (order.get("payment") or {}).get("last_trans_id"),
                "payments": [{"invoice": i["increment_id"], "amount": i["grand_total"], "at": i["created_at"]}
                             for i in invoices],
                "refunds": self.refunds_summary(order), "returns": self.returns_summary(order),
                "status": order["status"]}

    def sim_requests(self, req: Request) -> Response:
        entries = self.requests.list(req.arg("path_contains"), req.arg("method"))
        return json_response(200, {"requests": entries})

    def sim_reset(self, req: Request) -> Response:
        self.reset()
        return json_response(200, {"reset": True})

    def sim_add_fault(self, req: Request) -> Response:
        return json_response(201, self.faults.add(req.json()))

    def sim_clear_faults(self, req: Request) -> Response:
        self.faults.clear()
        return json_response(200, {"faults": []})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4610, help="0 picks a free port (printed on start)")
    parser.add_argument("--token", default=os.environ.get("MAGENTO_SIM_TOKEN", "magento-local-integration-token"),
                        help="the integration access token expected as Bearer (env MAGENTO_SIM_TOKEN)")
    parser.add_argument("--private-key", default=os.environ.get("MAGENTO_SIM_PRIVATE_KEY"),
                        help="webhook signing key, PKCS8 PEM; created if missing (env MAGENTO_SIM_PRIVATE_KEY); "
                             "without it the key lives only as long as the process")
    parser.add_argument("--webhook-timeout", type=float, default=30.0, help="seconds to wait for a receiver")
    parser.add_argument("--first-id", type=int, default=1, help="where entity ids start")
    args = parser.parse_args()
    simulator = MagentoSimulator(args.token, load_or_create_key(args.private_key), args.webhook_timeout,
                                 args.first_id)
    serve("magento", simulator, args.host, args.port)



MagentoSimulator.Error = MagentoError
MagentoSimulator.NOT_FOUND = NOT_FOUND
MagentoSimulator.without_nulls = staticmethod(without_nulls)
MagentoSimulator.sign_webhook = staticmethod(sign_adobe_webhook)
MagentoSimulator.SIGNATURE_HEADER = SIGNATURE_HEADER
MagentoSimulator.SimError = SimError


if __name__ == "__main__":
    main()
