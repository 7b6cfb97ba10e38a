"""Rendering stored objects: `expand[]`, list objects with cursors, and the Search API.

https://docs.stripe.com/api/expanding_objects, /api/pagination, /search#search-query-language."""

from __future__ import annotations

import base64
import re
from typing import Any, Callable

from . import params as P
from .errors import invalid, validation
from .state import State, kind_of, public

# Fields each kind lets you expand (as in Stripe's API reference for 2024-06-20).
EXPANDABLE = {
    "payment_intent": {"latest_charge", "customer", "payment_method"},
    "charge": {"payment_intent", "customer", "balance_transaction", "refunds"},
    "refund": {"charge", "payment_intent", "balance_transaction"},
    "customer": set(),
    "payment_method": {"customer"},
    "event": set(),
    "balance_transaction": {"source"},
    "payout": {"balance_transaction", "failure_balance_transaction"},
    "dispute": {"charge", "payment_intent"},
}


def render(state: State, kind: str, obj: dict[str, Any], expand: list[str] = ()) -> dict[str, Any]:
    out = public(obj)
    for path in expand:
        _expand(state, kind, out, path, path)
    return out


def _expand(state: State, kind: str, out: dict[str, Any], path: str, full: str) -> None:
    head, _, rest = path.partition(".")
    if head not in EXPANDABLE.get(kind, set()):
        raise validation(f"This property cannot be expanded ({full}).", "expand")
    if head == "refunds" and kind == "charge":
        refunds = [r for r in state.all("refund") if r["charge"] == out["id"]]
        out["refunds"] = list_object([public(r) for r in refunds], False, f"/v1/charges/{out['id']}/refunds")
        return
    value = out.get(head)
    if isinstance(value, str):
        child_kind = kind_of(value)
        child = state.get(child_kind, value) if child_kind else None
        if child is None:
            return
        out[head] = public(child)
    if rest and isinstance(out.get(head), dict):
        child_kind = out[head].get("object")
        _expand(state, child_kind, out[head], rest, full)


def list_object(data: list[dict[str, Any]], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def created_filter(data: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    raw = data.get("created")
    if raw is None:
        return lambda obj: True
    if isinstance(raw, str):
        at = P.integer(data, "created")
        return lambda obj: obj["created"] == at
    if not isinstance(raw, dict):
        raise validation("Invalid created", "created")
    bounds = {}
    for op, value in raw.items():
        if op not in ("gt", "gte", "lt", "lte"):
            raise validation(f"Received unknown parameter: created[{op}]", f"created[{op}]", "parameter_unknown")
        bounds[op] = P.integer(raw, op)
    ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    return lambda obj: all(ops[op](obj["created"], v) for op, v in bounds.items())


def paginate(state: State, kind: str, items: list[dict[str, Any]], data: dict[str, Any], url: str) -> dict[str, Any]:
    """`items` newest first; honours limit (1-100, default 10), starting_after, ending_before."""
    limit = P.integer(data, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise validation("Invalid integer: must be between 1 and 100", "limit", "parameter_invalid_integer")
    after, before = P.string(data, "starting_after"), P.string(data, "ending_before")
    if after and before:
        raise validation("You may only specify one of these parameters: ending_before, starting_after.", "ending_before")
    ids = [o["id"] for o in items]
    if after:
        if after not in ids:
            raise invalid(f"No such {kind}: '{after}'", "starting_after", "resource_missing")
        start = ids.index(after) + 1
        page, more = items[start:start + limit], len(items) > start + limit
    elif before:
        if before not in ids:
            raise invalid(f"No such {kind}: '{before}'", "ending_before", "resource_missing")
        end = ids.index(before)
        page, more = items[max(0, end - limit):end], end - limit > 0
    else:
        page, more = items[:limit], len(items) > limit
    expand = []
    for path in P.expand(data):
        if not path.startswith("data."):
            raise validation(f"This property cannot be expanded ({path}).", "expand")
        expand.append(path.removeprefix("data."))
    return list_object([render(state, kind, o, expand) for o in page], more, url)


# --- Search ------------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>[a-z_]+(?:\[['"][^'"]+['"]\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+|null)\s*"""
)


def parse_query(query: str, fields: set[str]) -> tuple[str, list[tuple[bool, str, str | None, str, Any]]]:
    """`email:'a@b.c' AND metadata['order_id']:'1'` -> ("AND", [(neg, field, meta_key, op, value)])."""
    clauses, joiner, pos = [], None, 0
    while True:
        m = _CLAUSE.match(query, pos)
        if not m:
            raise validation(f"Invalid query: could not parse the search query near position {pos}.", "query")
        field, meta_key = m["field"], None
        if field.startswith("metadata["):
            meta_key, field = field[10:-2], "metadata"
        if field not in fields:
            raise validation(f"Field '{field}' is an unsupported search field for this resource.", "query")
        raw = m["value"]
        value: Any = None if raw == "null" else int(raw) if re.fullmatch(r"-?\d+", raw) else raw[1:-1].replace("\\'", "'").replace('\\"', '"')
        if m["op"] == "~" and (not isinstance(value, str) or len(value) < 3):
            raise validation("Substring queries (~) need a string of at least 3 characters.", "query")
        clauses.append((bool(m["neg"]), field, meta_key, m["op"], value))
        pos = m.end()
        if pos >= len(query):
            break
        j = re.compile(r"(AND|OR)\s+").match(query, pos)
        if not j:
            raise validation(f"Invalid query: expected AND or OR at position {pos}.", "query")
        if joiner and j[1] != joiner:
            raise validation("Queries cannot mix AND and OR.", "query")
        joiner, pos = j[1], j.end()
    return joiner or "AND", clauses


def _clause_matches(obj: dict[str, Any], clause) -> bool:
    neg, field, meta_key, op, value = clause
    actual = obj.get("metadata", {}).get(meta_key) if field == "metadata" else obj.get(field)
    if op == ":":
        hit = (actual is None) if value is None else (str(actual).lower() == str(value).lower() if isinstance(actual, str) else actual == value)
    elif op == "~":
        hit = isinstance(actual, str) and str(value).lower() in actual.lower()
    else:
        hit = isinstance(actual, int) and isinstance(value, int) and {
            ">": actual > value, "<": actual < value, ">=": actual >= value, "<=": actual <= value}[op]
    return hit != neg


def search(state: State, kind: str, data: dict[str, Any], fields: set[str], url: str) -> dict[str, Any]:
    query = P.string(data, "query", required=True)
    joiner, clauses = parse_query(query, fields)
    combine = all if joiner == "AND" else any
    hits = [o for o in state.all(kind) if not o.get("deleted") and combine(_clause_matches(o, c) for c in clauses)]
    limit = P.integer(data, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise validation("Invalid integer: must be between 1 and 100", "limit", "parameter_invalid_integer")
    page = P.string(data, "page")
    start = 0
    if page:
        try:
            start = int(base64.urlsafe_b64decode(page.encode()).decode().removeprefix("offset:"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise validation("Invalid page token.", "page") from exc
    chunk = hits[start:start + limit]
    more = len(hits) > start + limit
    next_page = base64.urlsafe_b64encode(f"offset:{start + limit}".encode()).decode() if more else None
    expand = [p.removeprefix("data.") for p in P.expand(data)]
    return {"object": "search_result", "data": [render(state, kind, o, expand) for o in chunk],
            "has_more": more, "next_page": next_page, "url": url}

