"""ERP simulator: a generic accounting middleware that Tally posts journal entries to.

    cd tests && ../.venv/bin/python -m simulators.erp --host 127.0.0.1 --port 4620 --secret SECRET

Every /api request is signed: X-Tally-Timestamp (unix seconds) and
X-Tally-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>[,v1=...] (GETs sign an
empty body). Journal entries are idempotent on Idempotency-Key. The control API under /_sim/
exposes entries, the request log, reset and fault injection.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import threading
import time
from datetime import date
from decimal import Decimal

from ._common import (Faults, Request, RequestLog, Response, Router, currency_decimals, decimals_of, iso_time,
                      json_response, serve)

TOLERANCE_SECONDS = 300
AMOUNT = re.compile(r"^\d+(\.\d+)?$")


def sign_request(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Tally-Signature value for one secret (tests and the demo sign with this)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def default_fault_body(status: int) -> dict:
    if status == 429:
        return {"error": "rate_limited", "message": "Too many requests"}
    return {"error": "simulated_fault", "message": f"Simulated error {status}"}


class Invalid(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body.get("message", ""))
        self.status, self.body, self.headers = status, body, headers


def invalid_entry(message: str, field: str) -> Invalid:
    return Invalid(422, {"error": "invalid_entry", "message": message, "field": field})


def validate(entry) -> None:
    """Raises Invalid (422) unless the entry is a well-formed, balanced journal entry."""
    if not isinstance(entry, dict):
        raise invalid_entry("body must be a JSON object", "")
    try:
        date.fromisoformat(entry.get("date") if isinstance(entry.get("date"), str) else "")
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", entry["date"]):
            raise ValueError
    except (ValueError, KeyError):
        raise invalid_entry("date must be YYYY-MM-DD", "date")
    currency = entry.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise invalid_entry("currency must be an upper-case ISO 4217 code", "currency")
    if "memo" in entry and not isinstance(entry["memo"], (str, type(None))):
        raise invalid_entry("memo must be a string", "memo")
    if "references" in entry and not isinstance(entry["references"], dict):
        raise invalid_entry("references must be an object", "references")
    lines = entry.get("lines")
    if not isinstance(lines, list) or len(lines) < 2:
        raise invalid_entry("an entry needs at least 2 lines", "lines")
    places = currency_decimals(currency)
    totals = {"debit": Decimal(0), "credit": Decimal(0)}
    for n, line in enumerate(lines):
        where = f"lines[{n}]"
        if not isinstance(line, dict):
            raise invalid_entry("a line must be an object", where)
        if not isinstance(line.get("account"), str) or not line["account"].strip():
            raise invalid_entry("account must be a non-empty string", f"{where}.account")
        sides = [side for side in ("debit", "credit") if side in line]
        if len(sides) != 1:
            raise invalid_entry("a line has exactly one of debit or credit", where)
        side = sides[0]
        text = line[side]
        if not isinstance(text, str) or not AMOUNT.match(text):
            raise invalid_entry(f"{side} must be a decimal string in major units, like \"12.34\"", f"{where}.{side}")
        amount = Decimal(text)
        if amount <= 0:
            raise invalid_entry(f"{side} must be positive", f"{where}.{side}")
        if decimals_of(amount) > places:
            raise invalid_entry(f"{currency} amounts have at most {places} decimals", f"{where}.{side}")
        if "memo" in line and not isinstance(line["memo"], (str, type(None))):
            raise invalid_entry("memo must be a string", f"{where}.memo")
        totals[side] += amount
    if totals["debit"] != totals["credit"]:
        step = Decimal(1).scaleb(-places)
        raise Invalid(422, {"error": "unbalanced", "message": "debits and credits differ",
                            "debits": str(totals["debit"].quantize(step)),
                            "credits": str(totals["credit"].quantize(step))})


def amount_of(text, currency: str, where: str, allow_zero: bool = True, signed: bool = False) -> Decimal:
    """A decimal string in major units within the currency's decimals."""
    if not isinstance(text, str) or not re.match(r"^-?\d+(\.\d+)?$", text) or (text.startswith("-") and not signed):
        raise invalid_entry("must be a decimal string in major units, like \"12.34\"", where)
    amount = Decimal(text)
    if amount < 0 and not signed or amount == 0 and not allow_zero:
        raise invalid_entry("must be positive", where)
    places = currency_decimals(currency)
    if decimals_of(amount) > places:
        raise invalid_entry(f"{currency} amounts have at most {places} decimals", where)
    return amount


