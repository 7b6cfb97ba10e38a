"""NetSuite simulator: SuiteTalk REST's journal entry record, as ../shared/platforms/erp.md describes it.

    cd tests && ../.venv/bin/python -m simulators.netsuite --host 127.0.0.1 --port 4670 --account 1234567_SB1 \
        --consumer KEY:SECRET --token ID:SECRET

What it follows (Oracle NetSuite help, sources in erp.md):
- Records under /services/rest/record/v1/<record>, record names in any case (journalentry, journalEntry).
- Create: POST .../journalentry answers 204, no body, the new record's URL in Location.
- Upsert: PUT .../journalentry/eid:<externalId> creates or updates; GET .../journalentry/eid:<id> reads by
  external id; external ids hold letters, digits, '_' and '-' only.
- Sublists are links unless ?expandSubResources=true.
- Token-based authentication: Authorization: OAuth realm=<account>, oauth_consumer_key, oauth_token,
  oauth_signature_method=HMAC-SHA256, oauth_timestamp, oauth_nonce, oauth_version=1.0, oauth_signature
  (RFC 5849 base string over the URL the client called, its query and the oauth parameters; the key is
  consumer secret & token secret). A nonce is accepted once; the timestamp must be within 5 minutes.
- Errors: {"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}.
- Journal entries: subsidiary and currency by internal id, lines {account: {id}, debit | credit, memo} whose
  debits equal credits, amounts JSON numbers within the currency's decimals, a tranDate in an open period.
  What the published pages do not show (the exact wording of a closed period's error, the chart) is this
  simulator's choice: accounts 1000 1150 1190 1200 4500 4560 6150, currencies 1 USD 2 GBP 3 CAD 4 EUR 5 JPY,
  subsidiary 1, and every period before this year closed.
- Sales documents: salesorder (entity, item sublist {item: {id}, quantity, amount, description}; its total the
  sum of its lines), customerdeposit (customer, salesOrder {id} of that customer in its currency, payment,
  account), creditmemo (entity, item sublist; total, amountRemaining) and customerrefund (customer, account,
  apply sublist {doc: {id}, apply, amount} against credit memos of that customer, never beyond what remains).
  Customer 501 and items 20-25 (sale, shipping, tax, discount, adjustment, refund) are this simulator's choice.
- Collections: GET .../<record>?q=externalId IS|START_WITH "<text>"&limit=&offset= answers
  {"items": [{"links", "id"}], "count", "hasMore", "offset", "totalResults"} (Record Collection Filtering).

The control API under /_sim/ lists records, the request log, reset and fault injection.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import re
import threading
import time
from datetime import date
from decimal import Decimal
from urllib.parse import quote, unquote

from ._common import (Faults, Request, RequestLog, Response, Router, control_route, currency_decimals, decimals_of,
                      injected_fault, iso_time, json_response, serve)

TOLERANCE_SECONDS = 300
RECORDS = "/services/rest/record/v1"
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]+$")
ACCOUNTS = {"1000": "Bank", "1150": "Stripe Clearing", "1190": "Stripe Suspense", "1200": "Accounts Receivable",
            "4500": "Sales Returns", "4560": "Chargebacks", "6150": "Merchant Fees"}
CURRENCIES = {"1": "USD", "2": "GBP", "3": "CAD", "4": "EUR", "5": "JPY"}
SUBSIDIARIES = {"1": "Tally Demo Inc."}
CUSTOMERS = {"501": "Web Store Customer"}
ITEMS = {"20": "Web Store Sale", "21": "Shipping", "22": "Sales Tax", "23": "Discount", "24": "Order Adjustment",
         "25": "Refund"}
KINDS = ("journalentry", "salesorder", "customerdeposit", "creditmemo", "customerrefund")
SUBLISTS = {"journalentry": "line", "salesorder": "item", "creditmemo": "item", "customerrefund": "apply"}
KIND = "(?P<kind>" + "|".join(KINDS) + ")"
QUERY = re.compile(r'^externalId (IS|START_WITH) "([^"]*)"$')
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_body(status: int, code: str, detail: str) -> dict:
    kind = ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4" if status == 429 else
            f"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.{5 if status < 500 else 6}.{status % 100 + 1}")
    return {"type": kind,
            "title": TITLES.get(status, "Error"), "status": status,
            "o:errorDetails": [{"detail": detail, "o:errorCode": code}]}


def default_fault_body(status: int) -> dict:
    if status == 429:
        return error_body(429, "CONCURRENCY_LIMIT_EXCEEDED",
                          "Concurrent request limit exceeded. Request blocked.")
    return error_body(status, "UNEXPECTED_ERROR", f"Simulated error {status}")


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def pct(text: str) -> str:
    """RFC 3986 percent-encoding, as RFC 5849 section 3.6 requires (only unreserved characters kept)."""
    return quote(text, safe="-._~")


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1: method, base URL and the sorted, encoded parameters."""
    pairs = sorted((pct(k), pct(v)) for k, v in params)
    return "&".join([method.upper(), pct(url), pct("&".join(f"{k}={v}" for k, v in pairs))])


