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

from .accounts import Account
from .accounts import parse as parse_accounts
from .clock import UTC, SettingError, load_zone, parse_instant
from .spec import NXLINK_REGIONS
from .streams import STREAMS


def _names(specs) -> str:
    names = [s.name for s in specs]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def _product_settings() -> list[th.Property]:
    """Credentials, URL overrides, account parameters and options of every product, from the
    stream specs (each once, whichever streams share it)."""
    out, seen = [], set()

    def add(name: str, *args, **kwargs) -> None:
        if name not in seen:
            seen.add(name)
            out.append(th.Property(name, *args, **kwargs))
    for spec in STREAMS:
        key, secret = spec.credentials
        users = [s for s in STREAMS if s.credentials == spec.credentials]
        add(key, th.StringType, description=f"{spec.label} {key.rsplit('_', 2)[-2]} key. "
            f"Without it {_names(users)} {'are' if len(users) > 1 else 'is'} skipped.")
        add(secret, th.StringType, secret=True, description=f"{spec.label} secret" + (
            " (signs requests; never sent)." if spec.auth.signer("k", "s")
            else " (sent in the request, never logged)."))
        for name, param in spec.params.items():
            needing = [s for s in STREAMS if name in s.params]
            add(name, th.StringType, description=f"Sent as `{param}`: {_names(needing)} "
                f"{'need' if len(needing) > 1 else 'needs'} it (skipped without it).")
        url_users = [s for s in STREAMS if s.api_url_setting == spec.api_url_setting]
        region = " (or the `nxlink_region` gateway)" if spec.nxlink else ""
        fallbacks = ", else ".join(f"`{name}`" for name in spec.url_settings[1:])
        add(spec.api_url_setting, th.StringType,
            description=f"Base URL for {_names(url_users)} only (a regional gateway). Default: "
                        f"{fallbacks}, else{region} {spec.host}.")
        for option in spec.options:
            add(option.setting, th.StringType, default=option.default,
                description=option.description)
    return out


def _lookbacks() -> list[th.Property]:
    out, seen = [], set()
    for spec in STREAMS:
        if not spec.lookback_setting or spec.lookback_setting in seen:
            continue
        seen.add(spec.lookback_setting)
        names = [s.name for s in STREAMS if s.lookback_setting == spec.lookback_setting]
        out.append(th.Property(
            spec.lookback_setting, th.IntegerType, default=spec.lookback_minutes,
            description=f"Each incremental run of {' and '.join(names)} re-reads this far before "
                        "the bookmark, for rows that appear or change after the previous run."))
    return out


