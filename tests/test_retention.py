"""Know before data is lost: a stream's retention margin, measured every run (INFO line, audit),
a WARNING when it runs short, and one ERROR line naming the exact range when records fell out of
NXCloud's retention before the run could read them (fail_on_retention_loss: exit 1). Through the
real CLI against the double, over every stream with a stated retention."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_nxcloud.streams import STREAMS

from .conftest import load_stream, recent_range, run_tap, stream_config

RETAINED = [s for s in STREAMS if s.retention_days and not s.child]


def _state(spec, mark: dt.datetime) -> dict:
    return {"bookmarks": {spec.name: {"replication_key": spec.replication_key,
                                      "replication_key_value": mark.isoformat()}}}


def _config(double, spec):
    config = stream_config(double.url, double, spec.name)
    config["_select"] = [spec.name, "sync_audit"]
    # a start_date long before the bookmark: the bookmark decides where the run starts
    config["start_date"] = (recent_range()[1] - dt.timedelta(days=60)).isoformat()
    return config


@pytest.mark.parametrize("spec", RETAINED, ids=lambda s: s.name)
def test_a_bookmark_close_to_the_retention_edge_warns(double, tmp_path, spec):
    """A bookmark one day inside the retention: one WARNING at the start, the margin after the
    run in one INFO line and in every audit row."""
    load_stream(double, spec.name, 20, seed=111)
    end = recent_range()[1]
    mark = end - dt.timedelta(days=spec.retention_days - 1)
    run = run_tap(_config(double, spec), tmp_path, state=_state(spec, mark))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| ERROR" not in run.stderr
    warned = [line for line in run.stderr.splitlines()
              if "| WARNING" in line and "from falling out of NXCloud's" in line]
    assert len(warned) == 1 and spec.name in warned[0], warned
    hours = float(warned[0].split("was ")[1].split(" h")[0])
    assert 20 <= hours <= 26, warned  # about a day (the double's "now" and lookback aside)
    assert f"{spec.name}: retention margin" in run.stderr
    margins = [r["retention_margin_hours"] for r in run.records("sync_audit")
               if r["stream"] == spec.name]
    assert margins and all(m is not None for m in margins)
    assert max(margins) > 24 * spec.retention_days - 2  # the bookmark is now at the range's end


@pytest.mark.parametrize("strict", [False, True])
def test_a_bookmark_past_the_retention_reports_the_lost_range_exactly(double, tmp_path,
                                                                      strict):
    spec = next(s for s in RETAINED if s.name == "voice_cdrs")
    load_stream(double, spec.name, 20, seed=113)
    end = recent_range()[1]
    mark = (end - dt.timedelta(days=8)).replace(microsecond=0)
    config = _config(double, spec)
    if strict:
        config["fail_on_retention_loss"] = True
    run = run_tap(config, tmp_path, state=_state(spec, mark))
    assert run.returncode == (1 if strict else 0), run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    lost = [line for line in errors if "fell out of NXCloud's 7-day retention" in line]
    assert len(lost) == 1 and mark.isoformat() in lost[0], errors
    assert len(errors) == (2 if strict else 1), errors  # strict: and the run's last line
    rows = [r for r in run.records("sync_audit") if r["stream"] == spec.name and r["lost_from"]]
    assert len(rows) == 1
    lost_from = dt.datetime.fromisoformat(rows[0]["lost_from"])
    lost_to = dt.datetime.fromisoformat(rows[0]["lost_to"])
    assert lost_from == mark
    now = dt.datetime.now(dt.timezone.utc)
    # the day lost: from the bookmark to what NXCloud still keeps (7 days back, 15 min margin)
    assert abs((lost_to - (now - dt.timedelta(days=7, minutes=-15))).total_seconds()) < 600
    assert 0.9 < (lost_to - lost_from).total_seconds() / 86400 < 1.1
    assert run.records(spec.name)  # what was still there was read
