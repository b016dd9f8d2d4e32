"""Every private singer-sdk name the tap touches, fenced here: the methods it overrides, the
private methods and attributes it reaches, and the text of one SDK log line it silences.
tests/test_sdk_private.py checks that each still exists upstream as relied on, and that no other
module touches an SDK private name, so an SDK upgrade that moves one fails loudly instead of
silently bypassing it."""

from __future__ import annotations

import datetime as dt
import logging

import msgspec
from singer_sdk.mapper import SameRecordTransform

# name -> the parameters (beyond self) the override relies on
STREAM_OVERRIDES = {
    "_increment_stream_state": ("latest_record", "context"),
    "_process_record": ("record", "child_context", "partition_context"),
    "_write_record_message": ("record",),
}
TAP_OVERRIDES = {
    "_validate_config": ("raise_errors",),
    "_handle_termination": ("signum", "frame"),
}
# Private methods called (name -> parameters beyond self) and attributes read, on a Stream.
STREAM_CALLS = {"_write_state_message": ()}
STREAM_ATTRIBUTES = ("_tap",)
# Set on the tap: the writer its streams' STATE messages go through (Tap.state_writer reads it).
TAP_ATTRIBUTES = ("_state_writer",)
# An undocumented attribute of the stream's state manager, set as the SDK's own writer does.
STATE_MANAGER_ATTRIBUTES = ("is_flushed",)
# Logged by Stream.sync (level ERROR) for any exception, before the tap's own one line.
SDK_UNHANDLED = "An unhandled error occurred while syncing"


def tap_of(stream):
    """The tap a stream belongs to."""
    return stream._tap


def use_state_writer(tap, writer) -> None:
    """The tap's STATE writer (the SDK's keeps a deep copy of the last state it wrote, to skip
    an equal one: with 200 accounts, megabytes of dicts copied at every STATE)."""
    tap._state_writer = writer


def write_state(stream) -> None:
    """Write a STATE message now (the stream's state has just moved)."""
    stream.state_manager.is_flushed = False
    stream._write_state_message()


class _OneErrorLine(logging.Filter):
    """Drops Stream.sync's generic ERROR line: the CLI ends every failure with one line of its
    own (the cause, the stream, the setting to check), so the generic one only doubles it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR
                    and str(record.msg).startswith(SDK_UNHANDLED))


def one_error_line(logger: logging.Logger) -> None:
    if not any(isinstance(f, _OneErrorLine) for f in logger.filters):
        logger.addFilter(_OneErrorLine())


class DirectRecords:
    """Per-window bookmarks and a direct RECORD path, for a singer_sdk.Stream subclass."""

    def _increment_stream_state(self, latest_record, *, context=None) -> None:
        """Bookmarks advance per completed window (`stream.WindowedStream._commit`), not per
        record."""

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
                        and hasattr(tap_of(self).message_writer, "write_record"))
        self._writer = tap_of(self).message_writer
        self._record_prefix = b'{"type":"RECORD","stream":' + msgspec.json.encode(
            self.name) + b',"record":'
        self._mark_extracted()

    def _mark_extracted(self) -> None:
        """time_extracted of the records that follow: when their page was handed over."""
        now = dt.datetime.now(dt.timezone.utc)
        self._extracted_suffix = b',"time_extracted":' + msgspec.json.encode(now) + b"}\n"
