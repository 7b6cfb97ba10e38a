"""Magento credit memos, as the Magento simulator serves them (facts: ../shared/platforms/magento.md §1).

POST /V1/order/{id}/refund (RefundOrderInterface, offline) creates a credit memo and answers its
entity id as a bare integer. Its grand total is the items' qty x price, plus `arguments.shipping_amount`
(when absent: the shipping not yet refunded), plus `adjustment_positive`, minus `adjustment_negative`;
an empty `items` list refunds every item still refundable. Magento refuses a refund of an order with
nothing invoiced, more than an item's refundable quantity, a total that is not positive, and more
money than is left ("The most money available to refund is ..."); refunding all that was paid closes
the order. GET /V1/creditmemos (searchCriteria) and GET /V1/creditmemo/{id} read them back;
POST /V1/creditmemo/{id}/comments adds a comment (`{"entity": {"parent_id", "comment", ...}}`).
The control API's POST /_sim/orders/{id}/refunds makes a merchant's own credit memo:
`{"amount": "5.00"}` (an adjustment) or `{"items": [{"sku", "qty"}], "shipping": bool}`, and
`"notify": false` to skip the webhook. Every credit memo saved is sent to the registered webhook
targets as Adobe Commerce's signed `observer.sales_order_creditmemo_save_after`."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

from . import _search
from ._common import Request, Response, dumps, json_response, magento_time, parse_decimal, post_webhook, round_money

CREDITMEMO_ERRORS = "Creditmemo Document Validation Error(s):\n"
STRIPE_REFUND = re.compile(r"\b(?:re|pyr)_[A-Za-z0-9]+")


class CreditMemos:
    """Mixed into MagentoSimulator: uses its lock, orders, ids, request helpers and its
    `Error`, `NOT_FOUND` and `without_nulls`."""

    def creditmemo_routes(self, authed) -> None:
        self.creditmemos: dict[int, dict] = {}
        self.rest.add("POST", r"order/(?P<id>[^/]+)/refund", authed("Magento_Sales::creditmemo", self.refund_order))
        self.rest.add("GET", r"creditmemo/(?P<id>[^/]+)", authed("Magento_Sales::creditmemo", self.get_creditmemo))
        self.rest.add("GET", r"creditmemos", authed("Magento_Sales::creditmemo", self.search_creditmemos))
        self.rest.add("POST", r"creditmemo/(?P<id>[^/]+)/comments",
                      authed("Magento_Sales::creditmemo", self.add_creditmemo_comment))
        self.sim.add("POST", r"/_sim/orders/(?P<id>\d+)/refunds", self.sim_refund)

    def refund_order(self, req: Request, id: str) -> Response:
        order_id = self.entity_id(id)
        body = self.body(req)
        with self.lock:
            order = self.order_or_404(order_id)
            memo = self.create_creditmemo(order, body)
        self.emit_creditmemo(memo)
        return json_response(200, memo["entity_id"])

    def refundable_qty(self, item: dict) -> Decimal:
        return item["qty_invoiced"] - item.get("qty_refunded", Decimal(0))

    def create_creditmemo(self, order: dict, body: dict) -> dict:
        currency = order["order_currency_code"]
        paid = order.get("total_paid") or Decimal(0)
        refunded = order.get("total_refunded") or Decimal(0)
        errors = []
        if paid <= 0 or order["state"] in ("closed", "canceled", "holded"):
            errors.append("The order does not allow a creditmemo to be created.")
        by_id = {i["item_id"]: i for i in order["items"]}
        quantities: dict[int, Decimal] = {}
        requested = body.get("items") or []
        if not errors and not requested:
            quantities = {i["item_id"]: self.refundable_qty(i) for i in order["items"] if self.refundable_qty(i) > 0}
        for entry in requested:
            item = by_id.get(entry.get("order_item_id")) if isinstance(entry, dict) else None
            qty = parse_decimal(entry.get("qty")) if isinstance(entry, dict) else None
            if item is None or qty is None or qty < 0:
                errors.append("The creditmemo contains product item that is not part of the original order.")
            elif qty > self.refundable_qty(item):
                errors.append(f'The quantity to creditmemo must not be greater than the unrefunded quantity for '
                              f'product SKU "{item["sku"]}".')
            else:
                quantities[item["item_id"]] = qty
        arguments = body.get("arguments") or {}

        def money(name: str, default: Decimal) -> Decimal:
            value = arguments.get(name)
            amount = default if value is None else parse_decimal(value)
            if amount is None or amount < 0:
                errors.append(f'"{name}" has an invalid value.')
                return Decimal(0)
            return amount

        shipping_left = (order.get("shipping_invoiced") or order["shipping_amount"]) - (order.get("shipping_refunded") or Decimal(0))
        shipping = money("shipping_amount", shipping_left if paid > 0 else Decimal(0))
        positive, negative = money("adjustment_positive", Decimal(0)), money("adjustment_negative", Decimal(0))
        if shipping > shipping_left:
            errors.append(f"Maximum shipping amount allowed to refund is: {shipping_left}")
        subtotal = sum((round_money(by_id[i]["price"] * q, currency) for i, q in quantities.items()), Decimal(0))
        total = round_money(subtotal + shipping + positive - negative, currency)
        if not errors and total <= 0:
            errors.append("The credit memo's total must be positive.")
        if not errors and total > paid - refunded:
            errors.append(f"The most money available to refund is {paid - refunded} {currency}.")
        if errors:
            raise self.Error(400, CREDITMEMO_ERRORS + "\n".join(errors))

        now = magento_time()
        memo_id = self.new_id("creditmemo")
        lines = []
        for item_id, qty in quantities.items():
            item = by_id[item_id]
            item["qty_refunded"] = item.get("qty_refunded", Decimal(0)) + qty
            lines.append({"entity_id": self.new_id("creditmemo_item"), "order_item_id": item_id, "parent_id": memo_id,
                          "sku": item["sku"], "name": item["name"], "price": item["price"], "qty": qty,
                          "row_total": round_money(item["price"] * qty, currency)})
        comment = body.get("comment") if isinstance(body.get("comment"), dict) else None
        notify, append = bool(body.get("notify")), bool(body.get("appendComment") or body.get("append_comment"))
        comments = []
        if comment and comment.get("comment") and append:
            comments.append({"comment": comment["comment"], "created_at": now, "entity_id": self.new_id("comment"),
                             "is_customer_notified": int(notify), "is_visible_on_front": int(comment.get("is_visible_on_front") or 0),
                             "parent_id": memo_id})
        memo = {
            "adjustment_negative": negative, "adjustment_positive": positive, "base_adjustment_negative": negative,
            "base_adjustment_positive": positive, "base_currency_code": order["base_currency_code"],
            "base_grand_total": total, "base_shipping_amount": shipping, "base_subtotal": subtotal,
            "base_tax_amount": Decimal(0), "base_to_order_rate": 1, "billing_address_id": order["billing_address_id"],
            "comments": comments, "created_at": now, "creditmemo_status": None, "email_sent": int(notify),
            "entity_id": memo_id, "grand_total": total, "increment_id": f"{memo_id:09d}", "invoice_id": None,
            "items": lines, "order_currency_code": currency, "order_id": order["entity_id"],
            "shipping_amount": shipping, "state": 2, "store_id": order["store_id"], "subtotal": subtotal,
            "tax_amount": Decimal(0), "transaction_id": None, "updated_at": now,
        }
        self.creditmemos[memo_id] = memo
        for prefix in ("", "base_"):
            order[prefix + "total_refunded"] = (order.get(prefix + "total_refunded") or Decimal(0)) + total
            order[prefix + "total_offline_refunded"] = (order.get(prefix + "total_offline_refunded") or Decimal(0)) + total
        order["shipping_refunded"] = (order.get("shipping_refunded") or Decimal(0)) + shipping
        order["payment"]["amount_refunded"] = order["total_refunded"]
        if order["total_refunded"] >= paid:
            order["state"] = order["status"] = "closed"
        order["updated_at"] = now
        return memo

    def add_creditmemo_comment(self, req: Request, id: str) -> Response:
        entity = (self.body(req) or {}).get("entity") or {}
        missing = [name for name, key in (("Comment", "comment"), ("Parent Creditmemo Id", "parent_id"))
                   if entity.get(key) in (None, "")]
        if missing:
            raise self.Error(400, "Cannot save comment:\n" + "\n".join(f"{m} is a required field" for m in missing))
        with self.lock:
            memo = self.creditmemos.get(self.entity_id(str(entity["parent_id"])))
            if memo is None or str(memo["entity_id"]) != str(id):
                raise self.Error(404, self.NOT_FOUND)
            now = magento_time()
            comment = {"comment": entity["comment"], "created_at": now, "entity_id": self.new_id("comment"),
                       "is_customer_notified": int(entity.get("is_customer_notified") or 0),
                       "is_visible_on_front": int(entity.get("is_visible_on_front") or 0), "parent_id": memo["entity_id"]}
            memo["comments"].append(comment)
            memo["updated_at"] = now
            return json_response(200, comment, php=True)

    def sim_refund(self, req: Request, id: str) -> Response:
        """A merchant's credit memo, made in the admin: offline, for an amount or for items."""
        spec = req.json() or {}
        with self.lock:
            order = self.orders.get(int(id))
            if order is None:
                return json_response(404, {"error": "no such order"})
            if spec.get("amount") is not None:
                body = {"items": [{"order_item_id": i["item_id"], "qty": 0} for i in order["items"]],
                        "arguments": {"shipping_amount": 0, "adjustment_positive": spec["amount"]}}
            else:
                by_sku = {i["sku"]: i["item_id"] for i in order["items"]}
                items = [{"order_item_id": by_sku.get(e.get("sku")), "qty": e.get("qty", 1)} for e in spec.get("items") or []]
                body = {"items": items, "arguments": {} if spec.get("shipping") else {"shipping_amount": 0}}
            try:
                memo = self.create_creditmemo(order, body)
            except self.Error as e:
                return json_response(400, {"error": str(e)})
        deliveries = self.emit_creditmemo(memo) if spec.get("notify", True) else []
        return json_response(201, {"id": str(memo["entity_id"]), "amount": memo["grand_total"],
                                   "webhooks": [d["status"] for d in deliveries]})

    def emit_creditmemo(self, memo: dict) -> list[dict]:
        """The saved credit memo to each webhook target; outside the lock, like the order webhook."""
        with self.lock:
            payload = {"eventName": "observer.sales_order_creditmemo_save_after",
                       "data": {"creditmemo": self.without_nulls(copy.deepcopy(memo))}}
            targets = self.targets_for("observer.sales_order_creditmemo_save_after")
        if not targets:
            return []
        body = dumps(payload, php=True).encode()
        signature = self.sign_webhook(self.private_key_pem, body)
        results = [{"order_id": memo["order_id"], **post_webhook(url, body, {self.SIGNATURE_HEADER: signature},
                                                                 self.webhook_timeout)} for url in targets]
        with self.lock:
            self.deliveries.extend(results)
        return results

    def get_creditmemo(self, req: Request, id: str) -> Response:
        with self.lock:
            memo = self.creditmemos.get(self.entity_id(id))
            if memo is None:
                raise self.Error(404, self.NOT_FOUND)
            return json_response(200, self.without_nulls(copy.deepcopy(memo)), php=True)

    def search_creditmemos(self, req: Request) -> Response:
        criteria = _search.parse(req.params)
        with self.lock:
            rows = [copy.deepcopy(m) for m in self.creditmemos.values()]
        items, total = _search.run(rows, criteria)
        return json_response(200, {"items": [self.without_nulls(i) for i in items], "search_criteria": _search.echo(criteria),
                                   "total_count": total}, php=True)

    def refunds_summary(self, order: dict) -> list[dict]:
        """Each credit memo of the order for the shared control API's `summary.refunds`."""
        out = []
        for memo in self.creditmemos.values():
            if memo["order_id"] != order["entity_id"]:
                continue
            named = next((m.group(0) for c in memo["comments"] if (m := STRIPE_REFUND.search(c.get("comment") or ""))), None)
            out.append({"id": str(memo["entity_id"]), "amount": memo["grand_total"], "state": "refunded",
                        "stripe_refund_id": named, "at": memo["created_at"]})
        return out
