"""The credential checks' kept answers (tap_nxcloud/preflight.py): one budget of rows for the
process, used once and only by the request they answer, always given back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tap_nxcloud import preflight
from tap_nxcloud.preflight import KEPT_PAGE, Kept, KeptAnswer, together

pytestmark = pytest.mark.unit


def test_the_budget_admits_one_accounts_big_page_but_only_small_pages_of_many():
    kept = Kept(budget=1000)
    assert kept.admit(900, small_only=False)  # one account: its first page whatever its size
    assert not kept.admit(200, small_only=False)  # over the budget
    kept.give_back(900)
    assert not kept.admit(KEPT_PAGE + 1, small_only=True)
    assert kept.admit(KEPT_PAGE, small_only=True)
    assert kept.rows == KEPT_PAGE


def test_a_kept_answer_answers_its_own_request_only_and_once(monkeypatch):
    budget = Kept(budget=100)
    monkeypatch.setattr(preflight, "KEPT", budget)
    params = {"start": "a", "page": 1, "page_size": 10}
    rows = [{"id": 1, "t": "é\u2028"}, {"id": 2}]
    assert budget.admit(len(rows), small_only=False)
    lane = SimpleNamespace(kept=KeptAnswer(params, rows, 2))
    assert preflight.take(lane, {**params, "page": 2}) is None  # another request
    assert lane.kept is None and budget.rows == 0  # dropped, and its rows given back
    assert budget.admit(len(rows), small_only=False)
    lane.kept = KeptAnswer(params, rows, 2)
    got = preflight.take(lane, dict(params))
    assert got is not None and got.rows() == rows and got.total == 2
    assert preflight.take(lane, dict(params)) is None  # once
    assert budget.rows == 0


def test_refusals_of_one_key_pair_are_one_line():
    spec = SimpleNamespace(credentials=("sms_app_key", "sms_app_secret"))
    account = SimpleNamespace(name="acme")
    lanes = [SimpleNamespace(name=n, spec=spec, account=account)
             for n in ("sms_cdrs", "sms_daily_reports", "balances")]
    lines = together([[(lane, Exception(f"{lane.name}: NXCloud code 2 (check sms_app_key)"))
                       for lane in lanes]])
    assert lines == ["sms_cdrs, sms_daily_reports and balances: NXCloud code 2 "
                     "(check sms_app_key)"]


def test_a_check_that_answered_gives_the_lane_its_streams_cancel_event_back(monkeypatch):
    """A check runs with a cancel event of its own (to stop a given-up check's retries); a lane
    whose check answered must see its stream's event again, or a signal would not stop it."""
    import threading

    shared = threading.Event()
    lane = SimpleNamespace(client=SimpleNamespace(cancel=shared), kept=None)
    monkeypatch.setattr(preflight, "probe", lambda lane, keep: None)
    preflight._check_within(lane, grace=30)
    assert lane.client.cancel is shared
