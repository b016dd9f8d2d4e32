"""Row identity (tap_nxcloud/keys.py): keys compared after conversion to their declared type."""

from __future__ import annotations

import pytest

from tap_nxcloud.keys import UnkeyedRow, identity
from tap_nxcloud.schemas import load

pytestmark = pytest.mark.unit


def test_one_id_in_any_spelling_is_one_key():
    key = identity(load("flash_call_cdrs"), ("id",))
    assert {key({"id": v}) for v in (9005, "9005", "09005", " 9005", 9005.0, "9005.0")} == {9005}


@pytest.mark.parametrize("value", ["abc", True, "1.5", None, [1], float("nan")])
def test_a_key_that_cannot_be_converted_is_refused_never_null(value):
    key = identity(load("flash_call_cdrs"), ("id",))
    with pytest.raises(UnkeyedRow, match="cannot be keyed"):
        key({"id": value})


def test_string_keys_and_pairs():
    key = identity(load("sms_cdrs"), ("msgid", "phone"))
    assert key({"msgid": "a", "phone": 628123}) == key({"msgid": "a", "phone": "628123"})
    a, b = {"x": 1}, {"x": 1}
    assert identity({}, ())(a) != identity({}, ())(b)  # no key: each row its own