SCHEMA = th.PropertiesList(
    th.Property("start_date", th.StringType, required=True,
                description="Read records from this instant: an ISO 8601 date-time with an offset "
                            "(2024-01-31T00:00:00Z) or a date, meaning midnight in `timezone`."),
    th.Property("end_date", th.StringType,
                description="Read records before this instant (same formats as start_date). "
                            "Default: now minus `safety_lag_seconds`."),
    th.Property("api_url", th.StringType,
                description="Base URL of every stream (a proxy, the API double). Default: each "
                            "stream's documented host (api.nxcloud.com for SIP, "
                            "api2.nxcloud.com for the others)."),
    th.Property("account", th.StringType,
                description="A short name of this NXCloud account (the one-account form). When "
                            "set, every record carries it in an `account` column, which becomes "
                            "the first key property of every stream, so several accounts can "
                            "share tables."),
    th.Property("accounts", th.ArrayType(th.ObjectType(additional_properties=True)),
                secret=True,
                description="Many key sets in one run, read side by side: a list of objects, "
                            "each `name` (letters, digits, _ and -; the `account` column) plus "
                            "any credential settings and `<product>_api_url`. Every other "
                            "setting is shared. Instead of the one-account settings."),
    th.Property("accounts_file", th.StringType,
                description="Path of a JSON file holding the `accounts` list (a file a secret "
                            "manager writes); instead of `accounts`."),
    th.Property("only_accounts", th.ArrayType(th.StringType),
                description="Read only these accounts of `accounts` (by name): an "
                            "orchestrator's run per account."),
    th.Property("max_parallel_accounts", th.IntegerType, default=8,
                description="Accounts read at once, per stream (each with up to `max_workers` "
                            "windows in flight)."),
    *_product_settings(),
    th.Property("nxlink_region", th.StringType, allowed_values=sorted(NXLINK_REGIONS),
                description="The NXLink regional gateway of the contact center and the AI agent: "
                            + ", ".join(f"{k} {v}" for k, v in NXLINK_REGIONS.items())
                            + ". Default: each product's documented host (the contact center "
                            "api2.nxcloud.com, the AI agent the hk gateway)."),
    th.Property("timezone", th.StringType, default="Asia/Shanghai",
                description="IANA zone of the wall-clock times and dates of the flash-call, "
                            "SMS, voice, SIP and DID APIs (an assumption: see the README for how "
                            "to check it)."),
    *_lookbacks(),
    th.Property("cc_direction", th.IntegerType, allowed_values=[0, 1, 2, 3],
                description="Contact-center filter: 0 all, 1 inbound, 2 outbound, 3 AICC."),
    th.Property("cc_answered", th.IntegerType, allowed_values=[0, 1, 2],
                description="Contact-center filter: 0 all, 1 unanswered, 2 answered."),
    th.Property("safety_lag_seconds", th.IntegerType, default=60,
                description="With no end_date, stop this long before now, so that a second "
                            "still filling is never bookmarked."),
    th.Property("window_minutes", th.IntegerType, default=60,
                description="Size of the first time window; later windows are sized to hold "
                            "about `window_target_rows` rows (SMS and DID: one calendar day)."),
    th.Property("max_window_minutes", th.IntegerType, default=10080,
                description="Largest time window (default 7 days; voice and SIP: at most 24 h)."),
    th.Property("window_target_rows", th.IntegerType, default=2000,
                description="Rows a window aims at (for APIs with pages of 100; scaled up with "
                            "the page size): the most a resumed run reads again."),
    th.Property("max_workers", th.IntegerType, default=4,
                description="Windows fetched at once per stream (1 = sequential)."),
    th.Property("progress_log_seconds", th.NumberType, default=30,
                description="Least time between two progress lines (rows so far, window reached) "
                            "of a long sync."),
    th.Property("request_timeout", th.NumberType, default=60,
                description="Seconds a whole request may take (connect, headers, body) before it "
                            "is retried."),
    th.Property("max_retries", th.IntegerType, default=6,
                description="Retries of a failing request before the sync stops. A host that "
                            "refuses the connection and has not answered yet in the run is "
                            "tried twice, 1 s apart, then named with its URL setting."),
    th.Property("backoff_base_seconds", th.NumberType, default=2,
                description="First retry delay; doubled on each retry, with jitter."),
    th.Property("backoff_max_seconds", th.NumberType, default=120,
                description="Longest retry delay (also the cap on a Retry-After header)."),
    th.Property("max_response_mb", th.IntegerType, default=16,
                description="Largest answer the tap reads, in MB after decompression (NXCloud's "
                            "largest pages are about 1 MB); a bigger one is cut off while it is "
                            "read and stops the stream with one line."),
    th.Property("reconcile_tolerance", th.IntegerType, default=0,
                description="Messages an SMS day's records may differ from the SMS app's own "
                            "statement (submit_size) before a WARNING says so."),
    th.Property("fail_on_mismatch", th.BooleanType, default=False,
                description="When a window's rows differ from NXCloud's own count: hold that "
                            "window's bookmark (the next run reads it again) and end the run "
                            "with exit 1 once every other window is read. Default: a WARNING "
                            "and a `sync_audit` row only."),
).to_dict()

SECRETS = tuple(dict.fromkeys(spec.secret_setting for spec in STREAMS))
_PAIRS = tuple(dict.fromkeys(spec.credentials for spec in STREAMS))
_POSITIVE = ("progress_log_seconds", "window_minutes", "max_window_minutes",
             "window_target_rows", "max_workers", "request_timeout", "backoff_max_seconds",
             "max_response_mb", "max_parallel_accounts")
_NON_NEGATIVE = ("safety_lag_seconds", "max_retries", "backoff_base_seconds",
                 "reconcile_tolerance",
                 *(spec.lookback_setting for spec in STREAMS if spec.lookback_setting))
_URLS = ("api_url", *dict.fromkeys(spec.api_url_setting for spec in STREAMS))


