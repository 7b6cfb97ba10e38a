"""Magento's searchCriteria: parse the bracketed query parameters and apply them the way Magento's
collections do (filters OR inside a group, groups AND, sort orders, 1-based pages)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

KEY = re.compile(r"^searchCriteria((?:\[[^\]]*\])*)$")


class SearchError(Exception):
    def __init__(self, status: int, message: str, parameters=None):
        super().__init__(message)
        self.status, self.message, self.parameters = status, message, parameters


def _nested(params: list[tuple[str, str]]) -> tuple[bool, dict]:
    """searchCriteria[a][0][b]=v pairs as nested dicts; also whether searchCriteria was given."""
    present, tree = False, {}
    for key, value in params:
        found = KEY.match(key)
        if not found:
            continue
        present = True
        parts = re.findall(r"\[([^\]]*)\]", found.group(1))
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return present, tree


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SearchError(400, f'Invalid type for value: "{value}". Expected Type: "int".')


def _indexed(node) -> list:
    """Children of a node whose keys are list indexes, in index order (Magento uses the keys)."""
    if not isinstance(node, dict):
        return []
    return [node[k] for k in sorted(node, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))]


def parse(params: list[tuple[str, str]]) -> dict:
    present, tree = _nested(params)
    if not present:
        raise SearchError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
    groups = []
    for group in _indexed(tree.get("filter_groups")):
        filters = []
        for f in _indexed(group.get("filters") if isinstance(group, dict) else None):
            if isinstance(f, dict) and f.get("field"):
                filters.append({"field": f["field"], "value": f.get("value", ""),
                                "condition_type": f.get("condition_type") or "eq"})
        groups.append(filters)
    sorts = []
    for s in _indexed(tree.get("sortOrders")):
        if isinstance(s, dict) and s.get("field"):
            sorts.append({"field": s["field"], "direction": (s.get("direction") or "ASC").upper()})
    page_size = _int(tree["pageSize"]) if "pageSize" in tree else None
    current_page = _int(tree["currentPage"]) if "currentPage" in tree else None
    return {"filter_groups": groups, "sort_orders": sorts, "page_size": page_size, "current_page": current_page}


def echo(criteria: dict) -> dict:
    """The search_criteria Magento echoes back (as requested, not as clamped)."""
    out = {"filter_groups": [{"filters": filters} for filters in criteria["filter_groups"]]}
    if criteria["sort_orders"]:
        out["sort_orders"] = criteria["sort_orders"]
    if criteria["page_size"] is not None:
        out["page_size"] = criteria["page_size"]
    if criteria["current_page"] is not None:
        out["current_page"] = criteria["current_page"]
    return out


def _comparable(actual, wanted: str):
    """Numbers compare as numbers, everything else as case-insensitive text (MySQL *_ci)."""
    if isinstance(actual, (int, Decimal)) and not isinstance(actual, bool):
        try:
            return Decimal(actual), Decimal(wanted.strip())
        except InvalidOperation:
            return str(actual), wanted
    return str(actual).casefold(), wanted.casefold()


def _like(pattern: str) -> re.Pattern:
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _matches(entity: dict, f: dict) -> bool:
    if f["field"] not in entity:
        # Magento builds SQL with the unknown column and fails inside MySQL.
        raise SearchError(500, "Internal Error. Details are available in Magento log file. Report ID: webapi-sim")
    actual, cond, value = entity[f["field"]], f["condition_type"], f["value"]
    if cond == "null":
        return actual is None
    if cond == "notnull":
        return actual is not None
    if actual is None:  # SQL: any comparison with NULL is not true
        return False
    if cond in ("in", "nin"):
        hit = any(a == b for a, b in (_comparable(actual, v) for v in value.split(",")))
        return hit if cond == "in" else not hit
    if cond in ("like", "nlike"):
        hit = bool(_like(value).fullmatch(str(actual)))
        return hit if cond == "like" else not hit
    a, b = _comparable(actual, value)
    try:
        return {"neq": a != b, "gt": a > b, "gteq": a >= b, "lt": a < b, "lteq": a <= b}.get(cond, a == b)
    except TypeError:
        return False


def run(entities: list[dict], criteria: dict) -> tuple[list[dict], int]:
    """The page of matching entities and the total match count."""
    hits = [e for e in entities if all(any(_matches(e, f) for f in group) for group in criteria["filter_groups"] if group)]
    for sort in reversed(criteria["sort_orders"]):
        field = sort["field"]
        if hits and field not in hits[0]:
            raise SearchError(500, "Internal Error. Details are available in Magento log file. Report ID: webapi-sim")
        # NULLs sort first ascending, as in MySQL.
        hits.sort(key=lambda e: (e[field] is not None, _comparable(e[field], "0")[0] if e[field] is not None else 0),
                  reverse=sort["direction"] == "DESC")
    total = len(hits)
    size = criteria["page_size"]
    if not size or size <= 0:
        return hits, total
    # Magento's collection clamps the page into [1, last page]: asking past the end returns the
    # last page again, never an empty list, so clients must stop on total_count.
    last = max(1, math.ceil(total / size))
    page = min(max(criteria["current_page"] or 1, 1), last)
    return hits[(page - 1) * size: page * size], total
