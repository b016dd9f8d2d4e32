"""What the endpoints' row generators share: a seeded clock, wall-clock strings, phone numbers, and
the hard text real data carries.

Each endpoint module generates its own rows (`rows(...)`), deterministically from a seed, in the
canonical types of its contract; wall-clock times are "yyyy-MM-dd HH:mm:ss" in the double's zone.
`Table` (table.py) keeps them.
"""

from __future__ import annotations

import datetime as dt
import random

WALL = "%Y-%m-%d %H:%M:%S"

NAMES = [(None, None), ("NX094450006938", "Sample Agent"), ("NX0001", "牛小信"),
         ("NX0002", "Zoë Müller-Łukasiewicz"), ("NX0003", "José Ñúñez"), ("NX0004", "李雷 🎧"),
         ("NX0005", 'Tom "T" Lee')]
COUNTRIES = [("62", "Indonesia"), ("91", "India"), ("55", "Brasil"), ("852", "Hong Kong"),
             ("84", "Việt Nam"), ("66", "Thailand"), ("52", "México")]

# Text that breaks naive loaders: quotes, backslashes, line breaks, tabs, separators, NULL
# markers, scripts of every width, and one long value. Real agents' nicknames, SMS bodies and
# hang-up texts carry all of these; every generator puts some in its text fields.
HARD_TEXTS = (
    'Tom "T" Lee', '"', '""', "'", "it's \"quoted\"", "\\", "C:\\path\\to\\file", '\\"',
    "\\N", "NULL", "null", "line one\nline two", "crlf\r\nend", "lone\rcr", "tab\tseparated",
    "a,b;c|d", "  padded  ", "牛小信：您好，“引号”",  # noqa: RUF001 (real Chinese punctuation)
    "李雷 🎧👍🏽", "עברית ومرحبا", "Zoë Müller-Łukasiewicz",
    "<b>&amp;</b>", "{\"json\": [1, 2]}", "%s %d {0}", "x" * 3000 + " long text end",
)
HARD_EVERY = 7  # about one text field in this many carries a hard value
REMARK_EVERY = 50  # about one row in this many carries `remark`, a field no schema declares
UNDECLARED = {"on": True}  # the CLI's --no-undeclared-fields turns `remark` off (a demo's calm)


def hard(rng: random.Random, usual: str | None) -> str | None:
    """A text field's value: usually `usual`, sometimes one of HARD_TEXTS."""
    return rng.choice(HARD_TEXTS) if rng.randrange(HARD_EVERY) == 0 else usual


def remark(rng: random.Random, row: dict) -> dict:
    """Now and then a field NXCloud adds tomorrow (it must land in `extra_fields`): an object
    holding hard text, or a plain hard text."""
    if rng.randrange(REMARK_EVERY) == 0 and UNDECLARED["on"]:
        text = rng.choice(HARD_TEXTS)
        row["remark"] = {"note": text, "tags": ["a\"b", "c\nd"]} if rng.random() < 0.5 else text
    return row


def clock(rng: random.Random, n: int, start: str, span_seconds: int) -> list[dt.datetime]:
    """n sorted naive datetimes in [start, start + span_seconds)."""
    base = dt.datetime.strptime(start, WALL)
    offsets = sorted(rng.randrange(max(1, span_seconds)) for _ in range(n))
    return [base + dt.timedelta(seconds=o) for o in offsets]


def wall(t: dt.datetime | None) -> str | None:
    return t.strftime(WALL) if t is not None else None


def later(t: dt.datetime, seconds: int) -> dt.datetime:
    return t + dt.timedelta(seconds=seconds)


def number(rng: random.Random, cc: str) -> str:
    return f"{cc}{rng.randrange(10**8, 10**10)}"


def unset(rng: random.Random) -> str | None:
    """A time not (yet) known: the API writes null or ""."""
    return None if rng.random() < 0.5 else ""
