"""Warehouse-ready rows: every value in its declared type, times as RFC 3339, nothing dropped.

One `Shaper` per stream, built from its JSON Schema, does all per-row work in one pass over the
row's own keys (this is the tap's hot path):
- a value of the declared type passes untouched;
- time fields are converted (wall-clock strings of the zone, or epoch milliseconds);
- a value that converts without loss is converted ("0.05" -> 0.05, 893 -> "893", "" -> null);
- a value that cannot be converted is set to null and kept, as sent, in `extra_fields`, with a
  WARNING naming stream, field and key;
- fields the schema does not declare move to `extra_fields`, with one WARNING per new name.

Field names and values are the vendor's text: a WARNING shows them escaped and cut
(redact.name, redact.shown), so a name holding a newline or ESC cannot write a line of its own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from .redact import name as shown_name
from .redact import shown

EXTRA = "extra_fields"
ACCOUNT = "account"
WARN_PER_FIELD = 5  # WARNING lines per field and run for unconvertible values; then a count
NAMES_PER_LINE = 20  # undeclared field names a WARNING lists; then how many more

_NONE = type(None)


def _fail(v: Any) -> Any:
    raise ValueError(v)


def _integer(v: Any) -> int:
    if isinstance(v, str):
        return int(v.strip())  # "12" -> 12; "1.5", "abc" raise
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise ValueError(v)


def _number(v: Any) -> float | int:
    if isinstance(v, str):
        n = float(v.strip())
        if math.isfinite(n):
            return int(n) if n.is_integer() and "." not in v and "e" not in v.lower() else n
    raise ValueError(v)


def _string(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        return str(int(v)) if v.is_integer() else repr(v)
    raise ValueError(v)


def _boolean(v: Any) -> bool:
    if v in (0, 1) and not isinstance(v, float):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "0", "1"):
        return v.strip().lower() in ("true", "1")
    raise ValueError(v)


_CONVERT: dict[str, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
    "integer": ((int,), _integer),
    "number": ((int, float), _number),
    "string": ((str,), _string),
    "boolean": ((bool,), _boolean),
    "object": ((dict,), _fail),
    "array": ((list,), _fail),
}


class Field:
    __slots__ = ("convert", "nullable", "ok")

    def __init__(self, ok: frozenset, convert: Callable[[Any], Any], nullable: bool) -> None:
        self.ok, self.convert, self.nullable = ok, convert, nullable


def _field(spec: dict, time_kind: str | None, times: dict[str, Callable]) -> Field:
    kinds = spec.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    nullable = "null" in kinds
    kind = next(k for k in kinds if k != "null")
    if time_kind is not None:  # every non-null value goes through the time conversion
        return Field(frozenset({_NONE} if nullable else ()), times[time_kind], nullable)
    types, convert = _CONVERT[kind]
    ok = set(types) | ({_NONE} if nullable else set())
    if kind == "integer":
        ok.discard(bool)  # type() is exact, so True never passes as an integer anyway

    def conv(v: Any, _convert: Callable = convert, _nullable: bool = nullable) -> Any:
        if v == "" and _nullable:  # an empty string in a typed column means "no value"
            return None
        return _convert(v)
    return Field(frozenset(ok), conv, nullable)


class Shaper:
    """Shapes the rows of one stream in place; see the module docstring."""

    def __init__(self, stream: str, schema: dict, time_fields: dict[str, str],
                 times: dict[str, Callable], keys: tuple[str, ...], warn: Callable[..., None],
                 account: str | None = None) -> None:
        props = schema["properties"]
        self.stream = stream
        self.fields = {name: _field(spec, time_fields.get(name), times)
                       for name, spec in props.items() if name not in (EXTRA, ACCOUNT)}
        self.keys = keys
        self.account = account
        self._warn = warn
        self.new_fields: set[str] = set()
        self.bad_counts: dict[str, int] = {}
        self._lock = threading.Lock()  # rows are shaped in the window workers' threads

    def __call__(self, row: dict, added: dict | None = None) -> dict:
        fields = self.fields
        extra = None
        for name, value in row.items():
            field = fields.get(name)
            if field is None:
                if extra is None:
                    extra = {}
                extra[name] = value
            elif type(value) not in field.ok:
                try:
                    row[name] = field.convert(value)
                except (ValueError, TypeError, OverflowError):
                    row[name] = None
                    if extra is None:
                        extra = {}
                    extra[name] = value
                    self._bad(name, value, row)
        if extra is not None:
            self._extras(row, extra)
        if added:
            row.update(added)
        if self.account is not None:
            row[ACCOUNT] = self.account
        return row

    def _extras(self, row: dict, extra: dict) -> None:
        unknown = [k for k in extra if k not in self.fields]
        for name in unknown:
            del row[name]
        with self._lock:
            new = set(unknown) - self.new_fields
            self.new_fields |= new
        if new:
            names = sorted(new, key=str)
            listed = ", ".join(shown_name(n) for n in names[:NAMES_PER_LINE])
            if len(names) > NAMES_PER_LINE:
                listed += f" and {len(names) - NAMES_PER_LINE} more"
            self._warn("%s: NXCloud sent fields the schema does not declare: %s; they are kept "
                       "in the %s column (promote them into the stream's schema to get columns)",
                       self.stream, listed, EXTRA)
        row[EXTRA] = extra

    def _bad(self, name: str, value: Any, row: dict) -> None:
        with self._lock:
            count = self.bad_counts[name] = self.bad_counts.get(name, 0) + 1
        if count <= WARN_PER_FIELD:
            key = {k: row.get(k) for k in self.keys}
            self._warn("%s: field %s of the row %s has the value %s, which is not a %s; emitted "
                       "as null, the value as sent is in %s", self.stream, shown_name(name),
                       shown(repr(key), 120), shown(repr(value), 80),
                       "valid time" if self.fields[name].ok <= {_NONE} else
                       "/".join(sorted(t.__name__ for t in self.fields[name].ok
                                       if t is not _NONE)), EXTRA)

    def summary(self) -> None:
        for name, count in self.bad_counts.items():
            if count > WARN_PER_FIELD:
                self._warn("%s: %d values of field %s could not be converted in this run (the "
                           "first %d are named above); each is in %s", self.stream, count,
                           shown_name(name), WARN_PER_FIELD, EXTRA)
