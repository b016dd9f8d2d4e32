"""The key sets a run reads: one account (the flat credential settings), or many (`accounts`,
`accounts_file`), each an NXCloud application's or customer's keys under a short name.

Every other setting is shared by all accounts. Each account's rows carry its name in the
`account` column (the first key), and its bookmarks live in the stream's state partition
`{"account": name}`. Checks here run before any request and end in one line naming the entry and
the field, never quoting a value (secrets).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import redact
from .clock import SettingError
from .spec import NXLINK_REGIONS
from .streams import STREAMS

CREDENTIALS = tuple(dict.fromkeys(name for spec in STREAMS for name in spec.credentials))
URLS = tuple(dict.fromkeys(spec.api_url_setting for spec in STREAMS))
PARAMS = tuple(dict.fromkeys(name for spec in STREAMS for name in spec.params))  # cc_tenant_id
ENTRY_FIELDS = ("name", *CREDENTIALS, *URLS, *PARAMS)
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Account:
    """One key set. `name` None: the one-account form without the `account` setting (no
    `account` column, bookmarks at the stream's level, as before accounts existed)."""

    name: str | None
    values: Mapping[str, Any]  # its credential and URL settings
    shared: Mapping[str, Any] = field(default_factory=dict)  # the run's config (api_url)

    def credentials(self, spec) -> tuple[str, str] | None:
        key, secret = (self.values.get(name) for name in spec.credentials)
        return (str(key), str(secret)) if key and secret else None

    def url(self, spec) -> str:
        """The stream's base URL: the first of its URL settings set (the account's value, else
        the run's: its own, its product's, `api_url`: a proxy, the double), else for NXLink
        products the `nxlink_region` gateway, else the documented host."""
        url = next((v for name in spec.url_settings
                    for v in (self.values.get(name), self.shared.get(name)) if v), None)
        region = self.shared.get("nxlink_region")
        if not url and spec.nxlink and region:
            url = NXLINK_REGIONS[region]
        return str(url or spec.host).rstrip("/")

    def params(self, spec) -> dict[str, Any] | None:
        """The account settings the stream sends (cc_tenant_id as tenantId); None when one is
        missing (the stream is then skipped for this account)."""
        values = {param: self.values.get(name) for name, param in spec.params.items()}
        return None if any(v in (None, "") for v in values.values()) else values

    def secrets(self) -> list[str]:
        return [str(self.values[s.secret_setting]) for s in STREAMS
                if self.values.get(s.secret_setting)]

    @property
    def label(self) -> str:
        """How messages name the account ("" for the unnamed one)."""
        return f"account {self.name}" if self.name is not None else ""

    @property
    def context(self) -> dict | None:
        """The account's state partition."""
        return {"account": self.name} if self.name is not None else None


MAX_FILE_BYTES = 1 << 20  # accounts_file: 1 MiB, some 1 500 accounts of every product's keys


def entries(config: Mapping[str, Any]) -> list | None:
    """The raw `accounts` list, from the setting or the file; None for the one-account form."""
    listed, path = config.get("accounts"), config.get("accounts_file")
    if listed is not None and path:
        raise SettingError("set accounts or accounts_file, not both")
    if not path:
        return listed
    found = _files.get(str(path))
    if found is None:
        found = _files[str(path)] = _load(str(path))
    if isinstance(found, SettingError):
        raise SettingError(str(found))
    return found


# accounts_file, read once a run: a FIFO or /dev/fd/N (a secret manager's pipe, bash's <(...))
# can be read once only, and a file replaced between two reads would run with secrets never
# registered for masking. A path's outcome (its list, or the error that ends the run) is kept.
_files: dict[str, list | SettingError] = {}


def _load(path: str) -> list | SettingError:
    """The file's list, its secrets registered for masking before anything else sees it."""
    try:
        with Path(path).expanduser().open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # /dev/zero: 1 MiB, not all the memory
    except OSError as exc:
        return SettingError(f"accounts_file: cannot read {path} ({exc.strerror or exc})")
    if len(data) > MAX_FILE_BYTES:
        return SettingError(f"accounts_file: {path} is larger than {MAX_FILE_BYTES >> 20} MiB, "
                            "the most an accounts file may hold; is it the right file?")
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return SettingError(f"accounts_file: {path} is not UTF-8 text")
    except ValueError as exc:
        return SettingError(f"accounts_file: {path} is not JSON ({exc.msg} at line "
                            f"{exc.lineno})")
    if not isinstance(value, list):
        return SettingError(f"accounts_file: {path} must hold a JSON list of accounts")
    for secret in _entry_secrets(value):
        redact.add_secret(secret)
    return value


def _entry_secrets(listed: list) -> list:
    secrets = [s.secret_setting for s in STREAMS]
    return [entry.get(n) for entry in listed if isinstance(entry, dict) for n in secrets]


def parse(config: Mapping[str, Any]) -> tuple[list[Account], bool]:
    """The accounts of a run and whether they are the named-accounts form; raises SettingError
    (one line) for anything an entry or the mix of forms gets wrong."""
    listed = entries(config)
    flat = [n for n in (*CREDENTIALS, "account") if config.get(n) not in (None, "")]
    if listed is None:
        if config.get("only_accounts") is not None:
            raise SettingError("only_accounts needs accounts or accounts_file")
        name = config.get("account")
        return [Account(name, dict(config), config)], False
    if flat:
        raise SettingError("set either accounts (or accounts_file) or the one-account settings "
                           f"({', '.join(flat)}), not both")
    if not isinstance(listed, list) or not listed:
        raise SettingError("accounts must be a non-empty list of objects")
    accounts, seen = [], set()
    for i, entry in enumerate(listed):
        where = f"accounts[{i}]"
        if not isinstance(entry, dict):
            raise SettingError(f"{where} must be an object")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise SettingError(f"{where}: name must be 1 to 64 letters, digits, _ or -")
        where = f"{where} ({name})"
        if name in seen:
            raise SettingError(f"{where}: the name is used twice")
        seen.add(name)
        unknown = sorted(set(entry) - set(ENTRY_FIELDS))
        if unknown:
            raise SettingError(f"{where}: unknown field {unknown[0]} (an entry takes name, the "
                               "credential settings, the products' URL settings and "
                               f"{', '.join(PARAMS)}; every other setting is shared)")
        for key, value in entry.items():
            if not isinstance(value, str):
                raise SettingError(f"{where}: {key} must be a string")
        for spec in STREAMS:
            key, secret = spec.credentials
            if bool(entry.get(key)) != bool(entry.get(secret)):
                have, lack = (key, secret) if entry.get(key) else (secret, key)
                raise SettingError(f"{where}: {have} is set but {lack} is not")
        if not any(entry.get(k) for k, _ in (s.credentials for s in STREAMS)):
            raise SettingError(f"{where}: no credentials (set the key and secret of at least "
                               "one product)")
        accounts.append(Account(name, {k: v for k, v in entry.items() if k != "name"}, config))
    only = config.get("only_accounts")
    if only is not None:
        if not isinstance(only, list) or not only or not all(isinstance(n, str) for n in only):
            raise SettingError("only_accounts must be a non-empty list of account names")
        unknown = [n for n in only if n not in seen]
        if unknown:
            raise SettingError(f"only_accounts: no account named {unknown[0]!r} in accounts")
        accounts = [a for a in accounts if a.name in set(only)]
    return accounts, True


def raw_secrets(config: Mapping[str, Any]) -> list[str]:
    """Every secret the config holds, in any form of it, read before any check (which may fail
    and log): so that nothing is ever printed unmasked. The accounts file's are those of the
    one read the run makes (see `_files`)."""
    found = [config.get(s.secret_setting) for s in STREAMS]
    try:
        listed = entries(config) or []
    except SettingError:
        listed = []
    found += _entry_secrets(listed) if isinstance(listed, list) else []
    return list(dict.fromkeys(str(v) for v in found if v not in (None, "")))