def validate_sales_order(order) -> None:
    """Raises Invalid (422) unless the lines, shipping, tax, discount and adjustment add up to the total and the
    payment applied covers it."""
    if not isinstance(order, dict):
        raise invalid_entry("body must be a JSON object", "")
    currency = order.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise invalid_entry("currency must be an upper-case ISO 4217 code", "currency")
    lines = order.get("lines")
    if not isinstance(lines, list) or not lines:
        raise invalid_entry("a sales order needs at least one line", "lines")
    subtotal = Decimal(0)
    for n, line in enumerate(lines):
        if not isinstance(line, dict) or not isinstance(line.get("sku"), str) or not line["sku"].strip():
            raise invalid_entry("a line needs a sku", f"lines[{n}].sku")
        try:
            if Decimal(str(line.get("quantity"))) <= 0:
                raise ValueError
        except (ValueError, ArithmeticError):
            raise invalid_entry("quantity must be a positive decimal string", f"lines[{n}].quantity")
        subtotal += amount_of(line.get("amount"), currency, f"lines[{n}].amount")
    charges = {k: amount_of(order.get(k), currency, k, signed=(k == "adjustment"))
               for k in ("shipping", "tax", "discount", "adjustment")}
    total = amount_of(order.get("total"), currency, "total", allow_zero=False)
    computed = subtotal + charges["shipping"] + charges["tax"] - charges["discount"] + charges["adjustment"]
    if computed != total:
        raise Invalid(422, {"error": "totals_differ", "message": "lines + shipping + tax - discount + adjustment "
                            f"is {computed}, not the total {total}"})
    payment = order.get("payment") or {}
    if amount_of(payment.get("amount"), currency, "payment.amount") != total or not payment.get("reference"):
        raise invalid_entry("the payment applied must cover the total and name its reference", "payment")


