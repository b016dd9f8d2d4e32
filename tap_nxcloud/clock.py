"""Time conversions: setting values, flash-call wall-clock strings, the streams' integer clocks.

Each stream reads time on an integer clock of whole seconds: the contact-center API takes epoch
seconds, the flash-call API takes wall-clock strings of one zone. Flash windows are cut on the wall
clock itself (seconds of the naive local time), so paging compares the same strings the API does
and a DST fall-back hour, which the API cannot tell apart from its twin, is read once, not skipped.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.timezone.utc
WALL_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = dt.datetime(1970, 1, 1)


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


class EpochMillis:
    """Epoch milliseconds -> RFC 3339 UTC with milliseconds; 0 (the API's "never") -> None.

    The date-and-minute prefix is cached: rows come clustered in time, so it nearly always hits.
    """

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str | None:
        if not ms:
            return None
        seconds, millis = divmod(int(ms), 1000)
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

    def rfc3339(self, text: str | None) -> str | None:
        """'2021-04-27 17:02:22' -> '2021-04-27T17:02:22+08:00', with the offset in force then.

        The offset is looked up once per minute of wall-clock time (zone transitions fall on whole
        minutes) and kept in a small cache: rows arrive in time order, so it nearly always hits.
        """
        if not text:  # null, or "" for a time that has not happened
            return None
        if len(text) != 19 or text[10] != " ":
            return dt.datetime.fromisoformat(text).replace(tzinfo=self.zone).isoformat()
        minute = text[:16]
        offset = self._offsets.get(minute)
        if offset is None:
            moment = dt.datetime.fromisoformat(minute + ":00").replace(tzinfo=self.zone)
            offset = moment.isoformat()[19:]
            if len(self._offsets) > 4096:
                self._offsets.clear()
            self._offsets[minute] = offset
        return f"{text[:10]}T{text[11:]}{offset}"
