"""The tap's settings: their schema (what --about prints) and their validation into `Settings`.

Validation happens here, before any request, and its messages name the setting but never quote a
secret: singer-sdk's own JSON Schema messages echo the offending value, so they are not used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from singer_sdk import typing as th

from .clock import UTC, SettingError, load_zone, parse_instant

DEFAULT_API_URL = "https://api2.nxcloud.com"

SCHEMA = th.PropertiesList(
    th.Property("api_url", th.StringType, default=DEFAULT_API_URL,
                description="Base URL of the NXCloud API (NXCloud has regional gateways)."),
    th.Property("start_date", th.StringType, required=True,
                description="Read calls from this instant: an ISO 8601 date-time with an offset "
                            "(2024-01-31T00:00:00Z) or a date, meaning midnight in `timezone`."),
    th.Property("end_date", th.StringType,
                description="Read calls before this instant (same formats as start_date). "
                            "Default: now minus `safety_lag_seconds`."),
    th.Property("flash_call_app_key", th.StringType,
                description="Flash-call application key. Without it the flash_call_cdrs stream "
                            "is skipped."),
    th.Property("flash_call_app_secret", th.StringType, secret=True,
                description="Flash-call application secret."),
    th.Property("cc_access_key", th.StringType,
                description="Contact-center access key. Without it the cc_cdrs stream is "
                            "skipped."),
    th.Property("cc_access_secret", th.StringType, secret=True,
                description="Contact-center access secret (signs requests; never sent)."),
    th.Property("timezone", th.StringType, default="Asia/Shanghai",
                description="IANA zone of the flash-call API's wall-clock times (an assumption: "
                            "see the README for how to check it)."),
    th.Property("lookback_minutes", th.IntegerType, default=120,
                description="Each incremental run re-reads this far before the bookmark, for "
                            "calls whose rows appear or change after the previous run."),
    th.Property("cc_direction", th.IntegerType, allowed_values=[0, 1, 2, 3],
                description="Contact-center filter: 0 all, 1 inbound, 2 outbound, 3 AICC."),
    th.Property("cc_answered", th.IntegerType, allowed_values=[0, 1, 2],
                description="Contact-center filter: 0 all, 1 unanswered, 2 answered."),
    th.Property("safety_lag_seconds", th.IntegerType, default=60,
                description="With no end_date, stop this long before now, so that a second "
                            "still filling is never bookmarked."),
    th.Property("window_minutes", th.IntegerType, default=60,
                description="Size of the first time window; later windows are sized to hold "
                            "about `window_target_rows` rows."),
    th.Property("max_window_minutes", th.IntegerType, default=10080,
                description="Largest time window (default 7 days)."),
    th.Property("window_target_rows", th.IntegerType, default=2000,
                description="Rows a window aims at: the most a resumed run reads again."),
    th.Property("max_workers", th.IntegerType, default=4,
                description="Windows fetched at once per stream (1 = sequential)."),
    th.Property("progress_log_seconds", th.NumberType, default=30,
                description="Least time between two progress lines (rows so far, window reached) "
                            "of a long sync."),
    th.Property("request_timeout", th.NumberType, default=60,
                description="Seconds to wait for a response before retrying."),
    th.Property("max_retries", th.IntegerType, default=6,
                description="Retries of a failing request before the sync stops."),
    th.Property("backoff_base_seconds", th.NumberType, default=2,
                description="First retry delay; doubled on each retry, with jitter."),
    th.Property("backoff_max_seconds", th.NumberType, default=120,
                description="Longest retry delay (also the cap on a Retry-After header)."),
).to_dict()

SECRETS = ("flash_call_app_secret", "cc_access_secret")
_PAIRS = (("flash_call_app_key", "flash_call_app_secret"), ("cc_access_key", "cc_access_secret"))
_POSITIVE = ("progress_log_seconds", "window_minutes", "max_window_minutes",
             "window_target_rows", "max_workers", "request_timeout", "backoff_max_seconds")
_NON_NEGATIVE = ("lookback_minutes", "safety_lag_seconds", "max_retries", "backoff_base_seconds")


@dataclass(frozen=True)
class Settings:
    api_url: str
    start: dt.datetime
    end: dt.datetime
    zone: ZoneInfo
    lookback: dt.timedelta
    flash_key: str | None
    flash_secret: str | None
    cc_key: str | None
    cc_secret: str | None
    cc_direction: int | None
    cc_answered: int | None
    window_seconds: int
    max_window_seconds: int
    target_rows: int
    workers: int
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_max: float
    progress_every: float


def _type_errors(config: dict) -> list[str]:
    errors = []
    for name, spec in SCHEMA["properties"].items():
        value = config.get(name)
        if value is None:
            continue
        kinds = spec.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if "integer" in kinds and (isinstance(value, bool) or not isinstance(value, int)):
            errors.append(f"{name} must be a whole number")
        elif "number" in kinds and (isinstance(value, bool)
                                    or not isinstance(value, int | float | Decimal)):
            errors.append(f"{name} must be a number")
        elif "string" in kinds and not isinstance(value, str):
            errors.append(f"{name} must be a string")
        elif "enum" in spec and value not in spec["enum"]:
            errors.append(f"{name} must be one of {', '.join(map(str, spec['enum']))}")
    return errors


def parse(config: dict) -> Settings:
    """Validate a config dict; raises SettingError with every problem on one line."""
    errors = _type_errors(config)
    if errors:
        raise SettingError("; ".join(errors))
    get = config.get
    for name in _POSITIVE:
        if get(name) is not None and get(name) <= 0:
            errors.append(f"{name} must be greater than 0")
    for name in _NON_NEGATIVE:
        if get(name) is not None and get(name) < 0:
            errors.append(f"{name} must not be negative")
    for key, secret in _PAIRS:
        if bool(get(key)) != bool(get(secret)):
            have, lack = (key, secret) if get(key) else (secret, key)
            errors.append(f"{have} is set but {lack} is not; set both or neither")
    if not any(get(key) and get(secret) for key, secret in _PAIRS):
        errors.append("no credentials: set flash_call_app_key and flash_call_app_secret, "
                      "and/or cc_access_key and cc_access_secret")
    api_url = (get("api_url") or DEFAULT_API_URL).rstrip("/")
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append("api_url must be an http(s) URL such as https://api2.nxcloud.com")
    zone = start = end = None
    try:
        zone = load_zone(get("timezone") or "Asia/Shanghai")
    except SettingError as exc:
        errors.append(str(exc))
    if zone is not None:
        if not get("start_date"):
            errors.append("start_date is required")
        else:
            try:
                start = parse_instant("start_date", get("start_date"), zone)
            except SettingError as exc:
                errors.append(str(exc))
        try:
            if get("end_date"):
                end = parse_instant("end_date", get("end_date"), zone)
            else:
                lag = get("safety_lag_seconds")
                end = dt.datetime.now(UTC) - dt.timedelta(seconds=60 if lag is None else lag)
        except SettingError as exc:
            errors.append(str(exc))
    if start and end and end < start and get("end_date"):
        errors.append("end_date is before start_date")
    if errors:
        raise SettingError("; ".join(errors))

    def num(name: str):
        value = get(name)
        return SCHEMA["properties"][name].get("default") if value is None else value

    return Settings(
        api_url=api_url, start=start, end=end, zone=zone,
        lookback=dt.timedelta(minutes=num("lookback_minutes")),
        flash_key=get("flash_call_app_key") or None,
        flash_secret=get("flash_call_app_secret") or None,
        cc_key=get("cc_access_key") or None, cc_secret=get("cc_access_secret") or None,
        cc_direction=get("cc_direction"), cc_answered=get("cc_answered"),
        window_seconds=60 * num("window_minutes"),
        max_window_seconds=60 * num("max_window_minutes"),
        target_rows=num("window_target_rows"), workers=num("max_workers"),
        timeout=float(num("request_timeout")), max_retries=num("max_retries"),
        backoff_base=float(num("backoff_base_seconds")),
        backoff_max=float(num("backoff_max_seconds")),
        progress_every=float(num("progress_log_seconds")),
    )
