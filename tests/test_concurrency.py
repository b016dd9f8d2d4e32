"""One account with many windows keeps `max_workers` requests in flight (the scheduler fetches
windows of later rounds while the current one is emitted), for every windowed stream that is
not paced: held by counting the requests the double answers at once, never by timing."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tap_nxcloud.spec import Offset
from tap_nxcloud.streams import STREAMS

from .conftest import assert_rows_exact, load_stream, recent_range, run_tap, stream_config

# windowed, unpaced, one lane (a child has a lane per parent row: concurrent by construction),
# and paged (a statement a day is one request: nothing to overlap)
CONCURRENT = [s.name for s in STREAMS
              if s.windowed and not s.min_interval and not s.child
              and not (s.window == "day" and not isinstance(s.paging, Offset))]


@pytest.mark.parametrize("stream", CONCURRENT)
def test_one_account_keeps_several_windows_in_flight(double, tmp_path, stream):
    spec = next(s for s in STREAMS if s.name == stream)
    end = recent_range()[1]
    # day windows: ten days (SMS and DID take a date a request); others: many small windows
    span = (end - dt.timedelta(days=10), end) if spec.window == "day" else recent_range(6)
    load_stream(double, stream, 3000, seed=53, span=span)
    double.latency_ms = 20  # each answer waits: overlapping requests are seen overlapping
    config = stream_config(double.url, double, stream, span=span, max_workers=4,
                           window_target_rows=100, window_minutes=10)
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_rows_exact(run, double, stream, span)
    windows = int(re.search(rf"{stream}: done: \d+ rows in (\d+) window", run.stderr)[1])
    assert windows >= 8, windows
    assert double.max_in_flight[stream] >= 3, (
        f"{stream}: at most {double.max_in_flight[stream]} requests at once over {windows} "
        "windows with max_workers 4")
