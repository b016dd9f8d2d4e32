"""Row shaping (tap_nxcloud/rows.py): values in their declared types, the rest kept visible."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from tap_nxcloud.clock import (
    WallClock,
)
from tap_nxcloud.rows import Shaper

pytestmark = pytest.mark.unit


SHAPE_SCHEMA = {"properties": {
    "id": {"type": "integer"}, "price": {"type": ["number", "null"]},
    "network": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
    "ok": {"type": ["boolean", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"}}}


def test_shaper_converts_lossless_values_and_keeps_the_rest_visible():
    warnings = []
    shape = Shaper("s", SHAPE_SCHEMA, {"at": "wall"},
                   {"wall": WallClock(ZoneInfo("Asia/Shanghai")).rfc3339}, ("id",),
                   lambda msg, *args: warnings.append(msg % args), account="acme")
    row = shape({"id": "7", "price": "0.05", "network": 893, "size": "2", "ok": 1,
                 "at": "2026-10-01 08:00:00", "brandNew": [1]})
    assert row == {"id": 7, "price": 0.05, "network": "893", "size": 2, "ok": True,
                   "at": "2026-10-01T08:00:00+08:00", "extra_fields": {"brandNew": [1]},
                   "account": "acme"}
    assert len(warnings) == 1 and "brandNew" in warnings[0]
    row = shape({"id": 8, "price": "n/a", "size": "", "at": "", "brandNew": 2},
                {"request_voice_type": 1})
    assert row == {"id": 8, "price": None, "size": None, "at": None, "request_voice_type": 1,
                   "extra_fields": {"price": "n/a", "brandNew": 2}, "account": "acme"}
    assert len(warnings) == 2 and "price" in warnings[1] and "{'id': 8}" in warnings[1]
    row = shape({"id": 9, "at": "0000-00-00 00:00:00"})  # not a time: kept visible, warned
    assert row["at"] is None and row["extra_fields"] == {"at": "0000-00-00 00:00:00"}
    assert "valid time" in warnings[2]
