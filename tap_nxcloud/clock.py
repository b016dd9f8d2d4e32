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
    """Contact-center clock: epoch seconds; bookmarks are epoch milliseconds like `startTime`."""

    @staticmethod
    def from_instant(instant: dt.datetime) -> int:
        return int(instant.timestamp())

    @staticmethod
    def to_instant(tick: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(tick, UTC)

    @staticmethod
    def bookmark(tick: int) -> int:
        return tick * 1000

    @staticmethod
    def parse_bookmark(value: object) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(value) / 1000, UTC)  # type: ignore[call-overload]

    @staticmethod
    def label(tick: int) -> str:
        return EpochClock.to_instant(tick).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    def bookmark(self, tick: int) -> str:
        return self.to_naive(tick).replace(tzinfo=self.zone).isoformat()

    @staticmethod
    def parse_bookmark(value: object) -> dt.datetime:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def label(self, tick: int) -> str:
        return f"{self.wall(tick)} {self.zone.key}"

    def rfc3339(self, text: str | None) -> str | None:
        """'2021-04-27 17:02:22' -> '2021-04-27T17:02:22+08:00', with the offset in force then.

        The offset is looked up once per minute of wall-clock time (zone transitions fall on whole
        minutes) and kept in a small cache: rows arrive in time order, so it nearly always hits.
        """
        if text is None:
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
