"""Keeping secrets out of every log line, at every level, from every library.

The flash-call secret travels in the query string, so any URL that reaches a log line or an
exception text carries it (urllib3's DEBUG lines, requests' error messages). Redacting at the
LogRecord factory covers every logger and every handler, including ones a user configures with
SINGER_SDK_LOG_CONFIG, and tracebacks too, which are rendered and scrubbed here once.
"""

from __future__ import annotations

import logging
import traceback
from urllib.parse import quote, quote_plus

MASK = "***"
_secrets: list[str] = []
_installed = False


def add_secret(value: object) -> None:
    """Register a secret (of any type a config file may hold); URL-encoded forms are masked too."""
    value = "" if value is None else str(value)
    if len(value) < 3:
        return
    for form in {value, quote(value, safe=""), quote_plus(value), quote(value)}:
        if form not in _secrets:
            _secrets.append(form)
    _secrets.sort(key=len, reverse=True)  # mask the longest form first
    install()


def scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install() -> None:
    global _installed  # noqa: PLW0603
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not _secrets:
            return record
        message = record.getMessage()
        clean = scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip())
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
