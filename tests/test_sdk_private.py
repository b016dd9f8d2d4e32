"""The private singer-sdk methods the tap overrides (tap_nxcloud/sdk_private.py) still exist
upstream with the parameters relied on. An SDK upgrade that renames or reshapes one fails here,
by name, instead of silently bypassing the tap's bookmarks, fast path or signal handling."""

from __future__ import annotations

import inspect

import pytest
from singer_sdk import Stream, Tap
from singer_sdk.plugin_base import PluginBase

from tap_nxcloud.sdk_private import STREAM_OVERRIDES, TAP_OVERRIDES, DirectRecords
from tap_nxcloud.stream import WindowedStream
from tap_nxcloud.tap import TapNXCloud


@pytest.mark.parametrize(("base", "name", "params"),
                         [(Stream, n, p) for n, p in STREAM_OVERRIDES.items()]
                         + [(Tap, n, p) for n, p in TAP_OVERRIDES.items()])
def test_each_overridden_private_method_still_exists_upstream(base, name, params):
    upstream = getattr(base, name, None)
    assert upstream is not None, f"singer-sdk no longer has {base.__name__}.{name}: see " \
                                 "tap_nxcloud/sdk_private.py"
    got = [p for p in inspect.signature(upstream).parameters if p != "self"]
    assert got == list(params), f"{base.__name__}.{name} now takes {got}"


def test_every_private_override_is_listed_in_the_fence():
    """A new private override must be declared in sdk_private.py, where this file checks it."""
    own = {n for cls in (WindowedStream, DirectRecords) for n in vars(cls)
           if n.startswith("_") and not n.startswith("__")}
    sdk = {n for n in own if hasattr(Stream, n) and callable(getattr(Stream, n))}
    assert sdk == set(STREAM_OVERRIDES)
    tap_own = {n for n in vars(TapNXCloud) if n.startswith("_") and not n.startswith("__")
               and callable(getattr(Tap, n, None) or getattr(PluginBase, n, None))}
    assert tap_own == set(TAP_OVERRIDES)
