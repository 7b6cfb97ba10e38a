"""Adobe Commerce returns (RMA), as the Magento simulator serves them (facts: ../shared/platforms/magento.md §2).

GET /V1/returns (searchCriteria) and GET /V1/returns/{id} read returns (`rmaDataObject` shape: `entity_id`,
`increment_id`, `order_id`, `order_increment_id`, `store_id`, `customer_id`, `date_requested`, `status`,
`items[]` with `order_item_id`, `qty_requested|authorized|approved|returned`, `reason`, `condition`,
`resolution` (the merchant's EAV option id, as text), `status`, and `comments[]`). GET and POST
/V1/returns/{id}/comments list and add comments (POST body `{"data": {"comment", ...}}`, answers `true`).
A return moves no money by itself: the refund is a separate credit memo. Magento Open Source has no
returns: the simulator serves them as Adobe Commerce does (the ACL resource `Magento_Rma::magento_rma`).

The control API's `POST /_sim/orders/{id}/returns` makes a return as the admin processes one:
`{"items": [{"sku", "qty", "resolution"}], "status": "processed_closed"}` (item status `approved` with
the quantity approved and returned; `resolution` defaults to "refund", this simulator's option id for
Refund; "exchange" and "store_credit" are the others)."""

from __future__ import annotations

import copy
from decimal import Decimal

from . import _search
from ._common import Request, Response, json_response, magento_time, parse_decimal
from .magento_creditmemos import STRIPE_REFUND

RESOLUTIONS = ("refund", "exchange", "store_credit")
STATUSES = ("pending", "authorized", "partially_authorized", "received", "partially_received", "approved",
            "partially_approved", "rejected", "partially_rejected", "denied", "processed_closed", "closed")


class Returns:
    """Mixed into MagentoSimulator: uses its lock, orders, ids, request helpers and its
    `Error`, `NOT_FOUND` and `without_nulls`."""

    def return_routes(self, authed) -> None:
        acl = "Magento_Rma::magento_rma"
        self.rest.add("GET", r"returns/(?P<id>[^/]+)/comments", authed(acl, self.list_return_comments))
        self.rest.add("POST", r"returns/(?P<id>[^/]+)/comments", authed(acl, self.add_return_comment))
        self.rest.add("GET", r"returns/(?P<id>[^/]+)", authed(acl, self.get_return))
        self.rest.add("GET", r"returns", authed(acl, self.search_returns))
        self.sim.add("POST", r"/_sim/orders/(?P<id>\d+)/returns", self.sim_return)

    def return_or_404(self, id: str) -> dict:
        rma = self.returns.get(self.entity_id(id))
        if rma is None:
            raise self.Error(404, self.NOT_FOUND)
        return rma

    def get_return(self, req: Request, id: str) -> Response:
        with self.lock:
            return json_response(200, self.without_nulls(copy.deepcopy(self.return_or_404(id))), php=True)

    def search_returns(self, req: Request) -> Response:
        criteria = _search.parse(req.params)
        with self.lock:
            rows = [copy.deepcopy(r) for r in self.returns.values()]
        items, total = _search.run(rows, criteria)
        return json_response(200, {"items": [self.without_nulls(i) for i in items], "search_criteria": _search.echo(criteria),
                                   "total_count": total}, php=True)

    def list_return_comments(self, req: Request, id: str) -> Response:
        with self.lock:
            comments = copy.deepcopy(self.return_or_404(id)["comments"])
        return json_response(200, {"items": comments, "search_criteria": {}, "total_count": len(comments)}, php=True)

    def add_return_comment(self, req: Request, id: str) -> Response:
        data = (self.body(req) or {}).get("data")
        if not isinstance(data, dict) or not data.get("comment"):
            raise self.Error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "comment"})
        with self.lock:
            rma = self.return_or_404(id)
            rma["comments"].append({
                "comment": str(data["comment"]), "rma_entity_id": rma["entity_id"], "created_at": magento_time(),
                "entity_id": self.new_id("rma_comment"), "customer_notified": bool(data.get("customer_notified")),
                "visible_on_front": bool(data.get("visible_on_front")), "status": rma["status"], "admin": True})
        return json_response(200, True)

    def sim_return(self, req: Request, id: str) -> Response:
        """A return the admin authorised, received and processed."""
        spec = req.json() or {}
        status = spec.get("status", "processed_closed")
        with self.lock:
            order = self.orders.get(int(id))
            if order is None:
                return json_response(404, {"error": "no such order"})
            if status not in STATUSES:
                return json_response(400, {"error": f"status must be one of {', '.join(STATUSES)}"})
            by_sku = {i["sku"]: i for i in order["items"]}
            rma_id = self.new_id("rma")
            items = []
            for entry in spec.get("items") or []:
                item, qty = by_sku.get(entry.get("sku")), parse_decimal(entry.get("qty", 1))
                resolution = entry.get("resolution", "refund")
                if item is None or qty is None or qty <= 0 or qty > item["qty_ordered"] or resolution not in RESOLUTIONS:
                    return json_response(400, {"error": f"bad return item {entry}"})
                items.append({"entity_id": self.new_id("rma_item"), "rma_entity_id": rma_id,
                              "order_item_id": item["item_id"], "qty_requested": qty, "qty_authorized": qty,
                              "qty_approved": qty, "qty_returned": qty, "reason": "wrong size",
                              "condition": "unopened", "resolution": resolution, "status": "approved"})
            if not items:
                return json_response(400, {"error": "a return needs items"})
            rma = {"entity_id": rma_id, "increment_id": f"{rma_id:09d}", "order_id": order["entity_id"],
                   "order_increment_id": order["increment_id"], "store_id": order["store_id"],
                   "customer_id": order.get("customer_id") or 0, "date_requested": magento_time(),
                   "customer_custom_email": "", "items": items, "status": status, "tracks": [],
                   "comments": [{"comment": "We placed your Return request.", "rma_entity_id": rma_id,
                                 "created_at": magento_time(), "entity_id": self.new_id("rma_comment"),
                                 "customer_notified": True, "visible_on_front": True, "status": "pending",
                                 "admin": True}]}
            self.returns[rma_id] = rma
            order["updated_at"] = magento_time()
        return json_response(201, {"id": str(rma_id), "increment_id": rma["increment_id"]})

    def returns_summary(self, order: dict) -> list[dict]:
        """Each return of the order for the shared control API's summary (`returns`)."""
        out = []
        for rma in self.returns.values():
            if rma["order_id"] != order["entity_id"]:
                continue
            named = next((m.group(0) for c in rma["comments"] if (m := STRIPE_REFUND.search(c["comment"]))), None)
            out.append({"id": str(rma["entity_id"]), "status": rma["status"], "stripe_refund_id": named,
                        "qty": sum((i["qty_approved"] for i in rma["items"]), Decimal(0))})
        return out
