"""Keeping secrets out of every output, and vendor text from forging log lines.

Secrets. The flash-call secret travels in the query string, so any URL that reaches a log line
or an exception text carries it (urllib3's DEBUG lines, requests' error messages), and a server
may echo a secret in an answer however JSON lets it write one. `Spellings` finds a secret
however it is spelled: raw, percent-encoded (any characters of it, either hex case, `+` for a
space), JSON-escaped (`\\uXXXX` of any character in either hex case, `\\/`, `\\"`, `\\\\`) or as
Python writes bytes (`\\xc3\\xa9`, `\\'`), a different spelling for each character if need be.
Finding costs a substring test per secret when the text cannot hold one: the characters no encoder
escapes unasked (ASCII letters and digits, `-._~`: "unreserved" in URLs, plain in JSON) stay as
they are in every spelling, or are escaped (`\\u0061`, `%61`), which is rare enough to look for
on its own; so a text holds a secret only if it holds the secret's longest run of such
characters (its fragment), once such escapes are undone. Only then does a regular expression
run. (Nesting one spelling in another, `%2561`, is not undone: a spelling of a spelling.)

Log lines. Redacting at the LogRecord factory covers every logger and every handler, including
ones a user configures with SINGER_SDK_LOG_CONFIG, and tracebacks too, which are rendered and
scrubbed here once. The same factory is the safety net for vendor text: control characters
(ESC, NUL, newlines, bidi overrides) are written escaped, so a message can neither start a line
of its own nor move the cursor, and no message is longer than MAX_MESSAGE characters. The code
that builds a message from vendor text escapes and cuts it itself (`shown`, `name`): the net
keeps what is left readable.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET = 3  # a shorter value would mask half of every answer: not a secret worth the name
MAX_MESSAGE = 10_000  # characters of one log message (the net; messages cut vendor text sooner)

# --- vendor text in a line ----------------------------------------------------------------------
# C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional overrides
# (which reorder what a terminal shows): each written as an escape
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_PARTIAL = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})?")  # an escape cut short


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """The text with every control character escaped (`\\x1b`, `\\n`, `\\u2028`): one line,
    nothing a terminal acts on. Idempotent; other characters (any script) are kept."""
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


def _fit(text: str, limit: int) -> str:
    """At most `limit` characters of an escaped text, not ending inside an escape."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    slash = head.rfind("\\", max(0, limit - 5))
    if slash >= 0 and _PARTIAL.fullmatch(head[slash:]):
        head = head[:slash]
    return head


def shown(text: object, limit: int = 200) -> str:
    """A vendor's (or a library's) text for a one-line message: whitespace runs as one space,
    control characters escaped, cut to `limit` characters with the length it had."""
    text = str(text)
    total = len(text)
    head = printable(" ".join(text[:limit * 2 + 1].split()))  # enough of a text of megabytes
    if total <= limit * 2 and len(head) <= limit:
        return head
    return f"{_fit(head, limit)}... ({total} characters)"


def name(text: object, limit: int = 80) -> str:
    """A vendor's field name (or key) in a message: escaped as `printable`, cut to `limit`
    characters with an ellipsis."""
    text = str(text)
    head = printable(text[:limit + 1])
    return head if len(head) <= limit and len(text) <= limit else _fit(head, limit - 1) + "…"


# --- secrets ------------------------------------------------------------------------------------
_FRAGMENT = re.compile(r"[A-Za-z0-9._~-]+")
# One of those characters written as an escape (JSON or percent), or a percent sign written as
# JSON's `\u0025` (`\u002561` is the JSON text of `%61`, "a" in a URL): no encoder writes these
# unasked, so a text that has none holds a secret's fragment as it is, if it holds the secret
_PLAIN = r"(?:2[dDeE]|3[0-9]|4[1-9a-fA-F]|5[0-9aA]|5[fF]|6[1-9a-fA-F]|7[0-9aAeE])"
_JSON_ESCAPE = r"\\u00(?:" + _PLAIN + r"|25)"
_PERCENT_ESCAPE = "%" + _PLAIN
_JSON_B, _PERCENT_B = re.compile(_JSON_ESCAPE.encode()), re.compile(_PERCENT_ESCAPE.encode())
_JSON_S, _PERCENT_S = re.compile(_JSON_ESCAPE), re.compile(_PERCENT_ESCAPE)


