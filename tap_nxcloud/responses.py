"""Reading an API's answer: its envelope and result codes, checked against the documented shape.

An answer that drifts from its pages (a success code with a text where the rows belong, rows that
are not a list, a total missing or not a count) is an error that names what came, never an empty
page: the bookmark must not move past rows it never saw. A configured secret echoed anywhere in
an answer (the email API echoes `secretKey`) is masked before anything reads it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable, Iterable
from typing import Any

from .errors import ApiError, TransientError
from .http import Answer, json_body
from .redact import Spellings, mask_tree, shown
from .spec import RATE_WINDOW, StreamSpec

MAX_TOTAL = 10**12  # a count of rows beyond this is not a count


def _dig(payload: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(part)
    return payload


def _same_kind(code: Any, like: str | int) -> Any:
    """Codes as the envelope spells them: "0" for 0 where codes are strings, and back."""
    if isinstance(like, int) and isinstance(code, str) and code.lstrip("-").isascii() \
            and code.lstrip("-").isdigit() and len(code) < 20:
        return int(code)
    if isinstance(like, str) and isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    return code


def _kind(value: Any) -> str:
    """What a value is, for a message: its JSON type and a short excerpt."""
    name = {dict: "an object", list: "a list", str: "a text", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
    return f"{name} ({shown(json.dumps(value, ensure_ascii=False, default=str), 80)})"


def count(value: Any) -> int | None:
    """A documented total: a non-negative whole number (or its ASCII digits), else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 13:
        value = int(value)
    if type(value) is int and 0 <= value < MAX_TOTAL:
        return value
    return None


class Masker:
    """Masks every configured secret wherever a decoded answer holds it (texts and keys, at any
    depth), however the answer spelled it (redact.Spellings: raw, percent-encoded, any JSON
    escape). The raw body tells cheaply which secrets it may hold: for nearly every page, none,
    and the decoded answer is not walked at all."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.spellings = Spellings(secrets)

    def __call__(self, body: bytes, payload: Any) -> Any:
        if not self.spellings:
            return payload
        which = self.spellings.candidates(body)
        return mask_tree(payload, self.spellings.pattern(which)) if which else payload


@functools.cache
def masker(secrets: tuple[str, ...]) -> Masker:
    """One Masker per account (its secrets), shared by its lanes: 200 accounts' 2 600 lanes
    would otherwise build 2 600 copies of the same search strings."""
    return Masker(secrets)


class Reader:
    """Turns an answer into (rows, total) or raises TransientError / ApiError (one line)."""

    def __init__(self, spec: StreamSpec, secrets: Iterable[str] = ()) -> None:
        self.spec = spec
        self.env = spec.envelope
        self.success = self.env.codes
        self.keys = tuple(k for k in spec.primary_keys if k not in spec.added_columns)
        key, secret = spec.credentials
        self.fatal_texts = {t: h.format(key=key, secret=secret)
                            for t, h in self.env.fatal_texts.items()}
        self.mask = masker(tuple(secrets))

    def identity(self, row: dict) -> Hashable:
        keys = self.keys
        if len(keys) == 1:
            return str(row[keys[0]])
        return tuple(str(row[k]) for k in keys)

    def __call__(self, answer: Answer) -> tuple[list[dict], int | None]:
        name, env = self.spec.name, self.env
        payload = self.mask(answer.body, json_body(answer, name, self.spec.url_hint))
        if not isinstance(payload, dict):
            raise ApiError(f"{name}: the answer is {_kind(payload)}, not the documented object")
        code = payload.get("code")
        if code is None:
            raise TransientError("HTTP 200 without a result code")
        if not isinstance(code, str | int) or isinstance(code, bool):
            raise ApiError(f"{name}: the answer's code is {_kind(code)}, not a result code")
        code = _same_kind(code, self.success[0])
        message = next((m for m in (payload.get(k) for k in env.message)
                        if isinstance(m, str) and m), "")
        text = message.lower()
        said, said_code = shown(message) or "no message", shown(code, 40)
        # a rate refusal whatever code comes with it: the SIP family says "appkey access rate
        # limit" under "1", its success code elsewhere
        if code in env.too_frequent or any(t in text for t in env.too_frequent_texts):
            raise TransientError(f"code {said_code} ({said})", min_pause=RATE_WINDOW, rate=True)
        if code in self.success:
            if not env.rows:  # the answer itself is the one row (a balance)
                return [{k: v for k, v in payload.items()
                         if k not in ("code", *env.message)}], None
            wrapped = payload.get(env.wrapper) if env.wrapper else None
            if isinstance(wrapped, dict) and env.rows[0] not in payload:
                payload = wrapped  # the rows one level down (the AI agent's `data`)
            holder = _dig(payload, env.rows[:-1])
            if isinstance(holder, str):  # "1" with a text where the rows belong: a refusal
                return self._refused(code, shown(holder) or "an empty text", holder.lower())
            return self._rows(payload, code)
        if code == env.skew_code:
            raise TransientError(f"code {said_code} ({said})", attempts=2, hint="check the "
                                 "system clock: NXCloud rejects a ts more than 60 s from its own")
        if code in env.transient:
            raise TransientError(f"code {said_code} ({said})")
        return self._refused(code, said, text)

    def _refused(self, code: Any, said: str, text: str):
        env = self.env
        hint = env.fatal.get(code) or next(
            (h for t, h in self.fatal_texts.items() if t in text), env.default_hint)
        raise ApiError(f"{self.spec.name}: NXCloud code {shown(code, 40)} ({said}); {hint}")

    def _rows(self, payload: dict, code: Any) -> tuple[list[dict], int | None]:
        name, env = self.spec.name, self.env
        where = ".".join(env.rows)
        rows = _dig(payload, env.rows)
        total = None
        if env.total:
            raw = _dig(payload, env.total)
            total = count(raw)
            if total is None:
                raise ApiError(f"{name}: the answer has the success code {code!r} but its "
                               f"{'.'.join(env.total)} is {_kind(raw)}, not a count of rows")
        if rows is None and total == 0:
            return [], 0
        if not isinstance(rows, list):
            raise ApiError(f"{name}: the answer has the success code {code!r} but its {where} "
                           f"is {_kind(rows)}, not a list of rows")
        for row in rows:
            if not isinstance(row, dict):
                raise ApiError(f"{name}: the answer has a row that is {_kind(row)}, not an "
                               "object")
            if any(row.get(k) in (None, "") or isinstance(row.get(k), dict | list)
                   for k in self.keys):
                keys = shown({k: row.get(k) for k in self.keys}, 120)
                raise ApiError(f"{name}: the API returned a row without a usable "
                               f"{' and '.join(map(repr, self.keys))} ({keys}); rows cannot "
                               "be told apart, so none can be emitted safely")
        return rows, total
