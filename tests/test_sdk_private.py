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


def test_each_private_call_and_attribute_still_exists_upstream(loaded):
    from tap_nxcloud.sdk_private import (
        SDK_UNHANDLED,
        STATE_MANAGER_ATTRIBUTES,
        STREAM_ATTRIBUTES,
        STREAM_CALLS,
        TAP_ATTRIBUTES,
    )

    from .conftest import config_for
    for name, params in STREAM_CALLS.items():
        upstream = getattr(Stream, name, None)
        assert upstream is not None, f"singer-sdk no longer has Stream.{name}"
        assert [p for p in inspect.signature(upstream).parameters if p != "self"] == list(params)
    tap = TapNXCloud(config=config_for(loaded))
    stream = next(iter(tap.streams.values()))
    plain = _PlainTap(config={})
    for name in TAP_ATTRIBUTES:
        assert name in vars(plain), f"singer-sdk taps no longer set {name}"
    # the SDK's streams write their STATE through it, as the tap's property hands it out
    assert plain.state_writer is vars(plain)["_state_writer"]
    assert tap.state_writer is vars(tap)["_state_writer"]
    assert "state_writer.write_state(" in inspect.getsource(Stream._write_state_message)
    for name in STREAM_ATTRIBUTES:
        assert name in vars(stream), f"singer-sdk streams no longer set {name}"
    for name in STATE_MANAGER_ATTRIBUTES:
        assert hasattr(stream.state_manager, name), f"the state manager has no {name}"
    # the generic line the tap silences (one ERROR line a failure) is still the one logged
    assert SDK_UNHANDLED in inspect.getsource(Stream.sync)


class _PlainStream(Stream):
    name = "plain"
    schema = {"properties": {"id": {"type": "integer"}}}  # noqa: RUF012

    def get_records(self, context):
        return []


class _PlainTap(Tap):
    name = "plain-tap"
    config_jsonschema = {"properties": {}}  # noqa: RUF012

    def discover_streams(self):
        return [_PlainStream(self)]


def _sdk_private_names() -> set[str]:
    """What singer-sdk itself names privately: its classes' members and what a plain tap and
    stream of its own set on their instances."""
    tap = _PlainTap(config={})
    stream = tap.streams["plain"]
    names = set(dir(Stream)) | set(dir(Tap)) | set(dir(PluginBase)) | set(vars(stream)) \
        | set(vars(tap)) | set(dir(stream.state_manager)) | set(vars(stream.state_manager))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_module_but_the_fence_touches_a_private_sdk_name():
    """Any `x._name` (or the undocumented `is_flushed`) where `_name` is private to singer-sdk
    must go through tap_nxcloud/sdk_private.py; an own attribute that happens to share an SDK
    private name would shadow it, and is caught too."""
    import ast
    from pathlib import Path

    import tap_nxcloud
    from tap_nxcloud.sdk_private import STATE_MANAGER_ATTRIBUTES
    sdk = _sdk_private_names()
    allowed = set(STREAM_OVERRIDES) | set(TAP_OVERRIDES)
    watched = (sdk - allowed) | set(STATE_MANAGER_ATTRIBUTES)
    found = []
    for path in Path(tap_nxcloud.__file__).parent.rglob("*.py"):
        if path.name == "sdk_private.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in watched:
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == [], "private singer-sdk names outside sdk_private.py: " + ", ".join(found)
