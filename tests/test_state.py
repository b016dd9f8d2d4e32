"""The state module (tap_nxcloud/state.py) on its own: a state checked and upgraded, stale
partitions dropped, where a lane starts, how its bookmark advances and what holds it back."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from tap_nxcloud.clock import UTC, WallClock
from tap_nxcloud.errors import StateError
from tap_nxcloud.state import Finished, LaneState, checked_state, parse_state, retention_edge
from tap_nxcloud.streams import BY_NAME

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("Asia/Shanghai")
LOG = logging.getLogger("test-state")


class _Stream:
    """What LaneState needs of a stream: its spec, its lanes, its state by context."""

    def __init__(self, name: str, state: dict | None = None, lanes: int = 1) -> None:
        self.spec = BY_NAME[name]
        self.lanes = [None] * lanes
        self.states: dict = state or {}

    def get_context_state(self, context):
        key = None if context is None else tuple(sorted(context.items()))
        return self.states.setdefault(key, {})


def _settings(**kw):
    start = kw.pop("start", dt.datetime.now(UTC) - dt.timedelta(days=3))
    return SimpleNamespace(start=start, end=dt.datetime.now(UTC), zone=ZONE,
                           retention_warn_hours=48,
                           lookback=lambda spec: dt.timedelta(minutes=60), **kw)


def test_a_broken_state_is_one_line_naming_the_stream():
    with pytest.raises(StateError, match="no `bookmarks` object"):
        checked_state({"bookmarks": []}, {"sms_cdrs"}, set(), LOG)
    with pytest.raises(StateError, match="sms_cdrs: the state's entry is not an object"):
        checked_state({"bookmarks": {"sms_cdrs": 3}}, {"sms_cdrs"}, set(), LOG)
    with pytest.raises(StateError, match="not JSON"):
        parse_state("{", "state.json")
    assert parse_state("  ", "state.json") == {}


def test_partitions_of_accounts_no_longer_configured_leave_the_state(caplog):
    parts = [{"context": {"account": f"a{i}"}, "replication_key_value": "2026-01-01T00:00:00Z"}
             for i in range(1000)]
    state = {"bookmarks": {"sms_cdrs": {"partitions": parts}, "gone_stream": {}}}
    with caplog.at_level(logging.INFO, logger="test-state"):
        out = checked_state(state, {"sms_cdrs"}, set(), LOG, accounts={"a1", "a2"})
    kept = out["bookmarks"]["sms_cdrs"]["partitions"]
    assert [p["context"]["account"] for p in kept] == ["a1", "a2"]
    assert "gone_stream" not in out["bookmarks"]
    lines = [r.getMessage() for r in caplog.records]
    assert any("Dropping 998 state partitions of accounts no longer configured" in m
               for m in lines), lines
    # without accounts (the one-account form) nothing is dropped
    assert len(checked_state(state, {"sms_cdrs"}, set(), LOG)["bookmarks"]["sms_cdrs"]
               ["partitions"]) == 1000


def test_a_v01_epoch_millisecond_bookmark_is_upgraded():
    out = checked_state({"bookmarks": {"cc_cdrs": {"replication_key_value": 1700000000000}}},
                        {"cc_cdrs"}, set(), LOG)
    assert out["bookmarks"]["cc_cdrs"]["replication_key_value"] == "2023-11-14T22:13:20.000000Z"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "NaN", float("nan"), "9999-01-01",
                                   "yesterday", 1.5e300])
def test_a_bookmark_out_of_range_is_one_line_naming_stream_and_state(value):
    stream = _Stream("sms_cdrs", {None: {"replication_key_value": value}})
    lane = LaneState(stream, None, {}, None, "")
    with pytest.raises(StateError, match=r"^sms_cdrs: the state's bookmark .*(fix it|remove)"):
        lane.stored()


def test_the_start_is_the_bookmark_minus_the_lookback_clamped_to_retention():
    clock = WallClock(ZONE)
    mark = dt.datetime.now(UTC) - dt.timedelta(days=1)
    stream = _Stream("voice_cdrs", {None: {"replication_key_value": mark.isoformat()}})
    start, why = LaneState(stream, None, {}, None, "").starting_point(_settings(), clock,
                                                                         pytest.fail)
    assert start == mark - dt.timedelta(minutes=60) and "lookback" in why
    # a week-old bookmark: voice keeps 7 days, the start is clamped, with one warning
    old = dt.datetime.now(UTC) - dt.timedelta(days=9)
    stream = _Stream("voice_cdrs", {None: {"replication_key_value": old.isoformat()}})
    warned = []
    start, why = LaneState(stream, None, {}, None, "").starting_point(
        _settings(start=old - dt.timedelta(days=20)), clock,
        lambda *a: warned.append(a[0] % a[1:]))
    edge = retention_edge(BY_NAME["voice_cdrs"], _settings())
    assert abs((start - edge).total_seconds()) < 60
    assert "clamped to the 7-day retention" in why and len(warned) == 1


def test_commit_moves_the_bookmark_unless_an_open_row_or_a_mismatch_holds_it():
    clock = WallClock(ZONE)
    stream = _Stream("ai_agent_tasks")
    lane = LaneState(stream, {"account": "a"}, {}, None, "account a: ")
    lane.commit(1000, clock)
    assert stream.states[(("account", "a"),)]["replication_key_value"] == clock.bookmark(1000)
    lane.hold_open(1500)
    lane.commit(2000, clock)
    assert stream.states[(("account", "a"),)]["replication_key_value"] == clock.bookmark(1500)
    lane.hold(1200)
    lane.commit(3000, clock)
    assert stream.states[(("account", "a"),)]["replication_key_value"] == clock.bookmark(1200)


def test_a_one_account_bookmark_at_the_streams_level_moves_into_its_partition():
    clock = WallClock(ZONE)
    mark = (dt.datetime.now(UTC) - dt.timedelta(hours=5)).isoformat()
    stream = _Stream("sms_cdrs", {None: {"replication_key_value": mark,
                                         "replication_key": "date"}})
    lane = LaneState(stream, {"account": "a"}, {}, None, "")
    assert lane.stored() == dt.datetime.fromisoformat(mark)
    lane.commit(5000, clock)
    assert "replication_key_value" not in stream.states[None]


def test_finished_child_partitions_leave_in_one_pass():
    keep, gone = {"context": {"taskId": 1}}, {"context": {"taskId": 2}}
    stream_state = {"partitions": [keep, gone]}
    finished = Finished()
    finished.add(gone)
    finished.prune(stream_state)
    assert stream_state["partitions"] == [keep]
