"""The two CDR streams: shared windowing, bookmarks and progress; per-API requests and rows."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import msgspec
import requests
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from . import schemas
from .auth import CCSignedAuth, flash_call_params
from .clock import EpochClock, WallClock
from .errors import ApiError, Interrupted, TransientError
from .http import Client, json_body
from .paging import FLASH_PAGE, cc_pages, flash_pages
from .runner import Cancelled, iter_windows
from .settings import Settings
from .windows import Window, WindowPlanner


class CDRStream(Stream):
    """A stream read in time windows, oldest first, bookmarked at each completed window's end.

    The bookmark says how far the range is completely read, not the newest row seen: rows of a
    window come in no particular order, and a window with no rows still moves it. The SDK's
    per-record bookmarking is therefore switched off (`_increment_stream_state`).
    """

    # Records are emitted as the API sends them (flash-call times aside): no per-row type coercion.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    is_sorted = False
    credential_settings: ClassVar[tuple[str, str]]

    def __init__(self, tap, settings: Settings) -> None:
        super().__init__(tap, schema=schemas.load(self.name), name=self.name)
        self.settings = settings
        self.cancel = threading.Event()
        self.client = Client(self.name, settings.api_url, timeout=settings.timeout,
                             max_tries=settings.max_retries + 1,
                             backoff_base=settings.backoff_base,
                             backoff_max=settings.backoff_max, cancel=self.cancel)

    # --- per-API parts -------------------------------------------------------------------
    clock: Any

    def pages(self, window: Window) -> Iterator[list[dict]]:
        raise NotImplementedError

    def probe(self) -> None:
        """One small request that proves the credentials work (for --test)."""
        raise NotImplementedError

    # --- shared --------------------------------------------------------------------------
    def _increment_stream_state(self, latest_record, *, context=None) -> None:
        """Bookmarks advance per completed window in `get_records`, not per record."""

    def _process_record(self, record, child_context=None, partition_context=None) -> None:
        """No child streams and no partitions: nothing to do per record."""

    def _write_record_message(self, record: dict) -> None:
        # The SDK's path (deselection walk, mapper, message object, a clock read) costs several
        # times the JSON encoding per row; when it would change nothing, write the line directly.
        if self._direct:
            self._writer.write_record(self._record_prefix, record, self._extracted_suffix)
        else:
            super()._write_record_message(record)

    def _prepare_direct_writes(self) -> None:
        maps = self.stream_maps
        self._direct = (len(maps) == 1 and type(maps[0]) is SameRecordTransform
                        and not maps[0].flattening_enabled and all(self.mask.values())
                        and hasattr(self._tap.message_writer, "write_record"))
        self._writer = self._tap.message_writer
        self._record_prefix = b'{"type":"RECORD","stream":' + msgspec.json.encode(
            self.name) + b',"record":'
        self._mark_extracted()

    def _mark_extracted(self) -> None:
        """time_extracted of the records that follow: when their page was handed over."""
        now = dt.datetime.now(dt.timezone.utc)
        self._extracted_suffix = b',"time_extracted":' + msgspec.json.encode(now) + b"}\n"

    def _keyed(self, rows: list[dict], key: str, rk_type: type) -> list[dict]:
        """Rows must carry their primary key and a replication key of the expected type: paging
        and bookmarks depend on them, so anything else is refused with one clear line."""
        rk = self.replication_key
        for row in rows:
            if row.get(key) is None or not isinstance(row.get(rk), rk_type):
                raise ApiError(f"{self.name}: the API returned a row without a usable {key!r} "
                               f"and {rk!r} ({ {k: row.get(k) for k in (key, rk)} }); "
                               "cannot page or bookmark safely")
        return rows

    def get_replication_key_signpost(self, context) -> None:
        """No signpost: bookmarks are window ends, never later than the range's end."""
        return None

    def _bookmarked(self) -> dt.datetime | None:
        value = self.get_context_state(None).get("replication_key_value")
        if value in (None, ""):
            return None
        try:
            return self.clock.parse_bookmark(value)
        except (TypeError, ValueError):
            raise ApiError(f"{self.name}: the state's bookmark {value!r} is not a "
                           f"{self.replication_key} value; fix or drop the state") from None

    def _commit(self, tick: int) -> None:
        state = self.get_context_state(None)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = self.clock.bookmark(tick)
        self.state_manager.is_flushed = False
        self._write_state_message()

    def get_records(self, context) -> Iterable[dict]:
        s = self.settings
        start = s.start
        bookmark = self._bookmarked()
        if bookmark is not None:
            start = max(start, bookmark - s.lookback)
        first, last = self.clock.from_instant(start), self.clock.from_instant(s.end)
        self.logger.info("%s: reading %s to %s (%s)", self.name, self.clock.label(first),
                         self.clock.label(last),
                         f"bookmark {bookmark.isoformat()} minus {s.lookback}" if bookmark
                         else "start_date")
        planner = WindowPlanner(first, last, initial=s.window_seconds, minimum=60,
                                maximum=s.max_window_seconds, target_rows=s.target_rows)
        self.cancel.clear()
        self._prepare_direct_writes()
        self._tap.active_streams.add(self)
        rows = windows = 0
        started = noted = time.monotonic()
        try:
            for window, pages in iter_windows(planner, self.pages, workers=s.workers,
                                              cancel=self.cancel,
                                              queue_pages=2 * s.target_rows // 100 + 2):
                for page in pages:
                    rows += len(page)
                    self._mark_extracted()
                    yield from page
                self._commit(window.end)
                windows += 1
                if time.monotonic() - noted >= s.progress_every:
                    noted = time.monotonic()
                    self.logger.info("%s: %d rows so far; complete up to %s; now reading "
                                     "windows of %s", self.name, rows,
                                     self.clock.label(window.end), _span(planner.size))
        except Cancelled:
            raise Interrupted(self._tap, self._tap.terminating) from None
        finally:
            self._tap.active_streams.discard(self)
        self.logger.info("%s: done: %d rows in %d windows, %d requests, %.1f s", self.name,
                         rows, windows, self.client.requests_sent, time.monotonic() - started)


def _span(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


class FlashCallStream(CDRStream):
    name = "flash_call_cdrs"
    primary_keys: ClassVar[list[str]] = ["id"]
    replication_key = "gmtCreate"
    credential_settings = ("flash_call_app_key", "flash_call_app_secret")
    WALL_FIELDS = ("gmtCreate", "gmtModified", "callStartAt", "callEndAt", "callbackAt")

    def __init__(self, tap, settings: Settings) -> None:
        super().__init__(tap, settings)
        self.clock = WallClock(settings.zone)
        self._url = f"{settings.api_url}/otp/call/list"
        self._credentials = flash_call_params(settings.flash_key, settings.flash_secret)

    def _check(self, response: requests.Response) -> list[dict]:
        payload = json_body(response, self.name)
        code = str(payload.get("code")) if isinstance(payload, dict) else None
        if code == "0":
            rows = payload.get("cdrs") or []
            if len(rows) > FLASH_PAGE:
                raise ApiError(f"{self.name}: the API returned {len(rows)} rows, more than "
                               f"{FLASH_PAGE}; keyset paging cannot be trusted")
            return self._keyed(rows, "id", str)
        message = payload.get("msg") or payload.get("message") or "" if code else ""
        if code == "3":
            raise TransientError(f"code 3 ({message or 'too many requests'})")
        if code is None:
            raise TransientError("HTTP 200 without a result code")
        hint = ("check flash_call_app_key and flash_call_app_secret" if code == "1"
                else "check the request settings (start_date, end_date, timezone)")
        raise ApiError(f"{self.name}: NXCloud code {code} ({message or 'no message'}); {hint}")

    def fetch(self, start: str, end: str) -> list[dict]:
        request = requests.Request("GET", self._url,
                                   params={"start": start, "end": end, **self._credentials})
        return self.client.call(request, self._check)

    def pages(self, window: Window) -> Iterator[list[dict]]:
        rfc3339 = self.clock.rfc3339
        fields = self.WALL_FIELDS
        for page in flash_pages(self.fetch, self.clock.wall(window.start),
                                self.clock.wall(window.end - 1), self._warn):
            for row in page:
                for field in fields:
                    if field in row:
                        row[field] = rfc3339(row[field])
            yield page

    def _warn(self, message: str) -> None:
        self.logger.warning("%s: %s (%s)", self.name, message, self.settings.zone.key)

    def probe(self) -> None:
        tick = self.clock.from_instant(self.settings.end)
        self.fetch(self.clock.wall(tick - 1), self.clock.wall(tick - 1))


class ContactCenterStream(CDRStream):
    name = "cc_cdrs"
    primary_keys: ClassVar[list[str]] = ["callId"]
    replication_key = "startTime"
    credential_settings = ("cc_access_key", "cc_access_secret")
    clock = EpochClock()
    PAGE_SIZE = 100
    _FATAL: ClassVar[dict[int, str]] = {
        1001: "a required header is missing (a bug in the tap: please report it)",
        1002: "a parameter was refused; check cc_direction and cc_answered",
        1003: "check cc_access_secret",
        1005: "check cc_access_key and its permission for the voice (bizType 8) business",
        41000: "the request was refused (a bug in the tap: please report it)",
    }

    def __init__(self, tap, settings: Settings) -> None:
        super().__init__(tap, settings)
        self._url = f"{settings.api_url}/saas/cc/openapi/cdr/page"
        self._auth = CCSignedAuth(settings.cc_key, settings.cc_secret)
        self._filters = {k: v for k, v in (("direction", settings.cc_direction),
                                           ("answered", settings.cc_answered)) if v is not None}

    def _check(self, response: requests.Response) -> list[dict]:
        payload = json_body(response, self.name)
        code = payload.get("code") if isinstance(payload, dict) else None
        if isinstance(code, str) and code.isdigit():  # tolerate "0" for 0
            code = int(code)
        if code == 0:
            return self._keyed(payload.get("data") or [], "callId", int)
        message = payload.get("msg") or "no message" if isinstance(payload, dict) else ""
        if code in (88, 99):
            raise TransientError(f"code {code} ({message})")
        if code == 1004:
            raise TransientError(f"code 1004 ({message})", attempts=2, hint="check the system "
                                 "clock: NXCloud rejects a ts more than 60 s from its own")
        if code is None:
            raise TransientError("HTTP 200 without a result code")
        hint = self._FATAL.get(code, "see the NXCloud error code table")
        raise ApiError(f"{self.name}: NXCloud code {code} ({message}); {hint}")

    def fetch(self, start: int, end: int, page: int, size: int) -> list[dict]:
        body = {"startTime": start, "endTime": end, **self._filters, "size": size, "page": page}
        # serialized once: these exact bytes are signed (in the auth hook) and sent
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        request = requests.Request("POST", self._url, data=data, auth=self._auth,
                                   headers={"Content-Type": "application/json"})
        return self.client.call(request, self._check)

    def pages(self, window: Window) -> Iterator[list[dict]]:
        # Bounds are seconds, rows milliseconds, and the server's inclusiveness is undocumented:
        # ask one second wider on each side and keep exactly [start, end) of this window.
        lo, hi = window.start - 1, window.end
        return cc_pages(lambda page: self.fetch(lo, hi, page, self.PAGE_SIZE), self.PAGE_SIZE,
                        window.start * 1000, window.end * 1000)

    def probe(self) -> None:
        end = self.clock.from_instant(self.settings.end)
        self.fetch(end - 3600, end, 1, 1)