@dataclass(frozen=True)
class Settings:
    config: dict
    start: dt.datetime
    end: dt.datetime
    zone: ZoneInfo
    accounts: tuple[Account, ...]
    named: bool  # the `accounts` form: isolation between accounts, state partitions
    parallel_accounts: int
    window_seconds: int
    max_window_seconds: int
    target_rows: int
    workers: int
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_max: float
    progress_every: float
    max_response_bytes: int

    def value(self, name: str):
        value = self.config.get(name)
        return SCHEMA["properties"][name].get("default") if value is None else value

    def secret_values(self) -> list[str]:
        """Every configured secret: none may reach a record, a state or a log line."""
        return [s for account in self.accounts for s in account.secrets()]

    @property
    def account(self) -> str | None:
        """The `account` column's value of the one-account form (None: no column)."""
        return None if self.named else self.accounts[0].name

    @property
    def has_account_column(self) -> bool:
        return self.named or self.accounts[0].name is not None

    def lookback(self, spec) -> dt.timedelta:
        return dt.timedelta(minutes=self.value(spec.lookback_setting))

    def filters(self, spec) -> dict:
        return {param: self.config[name] for name, param in spec.filters.items()
                if self.config.get(name) is not None}

    def url_source(self, account: Account, spec) -> str | None:
        """The setting that holds the base URL a lane of `spec` for `account` uses, as a message
        names it ("api_url", "cc_api_url of account acme", "nxlink_region"); None: the
        documented host."""
        for name in spec.url_settings:
            if self.named and account.values.get(name):
                return f"{name} of account {account.name}"
            if self.config.get(name):
                return name
        if spec.nxlink and self.config.get("nxlink_region"):
            return "nxlink_region"
        return None

    def url_sources(self) -> dict[str, str]:
        """Each host the run's lanes may connect to -> the setting(s) that put it there (hosts
        from no setting, the documented ones, left out)."""
        found: dict[str, list[str]] = {}
        for account in self.accounts:
            for spec in STREAMS:
                source = self.url_source(account, spec)
                host = urlsplit(account.url(spec)).netloc
                if source and host and source not in found.setdefault(host, []):
                    found[host].append(source)
        return {host: " or ".join(names) for host, names in found.items()}


def _type_errors(config: dict, schema: dict) -> list[str]:
    """Each setting of the wrong type, named (never its value: it may be a secret). `schema`:
    the tap's whole settings schema, the SDK's own settings (stream maps, flattening) too."""
    errors = []
    for name, spec in schema["properties"].items():
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
        elif "boolean" in kinds and not isinstance(value, bool):
            errors.append(f"{name} must be true or false")
        elif "object" in kinds and not isinstance(value, dict):
            errors.append(f"{name} must be an object")
        elif "array" in kinds and not isinstance(value, list):
            errors.append(f"{name} must be a list")
        elif "string" in kinds and not isinstance(value, str):
            errors.append(f"{name} must be a string")
        elif "enum" in spec and value not in spec["enum"]:
            errors.append(f"{name} must be one of {', '.join(map(str, spec['enum']))}")
    return errors


def parse(config: dict, schema: dict | None = None) -> Settings:
    """Validate a config dict; raises SettingError with every problem on one line."""
    errors = _type_errors(config, schema or SCHEMA)
    if errors:
        raise SettingError("; ".join(errors))
    get = config.get
    for name in _POSITIVE:
        if get(name) is not None and get(name) <= 0:
            errors.append(f"{name} must be greater than 0")
    for name in _NON_NEGATIVE:
        if get(name) is not None and get(name) < 0:
            errors.append(f"{name} must not be negative")
    accounts, named = [], False
    try:
        accounts, named = parse_accounts(config)
    except SettingError as exc:
        errors.append(str(exc))
    if not named:
        for key, secret in _PAIRS:
            if bool(get(key)) != bool(get(secret)):
                have, lack = (key, secret) if get(key) else (secret, key)
                errors.append(f"{have} is set but {lack} is not; set both or neither")
        if not any(get(key) and get(secret) for key, secret in _PAIRS):
            errors.append("no credentials: set the key and secret of at least one product ("
                          + ", ".join(f"{k}/{s}" for k, s in _PAIRS) + "), or accounts")
    for name in _URLS:
        parts = urlsplit(get(name) or "https://x")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(f"{name} must be an http(s) URL such as https://api2.nxcloud.com")
    account = get("account")
    if account is not None and not account.strip():
        errors.append("account must not be empty (leave it unset for a single account)")
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
        config=dict(config), start=start, end=end, zone=zone, accounts=tuple(accounts),
        named=named, parallel_accounts=num("max_parallel_accounts"),
        window_seconds=60 * num("window_minutes"),
        max_window_seconds=60 * num("max_window_minutes"),
        target_rows=num("window_target_rows"), workers=num("max_workers"),
        timeout=float(num("request_timeout")), max_retries=num("max_retries"),
        backoff_base=float(num("backoff_base_seconds")),
        backoff_max=float(num("backoff_max_seconds")),
        progress_every=float(num("progress_log_seconds")),
        max_response_bytes=num("max_response_mb") << 20,
    )
