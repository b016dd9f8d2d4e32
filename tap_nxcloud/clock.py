"""Time conversions: setting values, flash-call wall-clock strings, the streams' integer clocks.

Each stream reads time on an integer clock of whole seconds: the contact-center API takes epoch
seconds, the flash-call API takes wall-clock strings of one zone. Flash windows are cut on the wall
clock itself (seconds of the naive local time), so paging compares the same strings the API does
and a DST fall-back hour, which the API cannot tell apart from its twin, is read once, not skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.timezone.utc
WALL_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = dt.datetime(1970, 1, 1)
# A row time is believed between these years; anything else (0, -5, a year 9999 "never") is not a
# time a call or a message happened at, whatever its form.
PLAUSIBLE_YEARS = (2000, 2100)
_MS_RANGE = (int(dt.datetime(PLAUSIBLE_YEARS[0], 1, 1, tzinfo=UTC).timestamp() * 1000),
             int(dt.datetime(PLAUSIBLE_YEARS[1], 1, 1, tzinfo=UTC).timestamp() * 1000))
# The forms NXCloud's endpoints write a wall-clock time in: "2021-04-27 17:02:22" (most), with a
# "T" ("2021-02-23T15:39:51": email), with milliseconds and an explicit offset
# ("2021-04-29T02:52:21.000+0000": the flash-call sibling endpoint, Java's form).
_WALL_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
                      r" ?(Z|z|[+-]\d{2}(?::?\d{2})?)?$")


class SettingError(ValueError):
    """A setting value that cannot be used; the message names the setting."""


def load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            f"timezone: {name!r} is not an IANA time zone name (e.g. Asia/Shanghai, UTC)",
        ) from None


def parse_instant(name: str, value: str, zone: ZoneInfo) -> dt.datetime:
    """A date-time with an offset, or a plain date meaning midnight in `zone`, as aware UTC."""
    text = str(value).strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise SettingError(
            f"{name}: cannot read {text!r}; give an ISO 8601 date-time with an offset "
            "(2024-01-31T00:00:00Z, 2024-01-31T08:00:00+08:00) or a date (2024-01-31)"
        ) from None
    if parsed.tzinfo is None:
        raise SettingError(
            f"{name}: {text!r} has no UTC offset; add one (Z or +08:00) or give a plain date, "
            "which means midnight in `timezone`"
        )
    return parsed.astimezone(UTC)


class EpochClock:
    """Contact-center clock: epoch seconds; bookmarks are RFC 3339 UTC instants."""

    @staticmethod
    def from_instant(instant: dt.datetime) -> int:
        return int(instant.timestamp())

    @staticmethod
    def to_instant(tick: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(tick, UTC)

    @staticmethod
    def encode(tick: int) -> int:
        return tick

    @staticmethod
    def day(tick: int) -> dt.date:
        return EpochClock.to_instant(tick).date()

    @staticmethod
    def bookmark(tick: int) -> str:
        return EpochClock.to_instant(tick).strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def label(tick: int) -> str:
        return EpochClock.bookmark(tick)


def parse_bookmark(value: object) -> dt.datetime:
    """A bookmark as aware UTC: RFC 3339 (any offset), or epoch milliseconds as v0.1 wrote for
    cc_cdrs. Raises ValueError or TypeError for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(type(value).__name__)
    if isinstance(value, int) or value.isdigit():
        return dt.datetime.fromtimestamp(int(value) / 1000, UTC)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no UTC offset")
    return parsed.astimezone(UTC)


def epoch_ms(value: object) -> int | None:
    """A row's epoch-milliseconds time (an integer, or digits in a string), or None when it is
    not one: negative, zero, or outside PLAUSIBLE_YEARS."""
    if type(value) is float and value.is_integer():
        value = int(value)
    elif type(value) is not int:
        if not (isinstance(value, str) and value.isascii() and value.isdigit()
                and len(value) < 20):
            return None
        value = int(value)
    return value if _MS_RANGE[0] <= value < _MS_RANGE[1] else None


def epoch_s(value: object) -> int | None:
    """A row's epoch-seconds time (the AI agent's), or None when it is not a plausible one."""
    ms = epoch_ms(value * 1000 if type(value) is int else
                  (value + "000" if isinstance(value, str) else value))
    return None if ms is None else ms // 1000


