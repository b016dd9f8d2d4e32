"""Singer message output: msgspec encoding, buffered, with stdout flushed at STATE messages.

singer-sdk's writers flush stdout after every message, and with PYTHONUNBUFFERED set (as on these
machines, and often under schedulers) stdout has no buffer at all: a system call per record.
Flushing when a STATE message goes out keeps what matters (a STATE never reaches the target before
the records it covers, and nothing is held back at a checkpoint) at a fraction of the cost.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import sys

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import RecordMessage

_encode = msgspec.json.Encoder().encode


class BufferedWriter(MsgSpecWriter):
    _stdout: object = None
    _out = None

    def _stream(self):
        if sys.stdout is self._stdout:
            return self._out
        out = sys.stdout.buffer
        if isinstance(out, io.RawIOBase):  # unbuffered stdout: give it a buffer of our own
            out = io.BufferedWriter(out, 1 << 16)
            atexit.register(self._flush_quietly, out)
        self._stdout, self._out = sys.stdout, out
        return out

    @staticmethod
    def _flush_quietly(stream: io.BufferedWriter) -> None:
        with contextlib.suppress(ValueError, OSError):
            stream.flush()

    def write_message(self, message) -> None:
        out = self._stream()
        out.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            out.flush()

    def write_record(self, prefix: bytes, record: dict, suffix: bytes) -> None:
        """A RECORD line from pre-encoded parts: `{"type":"RECORD","stream":...,"record":` and
        `,"time_extracted":...}` around the record, as the SDK's message would serialize."""
        self._stream().write(prefix + _encode(record) + suffix)
