"""Znode returns (RMAReturn), as the Znode simulator serves them (facts: ../shared/platforms/znode.md §1.7).

GET rmareturn/list runs Znode_GetRmaReturnHistoryList: `filter=key~op~value,...` over its columns
(ReturnStatus is the state's name: Approved, Partially Approved, Refund Processed, ...; OrderNumber,
PortalId, RmaReturnDetailsId, ReturnNumber), `sort=key~dir`, `page=index~n,size~m`; an unknown column
fails in its SQL (500). Rows carry neither the order id nor the notes. GET
rmareturn/getreturndetails/{returnNumber} answers the RMAReturnModel (204 when there is none), with
`ReturnLineItems` for `expand=returnitemlist` and `ReturnNotes` for `expand=returnnotes`.
POST rmareturn/submitorderreturn re-posts the whole model (SaveOrderReturn: line items, PortalId,
UserId and OrderNumber required); an admin request with state 80 (Refund Processed) sets the state and
IsRefundProcess and saves `Notes` as a note in the same transaction, as UpdateOrderReturnForRefundProcessed
does. POST rmareturn/savereturnnotes adds a note. Znode itself never checks that a return's money was paid.

Control API: POST /_sim/orders/{id}/refunds makes the merchant's return, approved (state 50) unless
`"state"` says otherwise: `{"amount": "5.00"}` (one line, that refund amount) or
`{"items": [{"sku", "qty"}], "shipping": bool}`. POST /_sim/returns/{number}/state `{"state": 50}`
moves it later, as the admin's approval does."""

from __future__ import annotations

import copy
import math
import re
from decimal import Decimal

from ._common import Request, Response, json_response, magento_time, parse_decimal, round_money

RETURN_STATES = {10: "Submitted", 20: "Not Submitted", 30: "In Review", 40: "Received", 50: "Approved",
                 60: "Rejected", 70: "Partially Approved", 80: "Refund Processed"}
APPROVED, PARTIALLY_APPROVED, REFUND_PROCESSED = 50, 70, 80
TALLY_NOTE = re.compile(r"^Tally refund ((?:re|pyr)_[A-Za-z0-9]+) ")
# Znode_GetRmaReturnHistoryList's columns (lower-cased keys)
LIST_COLUMNS = {"rmareturndetailsid": "RmaReturnDetailsId", "returnnumber": "ReturnNumber",
                "returnstatus": "ReturnStatus", "returndate": "ReturnDate", "ordernumber": "OrderNumber",
                "portalid": "PortalId", "userid": "UserId", "currencycode": "CurrencyCode", "emailid": "EmailId"}