def tba_signature(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()


def parse_oauth_header(header: str) -> dict[str, str]:
    if not header.startswith("OAuth "):
        raise ValueError("not an OAuth header")
    fields = {}
    for part in header[len("OAuth "):].split(","):
        name, _, value = part.strip().partition("=")
        if not value.startswith('"') or not value.endswith('"'):
            raise ValueError(f"{name} is not quoted")
        fields[name] = unquote(value[1:-1])
    return fields


class NetsuiteSimulator:
    def __init__(self, account: str, consumers: dict[str, str], tokens: dict[str, str], clock=time.time):
        self.account, self.consumers, self.tokens, self.clock = account, consumers, tokens, clock
        self.lock = threading.Lock()
        self.faults = Faults(default_fault_body)
        self.requests = RequestLog()
        self.reset()
        self.api = Router(ignore_case=True)
        self.api.add("POST", RECORDS + "/" + KIND, self.create)
        self.api.add("GET", RECORDS + "/" + KIND, self.collection)
        self.api.add("GET", RECORDS + "/" + KIND + r"/(?P<ref>[^/]+)", self.get)
        self.api.add("PUT", RECORDS + "/" + KIND + r"/(?P<ref>[^/]+)", self.upsert)
        self.sim = Router()
        self.sim.add("GET", r"/_sim/records/" + KIND, lambda req, kind: json_response(200, {
            "records": [r for r in self.all_records() if r["kind"] == kind
                        and req.arg("externalId") in (None, r.get("externalId"))]}))
        self.sim.add("GET", r"/_sim/requests", lambda req: json_response(200, {
            "requests": self.requests.list(req.arg("path_contains"), req.arg("method"))}))
        self.sim.add("POST", r"/_sim/reset", lambda req: (self.reset(), json_response(200, {"reset": True}))[1])
        self.sim.add("POST", r"/_sim/faults", lambda req: json_response(201, self.faults.add(req.json())))
        self.sim.add("GET", r"/_sim/faults", lambda req: json_response(200, {"faults": self.faults.list()}))
        self.sim.add("DELETE", r"/_sim/faults", lambda req: (self.faults.clear(), json_response(200, {"faults": []}))[1])

    def reset(self) -> None:
        with self.lock:
            self.records: dict[str, dict] = {}
            self.next_id = 101
            self.nonces: set[str] = set()
        self.faults.clear()
        self.requests.clear()

    def all_records(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.records.values()]

    # --- dispatch ---

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return control_route(self.sim, req, json_response, (ValueError,))
        faulted = injected_fault(self.faults, self.requests, req)
        if faulted:
            return faulted
        try:
            found = self.api.match(req.method, req.path)
            if not found:
                raise Refused(404, "INVALID_RCRD_TYPE" if req.path.startswith(RECORDS) else "NONEXISTENT_ID",
                              f"No resource matches {req.method} {req.path}.")
            self.authenticate(req)
            handler, args = found
            response = handler(req, **args)
        except Refused as exc:
            response = json_response(exc.status, error_body(exc.status, exc.code, exc.detail))
        self.requests.record(req, response.status)
        return response

    def authenticate(self, req: Request) -> None:
        def refuse(why: str) -> Refused:
            # NetSuite says only "Invalid login attempt"; the reason is in its Login Audit Trail, here in the log.
            print(f"netsuite: refused login: {why}", flush=True)
            return Refused(401, "INVALID_LOGIN", "Invalid login attempt. For more details, see the Login Audit "
                           "Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.")

        try:
            oauth = parse_oauth_header(req.headers.get("authorization", ""))
        except ValueError as exc:
            raise refuse(str(exc))
        if oauth.get("realm") != self.account:
            raise refuse("wrong realm")
        if oauth.get("oauth_signature_method") != "HMAC-SHA256" or oauth.get("oauth_version") != "1.0":
            raise refuse("signature method must be HMAC-SHA256, version 1.0")
        consumer_secret = self.consumers.get(oauth.get("oauth_consumer_key", ""))
        token_secret = self.tokens.get(oauth.get("oauth_token", ""))
        if consumer_secret is None or token_secret is None:
            raise refuse("unknown consumer key or token")
        stamp = oauth.get("oauth_timestamp", "")
        if not stamp.isdigit() or abs(self.clock() - int(stamp)) > TOLERANCE_SECONDS:
            raise refuse("timestamp missing or more than 5 minutes away")
        params = [(k, v) for k, v in oauth.items() if k not in ("realm", "oauth_signature")] + list(req.params)
        url = f"http://{req.headers.get('host', '')}{req.path}"
        expected = tba_signature(base_string(req.method, url, params), consumer_secret, token_secret)
        if not hmac.compare_digest(expected.encode(), oauth.get("oauth_signature", "").encode()):
            raise refuse("signature does not match")
        with self.lock:
            nonce = oauth.get("oauth_nonce", "")
            if not nonce or nonce in self.nonces:
                raise refuse("nonce missing or used before")
            self.nonces.add(nonce)

    # --- records ---

    def find(self, kind: str, ref: str) -> dict | None:
        if ref.startswith("eid:"):
            return next((r for r in self.records.values()
                         if r["kind"] == kind and r.get("externalId") == ref[4:]), None)
        record = self.records.get(ref)
        return record if record and record["kind"] == kind else None

    def create(self, req: Request, kind: str) -> Response:
        kind = kind.lower()
        body = self.body(req)
        external = body.get("externalId")
        with self.lock:
            if external is not None and self.find(kind, f"eid:{external}"):
                raise Refused(400, "DUP_RCRD", "This record already exists with this external ID.")
            record = self.store(kind, None, body, external)
        return self.created(req, record)

    def upsert(self, req: Request, kind: str, ref: str) -> Response:
        kind = kind.lower()
        if not ref.startswith("eid:"):
            raise Refused(400, "INVALID_REQUEST", "Upsert needs an external ID in the URL: eid:<externalId>.")
        external = ref[4:]
        if not EXTERNAL_ID.match(external):
            raise Refused(400, "INVALID_ID", "An external ID holds letters, numbers, underscore and hyphen only.")
        body = self.body(req)
        if body.get("externalId", external) != external:
            raise Refused(400, "INVALID_FLD_VALUE", "externalId differs from the external ID in the URL.")
        with self.lock:
            existing = self.find(kind, ref)
            record = self.store(kind, existing["id"] if existing else None, body, external)
        return self.created(req, record)

    def get(self, req: Request, kind: str, ref: str) -> Response:
        with self.lock:
            record = self.find(kind.lower(), ref)
        if record is None:
            raise Refused(404, "NONEXISTENT_ID",
                          "The record instance does not exist. Provide a valid record instance ID.")
        return json_response(200, self.view(req, record))

    def collection(self, req: Request, kind: str) -> Response:
        kind = kind.lower()
        query = req.arg("q")
        found = QUERY.match(query) if query is not None else None
        if query is not None and not found:
            # Only the filters Tally uses are served; NetSuite's N/query takes many more.
            raise Refused(400, "INVALID_PARAMETER", f"This simulator filters on externalId IS|START_WITH only: {query}")
        try:
            limit, offset = int(req.arg("limit") or 1000), int(req.arg("offset") or 0)
        except ValueError:
            raise Refused(400, "INVALID_PARAMETER", "limit and offset are integers.")
        if not 1 <= limit <= 1000 or offset < 0:
            raise Refused(400, "INVALID_PARAMETER", "limit is 1 to 1000 and offset not negative.")
        def wanted(record: dict) -> bool:
            if not found:
                return True
            operator, text = found.groups()
            external = record.get("externalId") or ""
            return external == text if operator == "IS" else external.startswith(text)

        with self.lock:
            matches = [r for r in self.records.values() if r["kind"] == kind and wanted(r)]
        page = matches[offset:offset + limit]
        host = req.headers.get("host", "")
        return json_response(200, {
            "links": [], "count": len(page), "hasMore": offset + len(page) < len(matches), "offset": offset,
            "totalResults": len(matches),
            "items": [{"links": [{"rel": "self", "href": f"http://{host}{RECORDS}/{kind}/{r['id']}"}], "id": r["id"]}
                      for r in page]})

    def created(self, req: Request, record: dict) -> Response:
        host = req.headers.get("host", "")
        return Response(204, b"", headers={"Location": f"http://{host}{RECORDS}/{record['kind']}/{record['id']}"})

    def body(self, req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise Refused(400, "INVALID_CONTENT", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            raise Refused(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        return body

    def store(self, kind: str, record_id: str | None, body: dict, external: str | None) -> dict:
        """Validates a record as NetSuite would and keeps it (the caller holds the lock)."""
        header = self.header(body)
        previous = self.records.get(record_id) if record_id else None
        if previous and kind == "customerrefund":
            self.unapply(previous)  # an update re-applies from what the memos had before
        try:
            fields = getattr(self, f"validate_{kind}")(body, header)
        except Refused:
            if previous and kind == "customerrefund":
                self.apply(previous)
            raise
        if record_id is None:
            record_id, self.next_id = str(self.next_id), self.next_id + 1
        record = {"id": record_id, "kind": kind, "tranId": f"{kind[:2].upper()}{record_id}",
                  "tranDate": header["tranDate"], "memo": body.get("memo"),
                  "subsidiary": {"id": header["subsidiary"], "refName": SUBSIDIARIES[header["subsidiary"]]},
                  "currency": {"id": header["currency"], "refName": header["code"]}, "externalId": external,
                  "lastModifiedDate": iso_time(), **fields}
        self.records[record_id] = record
        if kind == "customerrefund":
            self.apply(record)
        return record

    def header(self, body: dict) -> dict:
        subsidiary = (body.get("subsidiary") or {}).get("id")
        if subsidiary not in SUBSIDIARIES:
            raise Refused(400, "INVALID_KEY_OR_REF", f"Invalid subsidiary reference key {subsidiary}.")
        currency_id = (body.get("currency") or {}).get("id")
        if currency_id not in CURRENCIES:
            raise Refused(400, "INVALID_KEY_OR_REF", f"Invalid currency reference key {currency_id}.")
        try:
            day = date.fromisoformat(body.get("tranDate", ""))
        except (TypeError, ValueError):
            raise Refused(400, "INVALID_FLD_VALUE", "tranDate must be a date, YYYY-MM-DD.")
        if day.year < date.today().year:
            raise Refused(400, "USER_ERROR", f"The accounting period for {day.isoformat()} is closed.")
        return {"subsidiary": subsidiary, "currency": currency_id, "code": CURRENCIES[currency_id],
                "tranDate": day.isoformat()}

    @staticmethod
    def amount(value, code: str, what: str, positive: bool = True) -> Decimal:
        if not isinstance(value, (Decimal, int)) or isinstance(value, bool) or (value <= 0 if positive else value == 0):
            raise Refused(400, "INVALID_FLD_VALUE", f"Invalid {what}: a {'positive' if positive else 'non-zero'} number.")
        if decimals_of(Decimal(value)) > currency_decimals(code):
            raise Refused(400, "INVALID_FLD_VALUE", f"{code} amounts have at most {currency_decimals(code)} decimals ({what}).")
        return Decimal(value)

    @staticmethod
    def reference(body: dict, field: str, known: dict, what: str) -> str:
        ref = (body.get(field) or {}).get("id")
        if ref not in known:
            raise Refused(400, "INVALID_KEY_OR_REF", f"Invalid {what} reference key {ref}.")
        return ref

    def validate_journalentry(self, body: dict, header: dict) -> dict:
        code = header["code"]
        items = ((body.get("line") or {}).get("items"))
        if not isinstance(items, list) or len(items) < 2:
            raise Refused(400, "USER_ERROR", "A journal entry needs at least two lines.")
        totals = {"debit": Decimal(0), "credit": Decimal(0)}
        lines = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise Refused(400, "INVALID_FLD_VALUE", f"Line {n + 1} is not an object.")
            account = self.reference(item, "account", ACCOUNTS, "account")
            sides = [s for s in ("debit", "credit") if item.get(s) is not None]
            if len(sides) != 1:
                raise Refused(400, "USER_ERROR", f"Line {n + 1} needs a debit or a credit amount.")
            amount = self.amount(item[sides[0]], code, f"{sides[0]} on line {n + 1}")
            totals[sides[0]] += amount
            lines.append({"line": n, "account": {"id": account, "refName": ACCOUNTS[account]},
                          sides[0]: amount, "memo": item.get("memo")})
        if totals["debit"] != totals["credit"]:
            raise Refused(400, "USER_ERROR", "The debits and credits are not equal.")
        return {"approved": True, "line": lines}

    def item_lines(self, body: dict, code: str, kind: str) -> tuple[list[dict], Decimal]:
        items = ((body.get("item") or {}).get("items"))
        if not isinstance(items, list) or not items:
            raise Refused(400, "USER_ERROR", f"A {kind} needs at least one item line.")
        lines, total = [], Decimal(0)
        for n, line in enumerate(items):
            if not isinstance(line, dict):
                raise Refused(400, "INVALID_FLD_VALUE", f"Item line {n + 1} is not an object.")
            item = self.reference(line, "item", ITEMS, "item")
            quantity = line.get("quantity", 1)
            if not isinstance(quantity, (Decimal, int)) or isinstance(quantity, bool) or quantity <= 0:
                raise Refused(400, "INVALID_FLD_VALUE", f"Invalid quantity on item line {n + 1}.")
            # Discount items carry negative amounts; a credit memo credits positive ones.
            amount = self.amount(line.get("amount"), code, f"amount on item line {n + 1}",
                                 positive=kind == "creditmemo")
            total += amount
            lines.append({"line": n, "item": {"id": item, "refName": ITEMS[item]}, "quantity": Decimal(quantity),
                          "amount": amount, "description": line.get("description")})
        if total <= 0:
            raise Refused(400, "USER_ERROR", f"A {kind}'s total must be positive.")
        return lines, total

    def validate_salesorder(self, body: dict, header: dict) -> dict:
        entity = self.reference(body, "entity", CUSTOMERS, "customer")
        lines, total = self.item_lines(body, header["code"], "salesorder")
        return {"entity": {"id": entity, "refName": CUSTOMERS[entity]}, "otherRefNum": body.get("otherRefNum"),
                "email": body.get("email"), "status": {"id": "B", "refName": "Pending Fulfillment"},
                "item": lines, "total": total}

    def validate_customerdeposit(self, body: dict, header: dict) -> dict:
        customer = self.reference(body, "customer", CUSTOMERS, "customer")
        order = self.find("salesorder", str((body.get("salesOrder") or {}).get("id")))
        if order is None or order["entity"]["id"] != customer:
            raise Refused(400, "INVALID_KEY_OR_REF", "Invalid salesOrder reference key: no sales order of this customer.")
        if order["currency"]["id"] != header["currency"]:
            raise Refused(400, "USER_ERROR", "The deposit's currency must be its sales order's.")
        account = self.reference(body, "account", ACCOUNTS, "account")
        return {"customer": {"id": customer, "refName": CUSTOMERS[customer]},
                "salesOrder": {"id": order["id"], "refName": order["tranId"]},
                "account": {"id": account, "refName": ACCOUNTS[account]},
                "payment": self.amount(body.get("payment"), header["code"], "payment")}

    def validate_creditmemo(self, body: dict, header: dict) -> dict:
        entity = self.reference(body, "entity", CUSTOMERS, "customer")
        lines, total = self.item_lines(body, header["code"], "creditmemo")
        return {"entity": {"id": entity, "refName": CUSTOMERS[entity]}, "otherRefNum": body.get("otherRefNum"),
                "item": lines, "total": total, "amountRemaining": total}

    def validate_customerrefund(self, body: dict, header: dict) -> dict:
        customer = self.reference(body, "customer", CUSTOMERS, "customer")
        account = self.reference(body, "account", ACCOUNTS, "account")
        items = ((body.get("apply") or {}).get("items"))
        if not isinstance(items, list) or not items:
            raise Refused(400, "USER_ERROR", "A customer refund needs a credit to apply.")
        applied, total = [], Decimal(0)
        for n, line in enumerate(items):
            if not isinstance(line, dict) or line.get("apply") is not True:
                continue
            memo = self.find("creditmemo", str((line.get("doc") or {}).get("id")))
            if memo is None or memo["entity"]["id"] != customer or memo["currency"]["id"] != header["currency"]:
                raise Refused(400, "INVALID_KEY_OR_REF", f"Invalid doc on apply line {n + 1}: no credit of this customer.")
            amount = self.amount(line.get("amount"), header["code"], f"amount on apply line {n + 1}")
            if amount > memo["amountRemaining"]:
                raise Refused(400, "USER_ERROR", f"Apply line {n + 1} is more than remains on {memo['tranId']}.")
            applied.append({"doc": {"id": memo["id"], "refName": memo["tranId"]}, "apply": True, "amount": amount})
            total += amount
        if not applied:
            raise Refused(400, "USER_ERROR", "A customer refund needs a credit to apply.")
        return {"customer": {"id": customer, "refName": CUSTOMERS[customer]},
                "account": {"id": account, "refName": ACCOUNTS[account]}, "apply": applied, "total": total}

    def apply(self, refund: dict) -> None:
        for line in refund["apply"]:
            self.records[line["doc"]["id"]]["amountRemaining"] -= line["amount"]

    def unapply(self, refund: dict) -> None:
        for line in refund["apply"]:
            self.records[line["doc"]["id"]]["amountRemaining"] += line["amount"]

    def view(self, req: Request, record: dict) -> dict:
        host = req.headers.get("host", "")
        self_url = f"http://{host}{RECORDS}/{record['kind']}/{record['id']}"
        sublist_name = SUBLISTS.get(record["kind"])
        shown = {k: v for k, v in record.items() if k not in ("kind", sublist_name)}
        shown["links"] = [{"rel": "self", "href": self_url}]
        if sublist_name:
            sublist = {"links": [{"rel": "self", "href": f"{self_url}/{sublist_name}"}]}
            if (req.arg("expandSubResources") or "").lower() == "true":
                rows = record[sublist_name]
                sublist.update(items=rows, totalResults=len(rows), count=len(rows), hasMore=False, offset=0)
            shown[sublist_name] = sublist
        return shown


def pair(text: str) -> tuple[str, str]:
    name, _, secret = text.partition(":")
    if not name or not secret:
        raise argparse.ArgumentTypeError("expected NAME:SECRET")
    return name, secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4670, help="0 picks a free port (printed on start)")
    parser.add_argument("--account", default="1234567_SB1", help="the account id, the OAuth realm")
    parser.add_argument("--consumer", type=pair, action="append", required=True, help="consumer KEY:SECRET")
    parser.add_argument("--token", type=pair, action="append", required=True, help="token ID:SECRET")
    args = parser.parse_args()
    serve("netsuite", NetsuiteSimulator(args.account, dict(args.consumer), dict(args.token)), args.host, args.port)


if __name__ == "__main__":
    main()