class EpochSeconds:
    """Epoch seconds -> RFC 3339 UTC; 0 -> None; ValueError for an implausible time."""

    def __call__(self, seconds: int) -> str | None:
        if not seconds or seconds == "0":
            return None
        value = epoch_s(seconds)
        if value is None:
            raise ValueError("not an epoch-seconds time")
        return dt.datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EpochMillis:
    """Epoch milliseconds -> RFC 3339 UTC with milliseconds; 0 (the API's "never") -> None.

    The date-and-minute prefix is cached: rows come clustered in time, so it nearly always hits.
    Raises ValueError for what is not a plausible epoch-milliseconds time.
    """

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str | None:
        if not ms or ms == "0":  # the API's "never" (an unanswered call's answerTime)
            return None
        ms = epoch_ms(ms)
        if ms is None:
            raise ValueError("not an epoch-milliseconds time")
        seconds, millis = divmod(ms, 1000)
        minute, second = divmod(seconds, 60)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 4096:
                self._minutes.clear()
            prefix = self._minutes[minute] = dt.datetime.fromtimestamp(
                minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        return f"{prefix}{second:02d}.{millis:03d}Z"


class WallClock:
    """The flash-call clock: seconds of the naive wall-clock time of one IANA zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._offsets: dict[str, str] = {}

    def from_instant(self, instant: dt.datetime) -> int:
        naive = instant.astimezone(self.zone).replace(tzinfo=None)
        return int((naive - _EPOCH).total_seconds())

    def to_naive(self, tick: int) -> dt.datetime:
        return _EPOCH + dt.timedelta(seconds=tick)

    def to_instant(self, tick: int) -> dt.datetime:
        # fold=0: in a fall-back hour the earlier of the two instants: a bookmark never jumps ahead
        return self.to_naive(tick).replace(tzinfo=self.zone).astimezone(UTC)

    def wall(self, tick: int) -> str:
        return self.to_naive(tick).strftime(WALL_FORMAT)

    encode = wall

    def day(self, tick: int) -> dt.date:
        return self.to_naive(tick).date()

    def bookmark(self, tick: int) -> str:
        return self.to_naive(tick).replace(tzinfo=self.zone).isoformat()

    def label(self, tick: int) -> str:
        return f"{self.wall(tick)} {self.zone.key}"

    def _offset(self, text: str) -> str | None:
        """The zone's offset at a canonical wall string ("+08:00"), or None when the string is
        not a real, plausible time ("2026-13-45 99:99:99").

        Looked up once per minute of wall-clock time (zone transitions fall on whole minutes) and
        kept in a small cache: rows arrive clustered in time, so it nearly always hits.
        """
        second = text[17:19]
        if not ("00" <= second <= "59" and second.isdigit()):
            return None
        minute = text[:16]
        offset = self._offsets.get(minute)
        if offset is None:
            try:
                moment = dt.datetime.strptime(minute, "%Y-%m-%d %H:%M").replace(tzinfo=self.zone)
            except ValueError:
                return None
            if not PLAUSIBLE_YEARS[0] <= moment.year < PLAUSIBLE_YEARS[1]:
                return None
            offset = moment.isoformat()[19:]
            if len(self._offsets) > 4096:
                self._offsets.clear()
            self._offsets[minute] = offset
        return offset

    def parse(self, text: object) -> dt.datetime | None:
        """Any of the vendor's forms of a time (see _WALL_RE) as an aware datetime: an explicit
        offset is honoured, else the time is of this zone; None when unreadable."""
        match = _WALL_RE.match(text) if isinstance(text, str) else None
        if match is None:
            return None
        y, mo, d, h, mi, sec, frac, offset = match.groups()
        try:
            moment = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec),
                                 int((frac or "0")[:6].ljust(6, "0")))
        except ValueError:
            return None
        if not PLAUSIBLE_YEARS[0] <= moment.year < PLAUSIBLE_YEARS[1]:
            return None
        if offset is None:
            return moment.replace(tzinfo=self.zone)
        if offset in "Zz":
            return moment.replace(tzinfo=UTC)
        digits = offset[1:].replace(":", "").ljust(4, "0")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        if minutes >= 24 * 60:
            return None
        sign = -1 if offset[0] == "-" else 1
        return moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=sign * minutes)))

    def comparable(self, value: object) -> str | None:
        """A row's time as the canonical wall string of this zone, the form windows are compared
        in; None when it cannot be read. The canonical form passes untouched (the hot path)."""
        if type(value) is str and len(value) == 19 and value[10] == " " and value[4] == "-":
            return value if self._offset(value) is not None else None
        moment = self.parse(value)
        if moment is None:
            return None
        if moment.tzinfo is not self.zone:
            moment = moment.astimezone(self.zone)
        return moment.strftime(WALL_FORMAT)

    def rfc3339(self, text: str | None) -> str | None:
        """'2021-04-27 17:02:22' -> '2021-04-27T17:02:22+08:00', with the offset in force then;
        the vendor's other forms keep their fraction and their own offset, if they state one.
        Raises ValueError for a time that cannot be read."""
        if not text:  # null, or "" for a time that has not happened
            return None
        if type(text) is str and len(text) == 19 and text[10] == " ":
            offset = self._offset(text)
            if offset is not None:
                return f"{text[:10]}T{text[11:]}{offset}"
        moment = self.parse(text)
        if moment is None:
            raise ValueError("not a time")
        return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