class ErpSimulator:
    def __init__(self, secrets: list[str], clock=time.time):
        self.secrets = [s.encode() for s in secrets]
        self.clock = clock
        self.lock = threading.Lock()
        self.faults = Faults(default_fault_body)
        self.requests = RequestLog()
        self.reset()

        self.api = Router()
        self.api.add("POST", r"/api/journal-entries", self.post_entry)
        self.api.add("GET", r"/api/journal-entries", self.list_entries)
        self.api.add("GET", r"/api/journal-entries/(?P<id>[^/]+)", self.get_entry)
        self.api.add("POST", r"/api/sales-orders", self.post_sales_order)
        self.api.add("POST", r"/api/credit-memos", self.post_credit_memo)

        self.sim = Router()
        self.sim.add("GET", r"/_sim/entries", lambda req: json_response(200, {"entries": self.all_entries()}))
        self.sim.add("GET", r"/_sim/sales-orders", lambda req: json_response(200, {
            "sales_orders": self.documents("sales_orders", req)}))
        self.sim.add("GET", r"/_sim/credit-memos", lambda req: json_response(200, {
            "credit_memos": self.documents("credit_memos", req)}))
        self.sim.add("GET", r"/_sim/requests", lambda req: json_response(200, {
            "requests": self.requests.list(req.arg("path_contains"), req.arg("method"))}))
        self.sim.add("POST", r"/_sim/reset", self.sim_reset)
        self.sim.add("POST", r"/_sim/faults", lambda req: json_response(201, self.faults.add(req.json())))
        self.sim.add("GET", r"/_sim/faults", lambda req: json_response(200, {"faults": self.faults.list()}))
        self.sim.add("DELETE", r"/_sim/faults", self.sim_clear_faults)

    def reset(self) -> None:
        with self.lock:
            self.entries: dict[str, dict] = {}
            self.by_key: dict[str, tuple[object, str]] = {}  # key -> (request body, entry id)
            self.next_number = 1
            # sales orders and credit memos: kind -> {key: (request body, stored document)}
            self.sales: dict[str, dict[str, tuple[object, dict]]] = {"sales_orders": {}, "credit_memos": {}}
        self.faults.clear()
        self.requests.clear()

    def all_entries(self) -> list[dict]:
        with self.lock:
            return list(self.entries.values())

    # --- dispatch ---

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            found = self.sim.match(req.method, req.path)
            if not found:
                return json_response(404, {"error": "not_found", "message": "unknown simulator route"})
            handler, args = found
            try:
                return handler(req, **args)
            except ValueError as exc:
                return json_response(400, {"error": "bad_request", "message": str(exc)})
        if not req.path.startswith("/api/"):
            return json_response(404, {"error": "not_found", "message": "no such route"})
        fault = self.faults.take(req.method, req.path)
        if fault:
            response = self.faults.response(fault)
            self.requests.record(req, response.status, fault=True)
            return response
        try:
            found = self.api.match(req.method, req.path)
            if not found:
                raise Invalid(404, {"error": "not_found", "message": "no such route"})
            self.authenticate(req)
            handler, args = found
            response = handler(req, **args)
        except Invalid as exc:
            response = json_response(exc.status, exc.body, exc.headers)
        self.requests.record(req, response.status)
        return response

    def authenticate(self, req: Request) -> None:
        def refuse(message: str) -> Invalid:
            return Invalid(401, {"error": "invalid_signature", "message": message})

        timestamp, header = req.headers.get("x-tally-timestamp"), req.headers.get("x-tally-signature")
        if not timestamp or not header:
            raise refuse("X-Tally-Timestamp and X-Tally-Signature are required")
        if not timestamp.isdigit():
            raise refuse("X-Tally-Timestamp must be unix seconds")
        if abs(self.clock() - int(timestamp)) > TOLERANCE_SECONDS:
            raise refuse(f"timestamp is more than {TOLERANCE_SECONDS} s away from now")
        given = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
        signed = timestamp.encode() + b"." + req.body
        expected = [hmac.new(secret, signed, hashlib.sha256).hexdigest() for secret in self.secrets]
        # Check every pair without stopping early, each comparison in constant time.
        ok = False
        for candidate in given:
            for value in expected:
                ok |= hmac.compare_digest(candidate.encode(), value.encode())
        if not ok:
            raise refuse("no v1 signature matches")

    # --- API ---

    def post_entry(self, req: Request) -> Response:
        key = req.headers.get("idempotency-key", "").strip()
        if not key:
            raise Invalid(400, {"error": "missing_idempotency_key", "message": "the Idempotency-Key header is required"})
        try:
            entry = req.json()
        except ValueError:
            raise Invalid(400, {"error": "invalid_json", "message": "the body is not JSON"})
        with self.lock:
            if key in self.by_key:
                first_body, entry_id = self.by_key[key]
                if first_body != entry:
                    raise Invalid(409, {"error": "idempotency_conflict",
                                        "message": "this Idempotency-Key was used with a different body"})
                return json_response(200, self.entries[entry_id], {"Idempotent-Replayed": "true"})
            validate(entry)
            if entry.get("idempotency_key", key) != key:
                raise invalid_entry("idempotency_key differs from the Idempotency-Key header", "idempotency_key")
            entry_id = f"JE-{self.next_number:06d}"
            self.next_number += 1
            stored = {"id": entry_id, "status": "posted"}
            stored.update((k, v) for k, v in entry.items() if k not in ("id", "status", "posted_at"))
            stored.update(idempotency_key=key, posted_at=iso_time())
            self.entries[entry_id] = stored
            self.by_key[key] = (entry, entry_id)
            return json_response(201, stored, {"Location": f"/api/journal-entries/{entry_id}"})

    def documents(self, kind: str, req: Request) -> list[dict]:
        """The stored documents of `kind`, filtered by any reference given as a query argument."""
        with self.lock:
            found = [doc for _, doc in self.sales[kind].values()]
        wanted = {k: v for k, v in req.params if k != "sales_order"}
        return [d for d in found if all(str((d.get("references") or {}).get(k)) == v for k, v in wanted.items())
                and req.arg("sales_order") in (None, d.get("sales_order"))]

    def post_document(self, req: Request, kind: str, prefix: str, check) -> Response:
        """One sales document per Idempotency-Key: the same body again is a replay, another a conflict."""
        key = req.headers.get("idempotency-key", "").strip()
        if not key:
            raise Invalid(400, {"error": "missing_idempotency_key", "message": "the Idempotency-Key header is required"})
        try:
            body = req.json()
        except ValueError:
            raise Invalid(400, {"error": "invalid_json", "message": "the body is not JSON"})
        with self.lock:
            kept = self.sales[kind]
            if key in kept:
                first, stored = kept[key]
                if first != body:
                    raise Invalid(409, {"error": "idempotency_conflict",
                                        "message": "this Idempotency-Key was used with a different body"})
                return json_response(200, stored, {"Idempotent-Replayed": "true"})
            check(body)
            stored = dict(body, id=f"{prefix}-{len(kept) + 1:06d}", status="posted", posted_at=iso_time())
            kept[key] = (body, stored)
            return json_response(201, stored)

    def post_sales_order(self, req: Request) -> Response:
        return self.post_document(req, "sales_orders", "SO", validate_sales_order)

    def post_credit_memo(self, req: Request) -> Response:
        def check(memo) -> None:
            if not isinstance(memo, dict):
                raise invalid_entry("body must be a JSON object", "")
            order = self.sales["sales_orders"].get(memo.get("sales_order"), (None, None))[1]
            if order is None:
                raise Invalid(422, {"error": "unknown_sales_order",
                                    "message": f"no sales order {memo.get('sales_order')} to credit"})
            if memo.get("currency") != order["currency"]:
                raise invalid_entry(f"the sales order is in {order['currency']}", "currency")
            amount = amount_of(memo.get("amount"), order["currency"], "amount", allow_zero=False)
            credited = sum((Decimal(m["amount"]) for _, m in self.sales["credit_memos"].values()
                            if m["sales_order"] == memo["sales_order"]), Decimal(0))
            if credited + amount > Decimal(order["total"]):
                raise Invalid(422, {"error": "over_credit", "message": f"credits would exceed the sales order's "
                                    f"total {order['total']} ({credited} credited already)"})

        return self.post_document(req, "credit_memos", "CM", check)

    def list_entries(self, req: Request) -> Response:
        wanted = {name: req.arg(name) for name in ("order_id", "increment_id", "payment_intent", "charge", "platform")}
        wanted = {k: v for k, v in wanted.items() if v is not None}
        key = req.arg("idempotency_key")

        def matches(entry: dict) -> bool:
            refs = entry.get("references") or {}
            return all(str(refs.get(k)) == v for k, v in wanted.items()) and key in (None, entry["idempotency_key"])

        data = [e for e in self.all_entries() if matches(e)]
        return json_response(200, {"data": data, "count": len(data)})

    def get_entry(self, req: Request, id: str) -> Response:
        with self.lock:
            entry = self.entries.get(id)
        if entry is None:
            raise Invalid(404, {"error": "not_found", "message": f"no journal entry {id}"})
        return json_response(200, entry)

    # --- control ---

    def sim_reset(self, req: Request) -> Response:
        self.reset()
        return json_response(200, {"reset": True})

    def sim_clear_faults(self, req: Request) -> Response:
        self.faults.clear()
        return json_response(200, {"faults": []})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4620, help="0 picks a free port (printed on start)")
    parser.add_argument("--secret", action="append",
                        help="HMAC signing secret; repeat to accept several while rotating (env ERP_SIM_SECRET)")
    args = parser.parse_args()
    secrets = args.secret or [os.environ.get("ERP_SIM_SECRET", "erp-local-signing-secret")]
    serve("erp", ErpSimulator(secrets), args.host, args.port)


if __name__ == "__main__":
    main()
