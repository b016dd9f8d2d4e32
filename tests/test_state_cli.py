"""State a user can break, state from v0.1, accounts, extra fields and per-product hosts: through
the real CLI against the API double."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nxcloud_double import ApiDouble

from .conftest import (
    START_MS,
    START_WALL,
    assert_exact,
    cc_rows,
    config_for,
    expected,
    flash_rows,
    run_tap,
)


def _one_line(run, *needles: str) -> str:
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "| ERROR" in lines[-1], lines[-3:]
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])
    return lines[-1]


def _future() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()


BAD_STATES = [
    ("not JSON", "{\"bookmarks\": {", ["is not JSON", "run without --state"]),
    ("no bookmarks object", json.dumps({"bookmarks": []}), ["no `bookmarks` object"]),
    ("entry not an object", json.dumps({"bookmarks": {"cc_cdrs": 5}}),
     ["cc_cdrs", "not an object"]),
    ("bookmark of a wrong type", json.dumps({"bookmarks": {"cc_cdrs": {
        "replication_key": "startTime", "replication_key_value": True}}}),
     ["cc_cdrs", "True", "not a startTime time"]),
    ("bookmark in a wrong format", json.dumps({"bookmarks": {"flash_call_cdrs": {
        "replication_key": "gmtCreate", "replication_key_value": "2026-10-02 10:00:00"}}}),
     ["flash_call_cdrs", "not a gmtCreate time", "remove this stream's entry"]),
    ("bookmark in the future", None, ["cc_cdrs", "in the future"]),
]


@pytest.mark.parametrize(("case", "text", "needles"), BAD_STATES, ids=[c[0] for c in BAD_STATES])
def test_bad_state_is_refused_before_any_request_with_one_line(loaded, tmp_path, case, text,
                                                               needles):
    if text is None:
        text = json.dumps({"bookmarks": {"cc_cdrs": {"replication_key": "startTime",
                                                     "replication_key_value": _future()}}})
    path = tmp_path / "state.json"
    path.write_text(text)
    run = run_tap(config_for(loaded), tmp_path, "--state", str(path))
    _one_line(run, *needles)
    assert loaded.requests() == []


def test_unknown_streams_in_the_state_are_ignored(loaded, tmp_path):
    state = {"bookmarks": {"whatsapp_cdrs": {"replication_key_value": [1, 2]},
                           "old_thing": "x"}}
    run = run_tap(config_for(loaded), tmp_path, state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    assert_exact(run, loaded)


def test_a_v01_state_with_epoch_milliseconds_still_resumes(loaded, tmp_path):
    """v0.1 bookmarked cc_cdrs in epoch ms; the next run resumes from it and bookmarks in
    RFC 3339 from then on."""
    mark_ms = START_MS + 2 * 86400_000
    state = {"bookmarks": {"cc_cdrs": {"replication_key": "startTime",
                                       "replication_key_value": mark_ms}}}
    config = config_for(loaded, flash_call_app_key=None, flash_call_app_secret=None,
                        lookback_minutes=0)
    run = run_tap(config, tmp_path, state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    want = {r["callId"] for r in loaded.cc.rows() if r["startTime"] >= mark_ms}
    assert {r["callId"] for r in run.records("cc_cdrs")} == want and want
    assert run.states[-1]["bookmarks"]["cc_cdrs"]["replication_key_value"] == \
        "2026-10-03T16:00:00Z"


def test_account_column_and_key_and_extra_fields_through_the_cli(double, tmp_path):
    flash = flash_rows(50, seed=3, start=START_WALL, span_seconds=3600)
    flash[0] = {**flash[0], "price": "0.035", "brandNewField": "x", "callStatus": "n/a"}
    double.flash.add(flash)
    double.cc.add(cc_rows(50, seed=3, start_ms=START_MS, span_ms=3600_000))
    run = run_tap(config_for(double, account="acme"), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    for stream, keys in (("flash_call_cdrs", ["account", "id"]),
                         ("cc_cdrs", ["account", "callId"])):
        assert run.schemas[stream]["key_properties"] == keys
        assert run.schemas[stream]["schema"]["properties"]["account"]["type"] == "string"
        assert {r["account"] for r in run.records(stream)} == {"acme"}
    first = next(r for r in run.records("flash_call_cdrs") if r["id"] == flash[0]["id"])
    want = expected("flash_call_cdrs", {**flash[0], "price": 0.035, "callStatus": None},
                    account="acme")
    want["extra_fields"]["callStatus"] = "n/a"
    assert first == want and want["extra_fields"]["brandNewField"] == "x"
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert sum("brandNewField" in w for w in warnings) == 1  # one per run, not per row
    assert any("callStatus" in w and "'n/a'" in w and f"'id': {flash[0]['id']}" in w
               for w in warnings)
    # without the setting, nothing changes: no column, the vendor's key alone
    plain = run_tap(config_for(double), tmp_path)
    assert plain.schemas["cc_cdrs"]["key_properties"] == ["callId"]
    assert "account" not in plain.records("cc_cdrs")[0]


def test_one_product_on_its_own_gateway(double, tmp_path):
    """cc_api_url moves only the contact center; api_url keeps the rest."""
    double.flash.add(flash_rows(30, seed=4, start=START_WALL, span_seconds=3600))
    with ApiDouble() as gateway:
        gateway.cc.add(cc_rows(40, seed=4, start_ms=START_MS, span_ms=3600_000))
        run = run_tap(config_for(double, cc_api_url=gateway.url + "/"), tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        assert len(run.records("cc_cdrs")) == 40 and len(run.records("flash_call_cdrs")) == 30
        assert double.requests("cc_cdrs") == [] and gateway.requests("flash_call_cdrs") == []
    bad = run_tap(config_for(double, sip_api_url="ftp://x"), tmp_path)
    _one_line(bad, "Invalid configuration", "sip_api_url must be an http(s) URL")


def test_documented_hosts_by_default():
    """Without api_url each stream goes to its documented host; api_url moves all of them, a
    product's own URL just that product."""
    from tap_nxcloud.settings import parse
    from tap_nxcloud.streams import BY_NAME
    settings = parse({"start_date": "2026-10-01", "sip_app_key": "k", "sip_app_secret": "s"})
    account = settings.accounts[0]
    assert account.url(BY_NAME["sip_cdrs"]) == "https://api.nxcloud.com"
    assert account.url(BY_NAME["sms_cdrs"]) == "https://api2.nxcloud.com"
    moved = parse({"start_date": "2026-10-01", "sip_app_key": "k", "sip_app_secret": "s",
                   "api_url": "http://proxy:8080/", "did_api_url": "https://gw.example"})
    assert moved.accounts[0].url(BY_NAME["sip_cdrs"]) == "http://proxy:8080"
    assert moved.accounts[0].url(BY_NAME["did_cdrs"]) == "https://gw.example"
