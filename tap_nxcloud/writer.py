"""Singer message output: msgspec encoding, buffered, with stdout flushed at STATE messages.

singer-sdk's writers flush stdout after every message, and with PYTHONUNBUFFERED set (as on these
machines, and often under schedulers) stdout has no buffer at all: a system call per record.
Flushing when a STATE message goes out keeps what matters (a STATE never reaches the target before
the records it covers, and nothing is held back at a checkpoint) at a fraction of the cost.

When the target goes away (it crashed, or `| head` had enough), a write fails with EPIPE: that
becomes `OutputClosed`, one line and a stop, after fd 1 is pointed at /dev/null so that nothing,
the interpreter's own flush at exit included, writes into the closed pipe again.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import select
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import StateMessage
from singer_sdk.singerlib.encoding.simple import RecordMessage

from .errors import OutputClosed

_encode = msgspec.json.Encoder().encode
_GONE = (BrokenPipeError, ConnectionResetError)  # a pipe's reader, or a socket's peer, left


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # replaced (tests) or closed
        return None


def output_closed() -> NoReturn:
    """Silence stdout for good (the recipe of the Python docs on SIGPIPE) and stop."""
    fd = _stdout_fd()
    if fd is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    raise OutputClosed


def check_output() -> None:
    """Raise OutputClosed when stdout is a pipe whose reader has gone: lets a tap that is not
    writing (a stalled API, a long retry pause) notice without a write."""
    fd = _stdout_fd()
    if fd is None:
        return
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR and POLLHUP are always reported
    with contextlib.suppress(OSError):
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
            output_closed()


def flush_stdout() -> None:
    """Flush whatever is buffered, raising OutputClosed if the reader has gone."""
    try:
        sys.stdout.flush()
    except _GONE:
        output_closed()


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
        try:
            out.write(self.format_message(message))
            if not isinstance(message, RecordMessage):
                out.flush()
        except _GONE:
            output_closed()

    def write_line(self, line: bytes | bytearray) -> None:
        """An encoded message, flushed (a STATE)."""
        out = self._stream()
        try:
            out.write(line)
            out.flush()
        except _GONE:
            output_closed()

    def write_record(self, prefix: bytes, record: dict | bytes, suffix: bytes) -> None:
        """A RECORD line from pre-encoded parts: `{"type":"RECORD","stream":...,"record":` and
        `,"time_extracted":...}` around the record (a dict, or already encoded: `encoded_pages`),
        as the SDK's message would serialize."""
        try:
            body = record if isinstance(record, bytes) else _encode(record)
            self._stream().write(prefix + body + suffix)
        except _GONE:
            output_closed()


def encoded_pages(pages_of: Callable[[Any], Iterator[list[dict]]],
                  ) -> Callable[[Any], Iterator[list[bytes]]]:
    """Pages whose rows are encoded as they will be written, when fetched: rows waiting for
    their turn (a stream's budget of them, full whenever the fetching outpaces the writing)
    take a fifth of the memory of the dicts (200 accounts' SMS: 23 MB of dicts)."""
    def pages(window):
        for page in pages_of(window):
            yield [_encode(row) for row in page]
    return pages


class StateWriter:
    """Writes a STATE message unless it is the one last written, compared by a digest of its
    encoded line: the SDK's writer compares against a deep copy of the last state, which for
    200 accounts is megabytes of dicts copied at every STATE."""

    def __init__(self, writer: BufferedWriter) -> None:
        self._writer = writer
        self._last: bytes | None = None

    def write_state(self, state: dict) -> None:
        # the SDK's msgspec writer encodes every message into one shared bytearray: digest it
        # now, write it before anything else is encoded
        line = self._writer.format_message(StateMessage(value=state))
        digest = hashlib.blake2b(line, digest_size=16).digest()
        if digest != self._last:
            self._writer.write_line(line)
            self._last = digest
