"""What users expect of a Singer tap's CLI: --about, --test, --discover, selection, maps."""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tap_nxcloud.streams import STREAMS

from .conftest import TAP, config_for, run_tap

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import generate  # noqa: E402


def test_readme_settings_reference_matches_about():
    """The README holds `--about`'s markdown, its headings moved under the README's own."""
    about = subprocess.run([TAP, "--about", "--format=markdown"], capture_output=True,
                           text=True, check=True).stdout
    text = README.read_text(encoding="utf-8")
    section = re.search(r"<!-- about:start -->\n(.*?)<!-- about:end -->", text, re.S)
    assert section, "README lacks the about:start/about:end markers"
    assert section.group(1).strip() == generate.demoted(about.strip()), (
        "README is out of date: run python scripts/generate.py")


def test_about_names_every_registered_stream():
    about = json.loads(subprocess.run([TAP, "--about", "--format=json"], capture_output=True,
                                      text=True, check=True).stdout)
    named = set(re.findall(r"\w+", about["description"]))
    assert {spec.name for spec in STREAMS} <= named, about["description"]


def test_connection_test_names_what_works_and_what_does_not(loaded, tmp_path):
    ok = run_tap(config_for(loaded), tmp_path, "--test")
    assert ok.returncode == 0, ok.stderr
    assert "OK flash_call_cdrs" in ok.stderr and "OK cc_cdrs" in ok.stderr
    assert len(loaded.requests("flash_call_cdrs")) == 1 and len(loaded.requests("cc_cdrs")) == 1
    assert '"type":"RECORD"' not in ok.stdout
    bad = run_tap(config_for(loaded, cc_access_secret="nope"), tmp_path, "--test")
    assert bad.returncode == 1
    assert "OK flash_call_cdrs" in bad.stderr
    assert re.search(r"FAILED cc_cdrs: .*NXCloud code 1003 .*check cc_access_secret", bad.stderr)
    assert "Traceback" not in bad.stderr


KEYS = {"flash_call_cdrs": (["id"], "gmtCreate"), "cc_cdrs": (["callId"], "startTime"),
        "sms_cdrs": (["msgid", "phone"], "date"),
        "voice_cdrs": (["request_voice_type", "id"], "start_time"),
        "sip_cdrs": (["id"], "start_time"), "did_cdrs": (["id"], "startTime")}


def test_discover_lists_every_stream_whatever_the_credentials(double, tmp_path):
    for config in ({}, config_for(double, flash_call_app_key=None, flash_call_app_secret=None)):
        run = run_tap(config, tmp_path, "--discover")
        assert run.returncode == 0, run.stderr
        catalog = json.loads(run.stdout)
        streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
        found = {name: (s["key_properties"], s.get("replication_key"))
                 for name, s in streams.items()}
        audit = found.pop("sync_audit")  # the tap's own, last
        assert audit == (["account", "stream", "partition", "window_start", "run_id"], None)
        assert list(streams)[-1] == "sync_audit"
        assert found == {spec.name: (list(spec.primary_keys), spec.replication_key)
                         for spec in STREAMS}  # every registered stream, in its order
        assert list(found) == [spec.name for spec in STREAMS]
        assert {name: found[name] for name in KEYS} == KEYS  # the first six, spelled out
    assert double.requests() == []


def test_selecting_one_stream_reads_only_that_one(loaded, tmp_path):
    run = run_tap(config_for(loaded), tmp_path, "--discover")
    catalog = json.loads(run.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "cc_cdrs"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    synced = run_tap(config_for(loaded), tmp_path, "--catalog", str(path))
    assert synced.returncode == 0, synced.stderr
    assert len(synced.records("cc_cdrs")) == 1500
    assert synced.records("flash_call_cdrs") == []
    assert loaded.requests("flash_call_cdrs") == []


def test_a_stream_map_drops_a_column(loaded, tmp_path):
    config = config_for(loaded, stream_maps={"cc_cdrs": {"recordUrl": None}})
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    records = run.records("cc_cdrs")
    assert len(records) == 1500 and all("recordUrl" not in r for r in records)
    assert "recordUrl" not in run.schemas["cc_cdrs"]["schema"]["properties"]
    assert all("recordUrl" in r for r in loaded.cc.rows())


def test_a_stream_without_credentials_is_skipped_with_one_line(loaded, tmp_path):
    run = run_tap(config_for(loaded, cc_access_key=None, cc_access_secret=None), tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.records("cc_cdrs") == [] and len(run.records("flash_call_cdrs")) == 1500
    assert len(re.findall(r"Skipping stream cc_cdrs: cc_access_key is not set", run.stderr)) == 1
    assert "cc_cdrs" not in run.schemas


def test_progress_is_logged_per_stream_without_flooding(loaded, tmp_path):
    loaded.latency_ms = 20
    config = config_for(loaded, progress_log_seconds=0.2, window_target_rows=200, max_workers=1)
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    for stream in ("flash_call_cdrs", "cc_cdrs"):
        progress = [line for line in run.stderr.splitlines()
                    if f"{stream}: " in line and "rows so far; complete up to" in line]
        assert 2 <= len(progress) <= 30, progress
        assert re.search(rf"{stream}: done: 1500 rows in \d+ windows, \d+ requests", run.stderr)


def test_a_refused_key_is_found_before_the_first_record_in_seconds(tmp_path):
    """Every selected stream's credentials are proven first, all at once: a bad SMS key ends the
    run in seconds, before flash and cc (which come first and have data) emit anything; two bad
    keys make two ERROR lines, one each."""
    from nxcloud_double import ApiDouble, config_for

    from .conftest import load_stream, recent_range
    start, end = recent_range()
    with ApiDouble() as double:
        for stream in ("flash_call_cdrs", "cc_cdrs", "sms_cdrs", "did_cdrs"):
            load_stream(double, stream, 3000, seed=41)
        config = {k: v for k, v in config_for(double, start.isoformat(),
                                              end_date=end.isoformat()).items()
                  if not k.startswith(("voice_", "sip_"))}
        run = run_tap({**config, "sms_app_secret": "wrong"}, tmp_path)
        asked = collections.Counter(e["stream"] for e in double.requests())
        both = run_tap({**config, "sms_app_secret": "wrong", "did_access_secret": "wrong"},
                       tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    # found before any data was read: each stream asked once, for its credential check (a
    # clean run asks flash and cc 31 times each); counted, not timed: at a load of 12 on two
    # cores the start alone takes 8 s
    assert set(asked.values()) == {1}, asked
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and "sms_cdrs" in errors[0] and "check sms_app_key" in errors[0]
    assert '"type":"RECORD"' not in run.stdout
    errors = [line for line in both.stderr.splitlines() if "| ERROR" in line]
    assert both.returncode == 1 and len(errors) == 2
    assert {("sms_cdrs" in e, "did_cdrs" in e) for e in errors} == {(True, False), (False, True)}


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("flattening_enabled", "yes", "flattening_enabled must be true or false"),
    ("flattening_max_depth", "2", "flattening_max_depth must be a whole number"),
    ("stream_maps", "[]", "stream_maps must be an object"),
    ("max_workers", 4.5, "max_workers must be a whole number"),
    ("max_response_mb", 0, "max_response_mb must be greater than 0"),
])
def test_a_setting_of_the_wrong_type_ends_in_one_line_naming_it(loaded, tmp_path, setting, value,
                                                                 says):
    run = run_tap(config_for(loaded, **{setting: value}), tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and says in errors[0], run.stderr[-2000:]
    assert loaded.requests() == []
