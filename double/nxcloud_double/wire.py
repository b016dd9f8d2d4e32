"""Ambiguous wire types: fields the vendor pages show both as numbers and as strings.

Each (row, field) pair is shown in the other form about a third of the time, decided by a hash of
the row's identity, so one row always looks the same however often it is served. The table keeps
the canonical type; `undress` recovers it exactly (floats round-trip through their repr).
"""

from __future__ import annotations

import zlib

BITS = 5  # hash bits per field: 6 fields fit in crc32's 32
FLIP_BELOW = 10  # of 32: about 31 % of present values are flipped


class Wire:
    def __init__(self, stream: str, fields: dict[str, type]) -> None:
        """fields: name -> canonical type (int, float for any number, or str)."""
        if len(fields) * BITS > 32:
            raise ValueError("too many ambiguous fields for one hash")
        self.stream = stream
        self.fields = tuple(fields.items())

    def flipped(self, identity: tuple) -> list[str]:
        h = zlib.crc32(f"{self.stream}{identity!r}".encode())
        out = []
        for name, _ in self.fields:
            if h & 31 < FLIP_BELOW:
                out.append(name)
            h >>= BITS
        return out

    def dress(self, row: dict, identity: tuple) -> dict:
        """Flip this row's chosen fields, in place (the table passes a copy)."""
        for name in self.flipped(identity):
            value = row.get(name)
            if value is not None and value != "":
                row[name] = _other_form(value)
        return row

    def undress(self, row: dict) -> dict:
        for name, kind in self.fields:
            value = row.get(name)
            if value is not None and value != "":
                row[name] = _canonical(value, kind)
        return row


def _other_form(value):
    if isinstance(value, str):  # an identifier made of digits goes out as a number
        digits = value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0"))
        return int(value) if digits else value
    return repr(value)  # the number's JSON text (float repr), so it parses back to the same value


def _canonical(value, kind: type):
    if kind is str:
        return value if isinstance(value, str) else repr(value)
    if not isinstance(value, str):
        return value
    if kind is int:
        return int(value)
    return float(value) if any(c in value for c in ".eE") else int(value)
