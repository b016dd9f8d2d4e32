"""The tap object's own sharp parts: the secrets it registers, its STATE writer."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.unit


def test_the_tap_registers_every_products_secret_for_scrubbing():
    from urllib.parse import quote, quote_plus

    from tap_nxcloud import redact
    from tap_nxcloud.settings import SECRETS
    from tap_nxcloud.streams import STREAMS
    from tap_nxcloud.tap import TapNXCloud
    config = {"start_date": "2026-10-01"}
    for i, name in enumerate(SECRETS):
        config[name] = f"s3cret-{i}/+&"
        config[name.replace("secret", "key")] = f"key-{i}"
    TapNXCloud(config=config, validate_config=True)
    assert set(SECRETS) == {s.secret_setting for s in STREAMS}
    for name in SECRETS:
        secret = config[name]
        line = redact.scrub(f"raw {secret}, form body secretkey={quote_plus(secret)}, "
                            f"query {quote(secret, safe='')}")
        assert "s3cret" not in line, (name, line)


def test_state_writer_skips_only_the_state_last_written():
    """STATE lines compared as encoded (the SDK's msgspec writer reuses one buffer for every
    message, so the line must be copied before it is kept)."""
    import io
    import sys

    from tap_nxcloud.writer import BufferedWriter, StateWriter

    out = io.BytesIO()
    stdout = sys.stdout
    sys.stdout = io.TextIOWrapper(out)
    try:
        writer = StateWriter(BufferedWriter())
        state = {"bookmarks": {"sip_cdrs": {"replication_key_value": "a"}}}
        writer.write_state(state)
        writer.write_state(state)  # the same: skipped
        state["bookmarks"]["sip_cdrs"]["replication_key_value"] = "b"  # moved in place
        writer.write_state(state)
        writer.write_state({"bookmarks": {}})
        writer.write_state({"bookmarks": {}})
        sys.stdout.flush()
    finally:
        sys.stdout = stdout
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [m["value"] for m in lines] == [
        {"bookmarks": {"sip_cdrs": {"replication_key_value": "a"}}},
        {"bookmarks": {"sip_cdrs": {"replication_key_value": "b"}}}, {"bookmarks": {}}]
