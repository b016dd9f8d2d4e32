"""The tap's settings: their schema (what --about prints) and their validation into `Settings`.

Validation happens here, before any request, and its messages name the setting but never quote a
secret: singer-sdk's own JSON Schema messages echo the offending value, so they are not used.
Every setting the tap acts on is a typed field of `Settings`, checked here. A setting the tap does
not know (a key of the config, a TAP_NXCLOUD_* variable, a key of an `accounts` entry) is one
WARNING naming the setting it most likely misspells (an error with `strict_settings`); its value
is never shown, as it may be a secret.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from singer_sdk import typing as th
from singer_sdk.helpers import capabilities as sdk_capabilities

from .accounts import ENTRY_FIELDS, NAME, Account
from .accounts import entries as account_entries
from .accounts import parse as parse_accounts
from .clock import UTC, SettingError, load_zone, parse_instant
from .http import cut
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
    th.Property("retention_warn_hours", th.IntegerType, default=48,
                description="A stream's retention margin (hours from its bookmark to the oldest "
                            "record NXCloud still keeps: voice 7 days, SIP 15, SMS 31) below "
                            "which a WARNING names the stream, the account and the time by "
                            "which the next run must start. 48 h: a missed daily run and a "
                            "weekend still leave a day."),
    th.Property("fail_on_retention_loss", th.BooleanType, default=False,
                description="When records fell out of NXCloud's retention before this run "
                            "could read them (an ERROR line names the range lost): end the run "
                            "with exit 1, after reading what is still there."),
    th.Property("strict_settings", th.BooleanType, default=False,
                description="Refuse to run (exit 1) when the config, a TAP_NXCLOUD_* variable "
                            "read with `--config ENV` or an `accounts` entry holds a setting the "
                            "tap does not know (a misspelling). Default: a WARNING naming it and "
                            "the setting it most likely means."),
).to_dict()

SECRETS = tuple(dict.fromkeys(spec.secret_setting for spec in STREAMS))
_PAIRS = tuple(dict.fromkeys(spec.credentials for spec in STREAMS))
_PARTNER = {a: b for pair in _PAIRS for a, b in (pair, pair[::-1])}  # key <-> secret
_POSITIVE = ("progress_log_seconds", "window_minutes", "max_window_minutes",
             "window_target_rows", "max_workers", "request_timeout", "backoff_max_seconds",
             "max_response_mb", "max_parallel_accounts")
_NON_NEGATIVE = ("safety_lag_seconds", "max_retries", "backoff_base_seconds",
                 "reconcile_tolerance", "retention_warn_hours",
                 *(spec.lookback_setting for spec in STREAMS if spec.lookback_setting))
_URLS = ("api_url", *dict.fromkeys(spec.api_url_setting for spec in STREAMS))
_LOOKBACKS = tuple(dict.fromkeys(s.lookback_setting for s in STREAMS if s.lookback_setting))
_OPTIONS = {o.setting: o.default for spec in STREAMS for o in spec.options}
_FILTERS = tuple(dict.fromkeys(name for spec in STREAMS for name in spec.filters))


def _sdk_settings() -> frozenset[str]:
    """Every setting singer-sdk's built-in capabilities define (stream maps, flattening, BATCH,
    ACTIVATE_VERSION, a target's), read from the installed package: the SDK understands them,
    so none is reported as unknown, whether or not this tap declares the capability."""
    return frozenset(name for value in vars(sdk_capabilities).values()
                     if isinstance(value, dict) and isinstance(value.get("properties"), dict)
                     for name in value["properties"])


SDK_SETTINGS = _sdk_settings()
KNOWN = frozenset(SCHEMA["properties"]) | SDK_SETTINGS
ENV_PREFIX = "TAP_NXCLOUD_"
# TAP_NXCLOUD_<NAME> variables that are not settings: singer-sdk's log level. Meltano's own
# (TAP_NXCLOUD__SELECT, an inherit_from child's TAP_NXCLOUD__ACME_...) start with a second _.
_ENV_NOT_SETTINGS = frozenset({"LOGLEVEL"})
BATCH_REFUSED = ("batch_config: tap-nxcloud writes RECORD messages, not BATCH files: its rows "
                 "are already encoded as the lines it writes (README: Memory), which BATCH files "
                 "would hold as JSON strings; remove batch_config")


@dataclass(frozen=True)
class Unknown:
    """A name the tap does not know, where it was found, and the one it most likely misspells
    (None: nothing close). Its value is never kept: it may be a secret."""

    name: str  # as written: a config key, a TAP_NXCLOUD_* variable, an entry's key
    guess: str | None  # the setting (or entry field) it most likely means
    where: str = ""  # "accounts[0] (acme): " for an entry's key
    env: bool = False  # a variable: the guess is shown as one too
    what: str = "a setting of tap-nxcloud"

    @property
    def shown_guess(self) -> str | None:
        if self.guess is None:
            return None
        return ENV_PREFIX + self.guess.upper() if self.env else self.guess

    def __str__(self) -> str:
        hint = (f"; did you mean {self.shown_guess}?" if self.guess
                else " (tap-nxcloud --about lists them)")
        return f"{self.where}{self.name}: not {self.what}{hint}"

    def misspelling(self) -> str:
        return f"{self.where}{self.name} looks like a misspelling of {self.shown_guess}"


def closest(name: str, known) -> str | None:
    """The known name `name` most likely misspells (case and - for _ first, then difflib)."""
    plain = name.strip().lower().replace("-", "_")
    if plain in known:
        return plain
    found = difflib.get_close_matches(plain, sorted(known), n=1, cutoff=0.75)
    return found[0] if found else None


def unknown_settings(config: Mapping, env: Mapping[str, str] | None = None) -> list[Unknown]:
    """The config's keys the tap does not know, then (`env`: the environment, read when the
    CLI was given `--config ENV`) its TAP_NXCLOUD_* variables that name no setting."""
    found = [Unknown(str(key), closest(str(key), KNOWN)) for key in config if key not in KNOWN]
    for var in sorted(env or ()):
        rest = var[len(ENV_PREFIX):]
        if (not var.startswith(ENV_PREFIX) or rest.startswith("_") or rest in _ENV_NOT_SETTINGS
                or rest.lower() in KNOWN):
            continue
        found.append(Unknown(var, closest(rest, KNOWN), env=True))
    return found


def _entry_label(i: int, entry: dict) -> str:
    name = entry.get("name")
    return f"accounts[{i}] ({name}): " if isinstance(name, str) and NAME.fullmatch(name) \
        else f"accounts[{i}]: "


def _checked_entries(config: Mapping) -> tuple[list | None, list[Unknown], list[str]]:
    """The `accounts` entries (from the setting or the file) without the keys that are no
    setting at all, each reported (a shared setting in an entry stays: accounts.parse refuses
    it, as its value would silently not apply); and the errors of a misspelled credential whose
    partner is set."""
    listed = account_entries(config)
    if not isinstance(listed, list):
        return listed, [], []
    kept, unknown, errors = [], [], []
    for i, entry in enumerate(listed):
        if not isinstance(entry, dict):
            kept.append(entry)
            continue
        where, clean = _entry_label(i, entry), {}
        for key, value in entry.items():
            if key in ENTRY_FIELDS or key in KNOWN:
                clean[key] = value
                continue
            item = Unknown(str(key), closest(str(key), ENTRY_FIELDS), where,
                           what="a field of an accounts entry")
            partner = _PARTNER.get(item.guess)
            if partner and entry.get(partner) and not entry.get(item.guess):
                errors.append(f"{item.misspelling()}: {partner} is set but {item.guess} is not")
            else:
                unknown.append(item)
        kept.append(clean)
    return kept, unknown, errors


def misnamed_secrets(config: Mapping) -> list[str]:
    """Values under a name the tap does not know that looks like a secret's (sms_app_secert):
    masked in every log line like the real ones, though no message of the tap shows them."""
    def secretish(key: object, known) -> bool:
        return "secret" in str(key).lower() or closest(str(key), known) in SECRETS
    found = [v for k, v in config.items() if k not in KNOWN and secretish(k, KNOWN)]
    try:
        listed = account_entries(config) or []
    except SettingError:
        listed = []
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict):
            found += [v for k, v in entry.items()
                      if k not in ENTRY_FIELDS and secretish(k, ENTRY_FIELDS)]
    return [str(v) for v in found if isinstance(v, str | int) and v not in ("", None)]


class ConfigError(SettingError):
    """Invalid settings (one line); `warnings`: what would have been WARNINGs (shown too)."""

    def __init__(self, errors: list[str], warnings: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.warnings = warnings


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
    end_date_set: bool = False  # end_date given: the range is closed (else: now - lag)
    fail_on_mismatch: bool = False
    reconcile_tolerance: int = 0
    retention_warn_hours: int = 48
    # every account name the config lists (only_accounts reads some of them): state partitions
    # of any other account are stale
    configured_accounts: frozenset[str] = frozenset()
    fail_on_retention_loss: bool = False
    strict_settings: bool = False
    lookback_minutes: Mapping[str, int] = field(default_factory=dict)  # by lookback setting
    options: Mapping[str, str] = field(default_factory=dict)  # every Option, default applied
    request_filters: Mapping[str, int] = field(default_factory=dict)  # the filters set
    warnings: tuple[str, ...] = ()  # one WARNING line each (unknown settings, a future start)

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
        return dt.timedelta(minutes=self.lookback_minutes[spec.lookback_setting])

    def filters(self, spec) -> dict:
        return {param: self.request_filters[name] for name, param in spec.filters.items()
                if name in self.request_filters}

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


def parse(config: dict, schema: dict | None = None, env: Mapping[str, str] | None = None,
          now: dt.datetime | None = None) -> Settings:
    """Validate a config dict; raises ConfigError with every problem on one line. `env`: the
    environment when the CLI read settings from it (`--config ENV`), for its unknown names."""
    errors = _type_errors(config, schema or SCHEMA)
    if errors:
        raise ConfigError(errors, [])
    get = config.get
    strict = get("strict_settings") is True
    if get("batch_config") is not None or ENV_PREFIX + "BATCH_CONFIG" in (env or ()):
        errors.append(BATCH_REFUSED)
    unknown = unknown_settings(config, env)
    # a name that misspells a setting left unset: the error about that setting names it
    typos = {u.guess: u for u in unknown if u.guess and get(u.guess) in (None, "")}
    used: list[Unknown] = []

    def typo_of(name: str, text: str) -> str:
        typo = typos.get(name)
        if typo is None:
            return text
        used.append(typo)
        return f"{typo.misspelling()}: {text}"
    for name in _POSITIVE:
        if get(name) is not None and get(name) <= 0:
            errors.append(f"{name} must be greater than 0")
    for name in _NON_NEGATIVE:
        if get(name) is not None and get(name) < 0:
            errors.append(f"{name} must not be negative")
    accounts, named, configured = [], False, frozenset()
    try:
        listed, in_entries, entry_errors = _checked_entries(config)
        configured = frozenset(e.get("name") for e in listed or [] if isinstance(e, dict))
        unknown += in_entries
        errors += entry_errors
        if not entry_errors:
            plain = config if listed is None else {**config, "accounts": listed,
                                                   "accounts_file": None}
            accounts, named = parse_accounts(plain)
    except SettingError as exc:
        errors.append(str(exc))
    if not named and get("accounts") is None and not get("accounts_file"):
        halves = [(key, secret) if get(key) else (secret, key) for key, secret in _PAIRS
                  if bool(get(key)) != bool(get(secret))]
        for have, lack in halves:
            errors.append(typo_of(lack, f"{have} is set but {lack} is not; set both or neither"))
        # a pair set by half already says what is missing
        if not halves and not any(get(key) and get(secret) for key, secret in _PAIRS):
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
    now = now or dt.datetime.now(UTC)
    try:
        zone = load_zone(get("timezone") or "Asia/Shanghai")
    except SettingError as exc:
        errors.append(str(exc))
    if zone is not None:
        if not get("start_date"):
            errors.append(typo_of("start_date", "start_date is required"))
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
                end = now - dt.timedelta(seconds=60 if lag is None else lag)
        except SettingError as exc:
            errors.append(str(exc))
    if start and end and end < start and get("end_date"):
        errors.append("end_date is before start_date")
    notes = [str(u) for u in unknown if u not in used]
    if strict and notes:
        errors += [f"{line} (strict_settings)" for line in notes]
        notes = []
    if start is not None and start > now:
        notes.append(f"start_date {cut(get('start_date'), 60)} is in the future: there is "
                     "nothing to read yet")
    if errors:
        raise ConfigError(errors, notes)

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
        end_date_set=bool(get("end_date")),
        fail_on_mismatch=num("fail_on_mismatch"),
        reconcile_tolerance=num("reconcile_tolerance"),
        retention_warn_hours=num("retention_warn_hours"),
        configured_accounts=configured | {a.name for a in accounts},
        fail_on_retention_loss=num("fail_on_retention_loss"),
        strict_settings=strict,
        lookback_minutes={name: num(name) for name in _LOOKBACKS},
        options={name: str(get(name) or default) for name, default in _OPTIONS.items()},
        request_filters={name: get(name) for name in _FILTERS if get(name) is not None},
        warnings=tuple(notes),
    )

