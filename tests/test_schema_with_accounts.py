"""The SCHEMA always matches the records: with `accounts`, `account` is a key property and a
column, whatever the catalog says (one discovered without accounts has neither), for every
stream; an upserting target would otherwise merge two accounts' rows."""

from __future__ import annotations

import pytest

from tap_nxcloud.streams import BY_NAME

from .conftest import STREAM_NAMES, load_stream, run_tap, stream_config


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_an_old_catalog_still_keys_records_by_account(double, tmp_path, stream):
    spec = BY_NAME[stream]
    load_stream(double, stream, 10, seed=121)
    config = stream_config(double.url, double, stream)  # its catalog: discovered without
    secrets = {k: config.pop(k) for k in list(config)  # accounts
               if k in {n for s in BY_NAME.values() for n in s.credentials}
               or k in {n for s in BY_NAME.values() for n in s.params}}
    config["accounts"] = [{"name": "acme", **secrets}]
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    schema = run.schemas[stream]
    assert schema["key_properties"][0] == "account", schema["key_properties"]
    assert set(spec.primary_keys) <= set(schema["key_properties"])
    assert "account" in schema["schema"]["properties"]
    assert {r["account"] for r in run.records(stream)} == {"acme"}