class Returns:
    """Mixed into ZnodeSimulator: uses its lock, orders, `ZnodeError`, `envelope`, `compare` (set at
    module end of znode.py, as `python -m` makes that module `__main__`)."""

    def return_routes(self) -> None:
        self.returns: dict[int, dict] = {}
        self.next_return = 0
        r = self.rest
        r.add("GET", r"/rmareturn/list", self.list_returns)
        r.add("GET", r"/rmareturn/getreturndetails/(?P<number>[^/]+)", self.get_return)
        r.add("POST", r"/rmareturn/submitorderreturn", self.submit_return)
        r.add("POST", r"/rmareturn/savereturnnotes", self.save_return_notes)
        self.sim.add("POST", r"/_sim/orders/(?P<id>\d+)/refunds", self.sim_return)
        self.sim.add("POST", r"/_sim/returns/(?P<number>[^/]+)/state", self.sim_return_state)

    def reset_returns(self) -> None:
        self.returns, self.next_return = {}, 0

    # --- REST ---

    def find_return(self, number: str) -> dict | None:
        return next((r for r in self.returns.values() if r["ReturnNumber"].lower() == number.lower()), None)

    def return_row(self, ret: dict) -> dict:
        """A list row: the stored procedure's columns only."""
        return {k: ret[k] for k in ("RmaReturnDetailsId", "ReturnNumber", "ReturnDate", "CreatedDate", "ModifiedDate",
                                    "PortalId", "UserId", "CurrencyCode", "CultureCode", "OrderNumber", "SubTotal",
                                    "ReturnShippingCost", "ReturnTaxCost", "DiscountAmount", "CSRDiscount",
                                    "ReturnShippingDiscount", "ReturnCharges", "EmailId")} | {
            "ReturnStatus": RETURN_STATES[ret["RmaReturnStateId"]], "TotalReturnAmount": self.total_of(ret),
            "TotalExpectedReturnQuantity": sum(i["ExpectedReturnQuantity"] for i in ret["ReturnLineItems"])}

    def list_returns(self, req: Request) -> Response:
        filters = []
        for item in (req.arg("filter") or "").split(","):
            if item.strip():
                parts = item.split("~")
                if len(parts) != 3:
                    raise self.ZnodeError(500, f"Invalid filter '{item}'", 5)
                filters.append((parts[0].lower(), parts[1].lower(), parts[2].lower()))
        with self.lock:
            rows = [self.return_row(r) for r in self.returns.values()]
        for key, op, value in filters:
            if key not in LIST_COLUMNS:
                raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
            rows = [r for r in rows if self.compare(r[LIST_COLUMNS[key]], op, value, key == "returndate")]
        sort_key, _, direction = (req.arg("sort") or "returndate~desc").partition("~")
        if sort_key.lower() not in LIST_COLUMNS:
            raise self.ZnodeError(500, "An error occurred while processing the request.", 1)
        column = LIST_COLUMNS[sort_key.lower()]
        rows.sort(key=lambda r: (str(r[column]).zfill(12), r["RmaReturnDetailsId"]), reverse=direction.lower() == "desc")
        page = dict(p.split("~", 1) for p in (req.arg("page") or "index~1,size~50").split(",") if "~" in p)
        index, size = max(int(page.get("index", 1)), 1), max(int(page.get("size", 50)), 1)
        return json_response(200, self.envelope(ReturnList={
            "Returns": rows[(index - 1) * size: index * size], "PageIndex": index, "PageSize": size,
            "TotalResults": len(rows), "TotalPages": math.ceil(len(rows) / size)}))

    def render_return(self, ret: dict, expands: set[str]) -> dict:
        out = copy.deepcopy({k: v for k, v in ret.items() if k not in ("ReturnLineItems", "ReturnNotes")})
        out["ReturnStatus"] = RETURN_STATES[ret["RmaReturnStateId"]]
        out["TotalReturnAmount"] = self.total_of(ret)
        out["ReturnLineItems"] = copy.deepcopy(ret["ReturnLineItems"]) if "returnitemlist" in expands else None
        out["ReturnNotes"] = copy.deepcopy(ret["ReturnNotes"]) if "returnnotes" in expands else None
        return out

    def get_return(self, req: Request, number: str) -> Response:
        expands = {e.strip().lower() for e in (req.arg("expand") or "").split(",")}
        with self.lock:
            ret = self.find_return(number)
            return Response(204) if ret is None else json_response(200, self.envelope(Return=self.render_return(ret, expands)))

    def submit_return(self, req: Request) -> Response:
        body = req.json() or {}
        if not body.get("ReturnLineItems"):
            raise self.ZnodeError(500, "Model can not be null.", 1)
        if int(body.get("PortalId") or 0) < 1:
            raise self.ZnodeError(500, "PortalId can not be less than one.", 6)
        if int(body.get("UserId") or 0) < 1:
            raise self.ZnodeError(500, "UserId can not be less than one.", 6)
        if not body.get("OrderNumber"):
            raise self.ZnodeError(500, "Order number is empty or null.", 5)
        if not body.get("IsAdminRequest"):
            raise self.ZnodeError(500, "Only the admin's return updates are simulated.", 5)
        with self.lock:
            ret = self.find_return(str(body.get("ReturnNumber") or ""))
            if ret is None or ret["UserId"] != body["UserId"] or ret["OrderNumber"] != body["OrderNumber"]:
                raise self.ZnodeError(500, "Invalid data.", 5)
            state = int(body.get("RmaReturnStateId") or 0)
            if state not in RETURN_STATES:
                raise self.ZnodeError(500, "Invalid data.", 5)
            ret["RmaReturnStateId"] = state
            if state == REFUND_PROCESSED:
                ret["IsRefundProcess"] = True
            ret["ModifiedDate"] = magento_time()
            if body.get("Notes"):
                self.add_return_note(ret, body["Notes"])
            return json_response(201, self.envelope(Return=self.render_return(ret, {"returnitemlist"})))

    def save_return_notes(self, req: Request) -> Response:
        body = req.json() or {}
        with self.lock:
            ret = self.returns.get(body.get("RmaReturnDetailsId") or 0)
            if ret is None or not body.get("Notes"):
                raise self.ZnodeError(500, "Invalid data.", 5)
            self.add_return_note(ret, body["Notes"])
            return json_response(200, self.envelope(IsSuccess=True))

    def add_return_note(self, ret: dict, text: str) -> None:
        ret["ReturnNotes"].append({"RmaReturnNotesId": len(ret["ReturnNotes"]) + 1,
                                   "RmaReturnDetailsId": ret["RmaReturnDetailsId"], "Notes": text,
                                   "UserEmailId": "admin@example.com", "CreatedDate": magento_time()})

    @staticmethod
    def total_of(ret: dict) -> Decimal:
        """RMAReturnModel.TotalReturnAmount."""
        return (ret["SubTotal"] + (ret["ReturnShippingCost"] or 0) + ret["ReturnTaxCost"] + ret["ReturnImportDuty"]
                - ret["DiscountAmount"] - ret["CSRDiscount"] - ret["ReturnShippingDiscount"] - ret["ReturnCharges"])

    # --- control API ---

    def sim_return(self, req: Request, id: str) -> Response:
        """The merchant's return, made and approved in the admin."""
        spec = req.json() or {}
        with self.lock:
            order = self.orders.get(int(id))
            if order is None:
                return json_response(404, {"error": "no such order"})
            currency = order["CurrencyCode"]
            lines = order["OrderLineItems"]
            if spec.get("amount") is not None:
                amount = parse_decimal(spec["amount"])
                if amount is None or amount <= 0 or amount > order["Total"]:
                    return json_response(400, {"error": "amount must be positive and at most the order total"})
                items = [{"line": lines[0], "qty": Decimal(0), "refund": amount}]
                shipping = Decimal(0)
            else:
                items = []
                for e in spec.get("items") or []:
                    line = next((li for li in lines if li["Sku"] == e.get("sku")), None)
                    qty = parse_decimal(e.get("qty", 1))
                    if line is None or qty is None or qty <= 0 or qty > line["Quantity"]:
                        return json_response(400, {"error": f"cannot return {e}"})
                    items.append({"line": line, "qty": qty, "refund": round_money(line["Price"] * qty, currency)})
                if not items:
                    return json_response(400, {"error": "give an amount or items"})
                shipping = order["ShippingCost"] if spec.get("shipping") else Decimal(0)
            state = int(spec.get("state", APPROVED))
            if state not in RETURN_STATES:
                return json_response(400, {"error": f"state must be one of {sorted(RETURN_STATES)}"})
            self.next_return += 1
            details_id = self.next_return
            now = magento_time()
            ret = {
                "RmaReturnDetailsId": details_id, "OmsOrderId": order["OmsOrderId"],
                "OmsOrderDetailsId": order["OmsOrderDetailsId"], "OrderNumber": order["OrderNumber"],
                "ReturnNumber": f"RET-{order['OmsOrderId']}-{details_id:04d}", "ReturnDate": now,
                "CreatedDate": now, "ModifiedDate": now, "RmaReturnStateId": state,
                "EmailId": order["Email"], "PortalId": order["PortalId"], "UserId": order["UserId"],
                "FirstName": order["FirstName"], "LastName": order["LastName"],
                "CurrencyCode": currency, "CultureCode": order["CultureCode"],
                "SubTotal": sum((i["refund"] for i in items), Decimal(0)), "ReturnShippingCost": shipping,
                "ReturnTaxCost": Decimal(0), "DiscountAmount": Decimal(0), "CSRDiscount": Decimal(0),
                "ReturnShippingDiscount": Decimal(0), "ReturnCharges": Decimal(0), "ReturnImportDuty": Decimal(0),
                "VoucherAmount": None, "OverDueAmount": None, "IsRefundProcess": False, "IsAdminRequest": False,
                "Notes": None,
                "ReturnLineItems": [{"RmaReturnLineItemsId": details_id * 100 + n,
                                     "OmsOrderLineItemsId": i["line"]["OmsOrderLineItemsId"], "Sku": i["line"]["Sku"],
                                     "ExpectedReturnQuantity": i["qty"], "ReturnedQuantity": i["qty"],
                                     "RefundAmount": i["refund"], "RmaReturnStateId": state,
                                     "RmaReasonForReturnId": 1} for n, i in enumerate(items)],
                "ReturnNotes": [],
            }
            self.returns[details_id] = ret
            return json_response(201, {"id": ret["ReturnNumber"], "amount": self.total_of(ret),
                                       "state": RETURN_STATES[state]})

    def sim_return_state(self, req: Request, number: str) -> Response:
        spec = req.json() or {}
        with self.lock:
            ret = self.find_return(number)
            if ret is None:
                return json_response(404, {"error": "no such return"})
            state = int(spec.get("state", APPROVED))
            if state not in RETURN_STATES:
                return json_response(400, {"error": f"state must be one of {sorted(RETURN_STATES)}"})
            ret["RmaReturnStateId"] = state
            ret["ModifiedDate"] = magento_time()
            return json_response(200, {"id": ret["ReturnNumber"], "state": RETURN_STATES[state]})

    def returns_summary(self, order: dict) -> list[dict]:
        """The order's returns that are refunds, for `summary.refunds`."""
        out = []
        for ret in self.returns.values():
            if ret["OmsOrderId"] != order["OmsOrderId"] or ret["RmaReturnStateId"] not in (APPROVED, PARTIALLY_APPROVED, REFUND_PROCESSED):
                continue
            named = next((m.group(1) for n in ret["ReturnNotes"] if (m := TALLY_NOTE.match(n["Notes"] or ""))), None)
            out.append({"id": ret["ReturnNumber"], "amount": self.total_of(ret) - (ret["VoucherAmount"] or 0),
                        "state": "refunded" if ret["RmaReturnStateId"] == REFUND_PROCESSED else "approved",
                        "stripe_refund_id": named, "at": ret["ReturnDate"]})
        return out
