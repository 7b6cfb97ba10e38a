"""The part of SQL Server's WHERE and ORDER BY that Kentico's REST service passes through
(`?where=...&orderby=...`), evaluated over the simulator's rows: comparisons (= <> != < <= > >=),
IS [NOT] NULL, [NOT] IN (...), [NOT] LIKE, AND / OR / NOT and parentheses; 'text' literals (quotes
doubled inside), numbers and NULL. Text compares case-insensitively (SQL Server's default
collation); a datetime column compares with a 'YYYY-MM-DD HH:MM:SS[.fff]' literal; NULL matches
nothing. An unknown column is an error, as SQL Server's "Invalid column name"."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|<=|>=|=|<|>)"
                   r"|(?P<punct>[(),])|(?P<word>\[?[A-Za-z_][A-Za-z0-9_]*\]?))")
KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE"}


class SqlError(ValueError):
    pass


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SqlError(f"Incorrect syntax near '{text[pos:pos + 10]}'.")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "word":
            value = value.strip("[]")
            if value.upper() in KEYWORDS:
                kind, value = "kw", value.upper()
        tokens.append((kind, value))
        pos = m.end()
    return tokens


def as_datetime(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def coerce(actual: Any, literal: Any) -> tuple[Any, Any]:
    """Both sides as one comparable type, or raise SqlError (a conversion SQL Server refuses)."""
    if isinstance(actual, datetime):
        when = as_datetime(literal) if isinstance(literal, str) else None
        if when is None:
            raise SqlError(f"Conversion failed when converting date and/or time from character string.")
        return actual.replace(tzinfo=None), when
    if isinstance(actual, bool):
        actual = int(actual)
    if isinstance(actual, (int, Decimal)):
        try:
            return Decimal(actual), Decimal(str(literal))
        except InvalidOperation:
            raise SqlError(f"Conversion failed when converting the value '{literal}' to a number.")
    return str(actual).lower(), str(literal).lower()


COMPARE = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "!=": lambda a, b: a != b,
           "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


class Parser:
    def __init__(self, text: str, columns: set[str]):
        self.tokens, self.i = tokenize(text), 0
        self.columns = {c.lower(): c for c in columns}

    def peek(self, kind: str, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        k, v = self.tokens[self.i]
        return k == kind and (value is None or v == value)

    def take(self, kind: str, value: str | None = None) -> str:
        if not self.peek(kind, value):
            near = self.tokens[self.i][1] if self.i < len(self.tokens) else "end"
            raise SqlError(f"Incorrect syntax near '{near}'.")
        self.i += 1
        return self.tokens[self.i - 1][1]

    def parse(self) -> Callable[[dict], bool]:
        pred = self.expr()
        if self.i != len(self.tokens):
            raise SqlError(f"Incorrect syntax near '{self.tokens[self.i][1]}'.")
        return pred

    def expr(self):
        parts = [self.term()]
        while self.peek("kw", "OR"):
            self.i += 1
            parts.append(self.term())
        return lambda row: any(p(row) for p in parts)

    def term(self):
        parts = [self.factor()]
        while self.peek("kw", "AND"):
            self.i += 1
            parts.append(self.factor())
        return lambda row: all(p(row) for p in parts)

    def factor(self):
        if self.peek("kw", "NOT"):
            self.i += 1
            inner = self.factor()
            return lambda row: not inner(row)
        if self.peek("punct", "("):
            self.i += 1
            inner = self.expr()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def value(self):
        if self.peek("str"):
            return self.take("str")[1:-1].replace("''", "'")
        if self.peek("num"):
            return Decimal(self.take("num"))
        self.take("kw", "NULL")
        return None

    def column(self) -> str:
        name = self.take("word")
        if name.lower() not in self.columns:
            raise SqlError(f"Invalid column name '{name}'.")
        return self.columns[name.lower()]

    def comparison(self):
        col = self.column()
        if self.peek("kw", "IS"):
            self.i += 1
            negate = self.peek("kw", "NOT") and bool(self.take("kw", "NOT"))
            self.take("kw", "NULL")
            return lambda row: (row.get(col) is None) != negate
        negate = self.peek("kw", "NOT") and bool(self.take("kw", "NOT"))
        if self.peek("kw", "IN"):
            self.i += 1
            self.take("punct", "(")
            values = [self.value()]
            while self.peek("punct", ","):
                self.i += 1
                values.append(self.value())
            self.take("punct", ")")
            return lambda row: row.get(col) is not None and any(
                (lambda a, b: a == b)(*coerce(row[col], v)) for v in values if v is not None) != negate
        if self.peek("kw", "LIKE"):
            self.i += 1
            pattern = self.value()
            regex = re.compile("^" + re.escape(str(pattern)).replace("%", ".*").replace("_", ".") + "$", re.IGNORECASE)
            return lambda row: row.get(col) is not None and bool(regex.match(str(row[col]))) != negate
        if negate:
            raise SqlError("Incorrect syntax near 'NOT'.")
        op = self.take("op")
        literal = self.value()
        compare = COMPARE[op]
        return lambda row: row.get(col) is not None and literal is not None and compare(*coerce(row[col], literal))


def where(text: str | None, columns: set[str]) -> Callable[[dict], bool]:
    """A predicate over rows for a WHERE condition (empty: every row)."""
    if not text or not text.strip():
        return lambda row: True
    return Parser(text, columns).parse()


def order_by(rows: list[dict], text: str | None, columns: set[str]) -> list[dict]:
    """Rows sorted by `Col [ASC|DESC], ...` (NULLs first, as SQL Server sorts them ascending)."""
    lookup = {c.lower(): c for c in columns}
    keys = []
    for part in (text or "").split(","):
        words = part.split()
        if not words:
            continue
        name = words[0].strip("[]")
        if name.lower() not in lookup or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise SqlError(f"Invalid column name '{name}'." if name.lower() not in lookup else f"Incorrect syntax near '{part}'.")
        keys.append((lookup[name.lower()], len(words) == 2 and words[1].upper() == "DESC"))
    for col, desc in reversed(keys):
        rows = sorted(rows, key=lambda r: (r.get(col) is not None, sort_value(r.get(col))), reverse=desc)
    return rows


def sort_value(v: Any) -> Any:
    if isinstance(v, str):
        return (1, v.lower())
    if v is None:
        return (0, 0)
    if isinstance(v, datetime):
        return (2, v.timestamp())
    return (3, Decimal(int(v)) if isinstance(v, bool) else v)