def _hex(value: int, width: int) -> str:
    """`value` in hex digits, either case: 3d -> 3[dD]."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}x}")


def _json_escape(code: int) -> str:
    if code < 0x10000:
        return r"\\u" + _hex(code, 4)
    code -= 0x10000  # a surrogate pair
    return r"\\u" + _hex(0xD800 + (code >> 10), 4) + r"\\u" + _hex(0xDC00 + (code & 0x3FF), 4)


def _char(char: str) -> str:
    """Every spelling of one character, as a regular expression."""
    data, code = char.encode(), ord(char)
    spellings = [re.escape(char), "".join("%" + _hex(b, 2) for b in data), _json_escape(code)]
    if code < 0x20 or code >= 0x7F:
        spellings.append("".join(r"\\x" + _hex(b, 2) for b in data))  # b'...' as Python shows it
    if char == " ":
        spellings.append(r"\+")  # a form body's space
    if char in '/"\\\'':  # JSON's \/ \" \\, Python's \'
        spellings.append(r"\\" + re.escape(char))
    return "(?:" + "|".join(spellings) + ")"


def spelling(secret: str) -> str:
    """A regular expression for every spelling of the secret (see the module docstring)."""
    return "".join(map(_char, secret))


def _fragment(secret: str) -> str:
    """The longest run of characters that are never escaped unasked ("" for a secret without:
    always looked for)."""
    return max(_FRAGMENT.findall(secret), key=len, default="")


def _unescaped(text: str | bytes) -> str | bytes:
    """The text with the escapes of fragments' characters (and JSON's percent signs) undone:
    what a fragment is looked for in."""
    if isinstance(text, bytes):
        text = _JSON_B.sub(lambda m: bytes([int(m.group()[-2:], 16)]), text)
        return _PERCENT_B.sub(lambda m: bytes([int(m.group()[1:], 16)]), text)
    text = _JSON_S.sub(lambda m: chr(int(m.group()[-2:], 16)), text)
    return _PERCENT_S.sub(lambda m: chr(int(m.group()[1:], 16)), text)


class Spellings:
    """A set of secrets: `candidates(text)` (bytes or str) the ones a text may hold, cheaply;
    `pattern(candidates)` the regular expression that finds them; `scrub(text)` both."""

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self.values: list[str] = []
        self._fragments: list[str] = []
        self._fragments_b: list[bytes] = []
        self._patterns: dict[tuple[int, ...], re.Pattern] = {}
        for secret in secrets:
            self.add(secret)

    def add(self, value: Any) -> None:
        value = "" if value is None else str(value)
        if len(value) < MIN_SECRET or value in self.values:
            return
        fragment = _fragment(value)
        self.values.append(value)
        self._fragments.append(fragment)
        self._fragments_b.append(fragment.encode())

    def __bool__(self) -> bool:
        return bool(self.values)

    def candidates(self, text: str | bytes) -> tuple[int, ...]:
        """The secrets `text` may hold (their indexes); () means none, for certain."""
        if isinstance(text, bytes):
            fragments = self._fragments_b
            if (b"\\" in text and _JSON_B.search(text)) or (b"%" in text
                                                           and _PERCENT_B.search(text)):
                text = _unescaped(text)
        else:
            fragments = self._fragments
            if ("\\" in text and _JSON_S.search(text)) or ("%" in text
                                                         and _PERCENT_S.search(text)):
                text = _unescaped(text)
        return tuple(i for i, fragment in enumerate(fragments) if fragment in text)

    def pattern(self, which: tuple[int, ...]) -> re.Pattern:
        found = self._patterns.get(which)
        if found is None:
            values = sorted((self.values[i] for i in which), key=len, reverse=True)
            found = re.compile("|".join(map(spelling, values)))  # the longest first
            if len(self._patterns) > 256:  # many accounts' secrets, in logs: stay bounded
                self._patterns.clear()
            self._patterns[which] = found
        return found

    def scrub(self, text: str) -> str:
        which = self.candidates(text) if self.values else ()
        return self.pattern(which).sub(MASK, text) if which else text


def mask_tree(value: Any, pattern: re.Pattern) -> Any:
    """`value` (decoded JSON) with every match of `pattern` in its texts and keys masked, in
    place where it can be. Iterative: no depth is too deep."""
    search, sub = pattern.search, pattern.sub
    if isinstance(value, str):
        return sub(MASK, value) if search(value) else value
    if not isinstance(value, dict | list):
        return value
    todo = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    if search(item):
                        node[i] = sub(MASK, item)
                elif isinstance(item, dict | list):
                    todo.append(item)
            continue
        renamed = False
        for key, item in node.items():
            if isinstance(item, str):
                if search(item):
                    node[key] = sub(MASK, item)
            elif isinstance(item, dict | list):
                todo.append(item)
            renamed = renamed or (isinstance(key, str) and search(key) is not None)
        if renamed:  # rebuilt in its order
            items = list(node.items())
            node.clear()
            node.update((sub(MASK, k) if isinstance(k, str) else k, v) for k, v in items)
    return value


# --- every log line -----------------------------------------------------------------------------
_registry = Spellings()
_installed = False


def add_secret(value: object) -> None:
    """Register a secret (of any type a config file may hold) for every log line."""
    _registry.add(value)
    install()


def scrub(text: str) -> str:
    """The text with every registered secret masked, however spelled."""
    return _registry.scrub(text)


def clean_line(text: str) -> str:
    """A log message as written: secrets masked, control characters escaped, cut."""
    text = printable(scrub(text))
    return text if len(text) <= MAX_MESSAGE else shown(text, MAX_MESSAGE)


def _clean_block(text: str) -> str:
    """A traceback or stack: its own lines kept, every other control character escaped."""
    return "\n".join(printable(line) for line in scrub(text).split("\n"))


def install() -> None:
    """The LogRecord factory that cleans every message (idempotent)."""
    global _installed  # noqa: PLW0603
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a caller's bad format: the handler reports it, as without us
            return record
        clean = clean_line(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = _clean_block(
                "".join(traceback.format_exception(*record.exc_info)).rstrip())
        if record.stack_info:
            record.stack_info = _clean_block(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
