"""Every private singer-sdk method the tap overrides, fenced here (tests/test_sdk_private.py
checks that each still exists upstream with the signature relied on, so an SDK upgrade that moves
one fails loudly instead of silently bypassing it)."""

from __future__ import annotations

import datetime as dt

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
                        and hasattr(self._tap.message_writer, "write_record"))
        self._writer = self._tap.message_writer
        self._record_prefix = b'{"type":"RECORD","stream":' + msgspec.json.encode(
            self.name) + b',"record":'
        self._mark_extracted()

    def _mark_extracted(self) -> None:
        """time_extracted of the records that follow: when their page was handed over."""
        now = dt.datetime.now(dt.timezone.utc)
        self._extracted_suffix = b',"time_extracted":' + msgspec.json.encode(now) + b"}\n"
