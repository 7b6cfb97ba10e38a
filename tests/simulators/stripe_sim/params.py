"""Validation of decoded form parameters, with Stripe's messages. Everything here raises
`errors.validation(...)`: it runs before the endpoint executes, so no idempotent result is kept."""

from __future__ import annotations

import re
from typing import Any, Iterable

from .errors import missing_param, unknown_param, validation

CURRENCIES = set(
    "usd eur gbp cad aud nzd chf sek nok dkk pln czk huf ron bgn jpy krw sgd hkd inr mxn brl "
    "zar aed ils thb myr php idr try clp isk bhd jod kwd omr tnd".split()
)
ZERO_DECIMAL = set("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf isk".split())
THREE_DECIMAL = set("bhd jod kwd omr tnd".split())
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_allowed(data: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = set(allowed) | {"expand"}
    for key in data:
        if key not in allowed:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def check_nested(data: dict[str, Any], name: str, allowed: Iterable[str]) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise validation("Invalid object", name)
    for key in value:
        if key not in set(allowed):
            raise unknown_param(f"{name}[{key}]")
    return value


def string(data: dict[str, Any], name: str, *, required: bool = False, max_len: int = 5000) -> str | None:
    if name not in data:
        if required:
            raise missing_param(name)
        return None
    value = data[name]
    if not isinstance(value, str):
        raise validation(f"Invalid string: {value!r}", name, "parameter_invalid_string")
    if required and value == "":
        raise validation(f"You passed an empty string for '{name}'. We assume empty values are an "
                         f"attempt to unset a parameter; however '{name}' cannot be unset. You should "
                         f"remove '{name}' from your request or supply a non-empty value.", name,
                         "parameter_invalid_empty")
    if len(value) > max_len:
        raise validation(f"Invalid string: {value[:20]}...; must be at most {max_len} characters", name,
                         "parameter_invalid_string")
    return value


def optional_text(data: dict[str, Any], name: str, max_len: int = 5000) -> str | None:
    """A string where "" unsets (null), as Stripe treats empty values."""
    value = string(data, name, max_len=max_len)
    return value or None


def integer(data: dict[str, Any], name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    if name not in data:
        if required:
            raise missing_param(name)
        return None
    raw = data[name]
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw.strip()):
        raise validation(f"Invalid integer: {raw}", name, "parameter_invalid_integer")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise validation(f"This value must be greater than or equal to {minimum}.", name,
                         "parameter_invalid_integer")
    return value


def boolean(data: dict[str, Any], name: str) -> bool | None:
    if name not in data:
        return None
    raw = data[name]
    if raw in ("true", "false"):
        return raw == "true"
    raise validation(f"Invalid boolean: {raw}", name)


def enum(data: dict[str, Any], name: str, values: list[str]) -> str | None:
    if name not in data:
        return None
    raw = data[name]
    if raw not in values:
        listed = ", ".join(values[:-1]) + f", or {values[-1]}" if len(values) > 1 else values[0]
        raise validation(f"Invalid {name}: must be one of {listed}", name)
    return raw


def currency(data: dict[str, Any], name: str = "currency", *, required: bool = True) -> str | None:
    raw = string(data, name, required=required)
    if raw is None:
        return None
    value = raw.lower()
    if value not in CURRENCIES:
        raise validation(f"Invalid currency: {raw}. Stripe currently supports these currencies: "
                         + ", ".join(sorted(CURRENCIES)), name)
    return value


def email(data: dict[str, Any], name: str = "email") -> str | None:
    value = optional_text(data, name, max_len=512)
    if value is not None and not EMAIL.match(value):
        raise validation(f"Invalid email address: {value}", name, "email_invalid")
    return value


def metadata(data: dict[str, Any], name: str = "metadata") -> dict[str, str] | None:
    """None when absent; {} when sent as "" (clear all); otherwise the given keys, where a ""
    value means delete that key on update."""
    if name not in data:
        return None
    raw = data[name]
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise validation("Invalid hash", name, "parameter_invalid_empty")
    if len(raw) > 50:
        raise validation("Metadata can have at most 50 keys.", name)
    for key, value in raw.items():
        if not isinstance(value, str):
            raise validation(f"Invalid value for metadata key {key}", f"{name}[{key}]")
        if len(key) > 40:
            raise validation(f"Metadata keys must be at most 40 characters: {key}", f"{name}[{key}]")
        if len(value) > 500:
            raise validation("Metadata values can have up to 500 characters, but you passed in a "
                             f"value that is {len(value)} characters.", f"{name}[{key}]")
    return dict(raw)


def merge_metadata(current: dict[str, str], update: dict[str, str] | None, cleared: bool) -> dict[str, str]:
    if cleared:
        return {}
    merged = dict(current)
    for key, value in (update or {}).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def expand(data: dict[str, Any]) -> list[str]:
    raw = data.get("expand")
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return raw
    raise validation("Invalid array", "expand")


def string_list(data: dict[str, Any], name: str) -> list[str] | None:
    raw = data.get(name)
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise validation("Invalid array", name)
    return raw


def format_amount(amount: int, cur: str) -> str:
    """$10.00 the way Stripe's refund messages show amounts."""
    symbols = {"usd": "$", "eur": "€", "gbp": "£", "cad": "$", "aud": "$", "nzd": "$", "jpy": "¥"}
    if cur in ZERO_DECIMAL:
        text = f"{amount:,}"
    elif cur in THREE_DECIMAL:
        text = f"{amount / 1000:,.3f}"
    else:
        text = f"{amount // 100:,}.{amount % 100:02d}"
    return f"{symbols[cur]}{text}" if cur in symbols else f"{text} {cur.upper()}"

