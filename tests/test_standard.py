"""singer-sdk's standard tap tests (discovery, sync, stream attributes) against the API double."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from nxcloud_double import ApiDouble
from tap_nxcloud.tap import TapNXCloud

from .conftest import SPAN_S, START_MS, START_WALL, cc_rows, config_for, flash_rows

# The factory needs its config when the class is built, at import: one double for the module.
_DOUBLE = ApiDouble().start()
atexit.register(_DOUBLE.stop)
_DOUBLE.flash.add(flash_rows(400, seed=41, start=START_WALL, span_seconds=SPAN_S))
_DOUBLE.cc.add(cc_rows(400, seed=41, start_ms=START_MS, span_ms=SPAN_S * 1000))

TestTapNXCloud = get_tap_test_class(TapNXCloud, config=config_for(_DOUBLE))
