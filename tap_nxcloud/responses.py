"""Reading an API's answer: its envelope, its result codes, and rows fit to page and bookmark."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import requests

from .errors import ApiError, TransientError
from .http import json_body
from .spec import RATE_WINDOW, StreamSpec


def _dig(payload: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(part)
    return payload


def _same_kind(code: Any, like: str | int) -> Any:
    """Codes as the envelope spells them: "0" for 0 where codes are strings, and back."""
    if isinstance(like, int) and isinstance(code, str) and code.lstrip("-").isdigit():
        return int(code)
    if isinstance(like, str) and isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    return code


class Reader:
    """Turns a response into (rows, total) or raises TransientError / ApiError (one line)."""

    def __init__(self, spec: StreamSpec, credentials: tuple[str, str]) -> None:
        self.spec = spec
        self.env = spec.envelope
        variant_keys = {k for v in spec.queries for k in v.columns}
        self.keys = tuple(k for k in spec.primary_keys if k not in variant_keys)
        self.rk = spec.replication_key
        self.wall = spec.clock == "wall"
        key, secret = spec.credentials
        self.fatal_texts = {t: h.format(key=key, secret=secret)
                            for t, h in self.env.fatal_texts.items()}

    def identity(self, row: dict) -> Hashable:
        keys = self.keys
        if len(keys) == 1:
            return str(row[keys[0]])
        return tuple(str(row[k]) for k in keys)

    def __call__(self, response: requests.Response) -> tuple[list[dict], int | None]:
        name, env = self.spec.name, self.env
        payload = json_body(response, name)
        code = _same_kind(payload.get("code"), env.success) if isinstance(payload, dict) \
            else None
        if code == env.success:
            rows = _dig(payload, env.rows) or []
            total = _dig(payload, env.total) if env.total else None
            if not isinstance(rows, list) or (total is not None and not str(total).isdigit()):
                raise TransientError("HTTP 200 with a success code but no rows or total")
            return self._usable(rows), None if total is None else int(total)
        if code is None:
            raise TransientError("HTTP 200 without a result code")
        message = next((m for m in (payload.get(k) for k in env.message)
                        if isinstance(m, str) and m), "no message")
        text = message.lower()
        if code == env.skew_code:
            raise TransientError(f"code {code} ({message})", attempts=2, hint="check the system "
                                 "clock: NXCloud rejects a ts more than 60 s from its own")
        if code in env.too_frequent or any(t in text for t in env.too_frequent_texts):
            raise TransientError(f"code {code} ({message})", min_pause=RATE_WINDOW)
        if code in env.transient:
            raise TransientError(f"code {code} ({message})")
        hint = env.fatal.get(code) or next(
            (h for t, h in self.fatal_texts.items() if t in text), env.default_hint)
        raise ApiError(f"{name}: NXCloud code {code} ({message}); {hint}")

    def _usable(self, rows: list) -> list[dict]:
        """Rows must carry their key and a replication key of the expected form: paging and
        bookmarks depend on them, so anything else is refused with one clear line."""
        rk, wall = self.rk, self.wall
        for row in rows:
            value = row.get(rk) if isinstance(row, dict) else None
            if not wall and isinstance(value, str) and value.isdigit():
                value = row[rk] = int(value)  # epoch ms sent as a string
            ok = (isinstance(value, str) and len(value) == 19 and value[10] == " ") if wall \
                else (type(value) is int)
            if not ok or any(row.get(k) in (None, "") for k in self.keys):
                shown = {k: row.get(k) for k in (*self.keys, rk)} if isinstance(row, dict) \
                    else row
                raise ApiError(f"{self.spec.name}: the API returned a row without a usable "
                               f"{' and '.join(map(repr, (*self.keys, rk)))} ({shown}); cannot "
                               "page or bookmark safely")
        return rows
