"""Stripe's form encoding: `metadata[order_id]=1`, `expand[]=latest_charge`, `expand[0]=...`.

Stripe's SDKs send arrays either as `key[]` or indexed `key[0]` (stripe-python, async-stripe);
both decode to the same list here, so they compare equal for idempotency."""

from __future__ import annotations

import json
import re
from typing import Any

# Parameters whose children are map keys even when they look like indices (`metadata[0]=x`).
MAP_PARAMS = {"metadata"}

_INNER = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    pass


class _Seq(dict):
    """Integer-keyed children that become a list once decoding is done."""


def split_key(key: str) -> list[str]:
    i = key.find("[")
    if i <= 0:
        return [key]
    head, rest = key[:i], key[i:]
    inner = _INNER.findall(rest)
    if "".join(f"[{t}]" for t in inner) != rest:
        raise FormError(f"Invalid array or hash parameter: {key}")
    return [head, *inner]


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = split_key(key)
        node: dict = root
        for depth, token in enumerate(tokens):
            if isinstance(node, _Seq):
                if token == "":
                    slot: Any = len(node)
                elif token.isdigit():
                    slot = int(token)
                else:
                    raise FormError(f"Invalid array parameter: {key}")
            else:
                slot = token
            if depth == len(tokens) - 1:
                node[slot] = value
                break
            following = tokens[depth + 1]
            wants_seq = (following == "" or following.isdigit()) and token not in MAP_PARAMS
            child = node.get(slot)
            if not isinstance(child, dict):
                child = _Seq() if wants_seq else {}
                node[slot] = child
            elif wants_seq != isinstance(child, _Seq):
                raise FormError(f"Mixed array and hash parameters: {key}")
            node = child
    return _finish(root)


def _finish(value: Any) -> Any:
    if isinstance(value, _Seq):
        return [_finish(value[k]) for k in sorted(value)]
    if isinstance(value, dict):
        return {k: _finish(v) for k, v in value.items()}
    return value


def fingerprint(params: dict[str, Any]) -> str:
    """What an idempotent retry must repeat exactly: the parameters (order-insensitive)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))
