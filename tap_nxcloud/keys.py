"""A row's identity: its primary key compared after conversion to the key's declared type.

NXCloud may send one id as `9005`, `"9005"`, `"09005"`, `" 9005"` or `9005.0`; the record carries
the converted value (rows.Shaper), so rows are told apart the same way: one row, one record. A key
that cannot be converted to its declared type (`"abc"`, `true` or `"1.5"` for an integer) cannot
key a record in the warehouse (a null key would merge unrelated rows): the window fails with one
line naming the stream, the field and the value (docs/nxcloud-api/README.md: keys).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

from .errors import ApiError
from .http import cut


class UnkeyedRow(ApiError):
    """A row's key that cannot be converted to its declared type (the lane says where)."""


def _integer(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        text = v.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        number = float(text)  # "9005.0"; "1.5", "abc" raise or are not whole
        if math.isfinite(number) and number.is_integer():
            return int(number)
    raise ValueError(v)


def _string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        return str(int(v)) if v.is_integer() else repr(v)
    raise ValueError(v)


def _declared(prop: dict) -> Callable[[Any], Any]:
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "integer" in types:
        return _integer
    if "string" in types:
        return _string
    return lambda v: v  # a key of another type (none today) is compared as sent


def identity(schema: dict, keys: tuple[str, ...]) -> Callable[[dict], Hashable]:
    """row -> its key as sent (one value, or a tuple of them), each converted to its declared
    type. `keys`: the key fields on the wire (not the columns the tap adds); none: every row is
    its own (a balance)."""
    if not keys:
        return id
    convert = [(k, _declared(schema["properties"].get(k, {}))) for k in keys]

    def one(k: str, conv, row: dict):
        value = row.get(k)
        try:
            return conv(value)
        except (ValueError, TypeError, OverflowError):
            kind = "an integer" if conv is _integer else "a string"
            raise UnkeyedRow(f"a row's {k} is {cut(repr(value), 60)}, not {kind} as its key "
                             "must be: the row cannot be keyed (NXCloud sent a broken row; the "
                             "stream stops rather than merge unrelated rows)") from None

    if len(convert) == 1:
        (key, conv), = convert
        return lambda row: one(key, conv, row)
    return lambda row: tuple(one(k, c, row) for k, c in convert)
