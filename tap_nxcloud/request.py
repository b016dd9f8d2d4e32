"""Building one account's requests of one stream: the window's parameters, the page's, the
constant filters and the credential fields, encoded as the API takes them (query string, form or
signed JSON body; docs/nxcloud-api/signing.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import msgspec
import requests

from .accounts import Account
from .spec import Bounds, StreamSpec
from .windows import Window


class RequestBuilder:
    """`params(window)`: a window's query; `build(params)`: the HTTP request that carries it.
    `partition`: a child's parent key, sent as the child's parameter."""

    __slots__ = ("_build", "clock", "partition", "spec")

    def __init__(self, spec: StreamSpec, settings, account: Account, clock,
                 credentials: tuple[str, str], partition: dict | None = None) -> None:
        self.spec, self.clock, self.partition = spec, clock, partition or {}
        self._build = _builder(spec, settings, account, credentials)

    def build(self, params: dict) -> requests.Request:
        return self._build(params)

    def bounds(self, window: Window) -> Bounds:
        enc, day = self.clock.encode, self.clock.day(window.start)
        if self.spec.bounds == "inclusive":  # flash: documented inclusive bounds
            return Bounds(enc(window.start), enc(window.end - 1), day)
        # undocumented inclusiveness: ask one second wider each side, keep [start, end) later
        return Bounds(enc(window.start - 1), enc(window.end), day)

    def query(self, window: Window) -> dict:
        """The window's parameters (none for a stream without windows), a child's parent key."""
        query = self.spec.query(self.bounds(window)) if self.spec.windowed else {}
        if self.spec.child is not None:
            query[self.spec.child.param] = self.partition[self.spec.child.key]
        return query

    def first_params(self, window: Window, *, probe: bool = False) -> dict:
        """The first request of a window (its first variant, page 1); `probe`: the smallest
        page the API takes (only the credentials are being proven)."""
        paging = self.spec.paging
        page = paging.probe_params() if probe else paging.first_params()
        return {**self.query(window), **self.spec.queries[0].params, **page}


def _builder(spec: StreamSpec, settings, account: Account,
             credentials: tuple[str, str]) -> Callable[[dict], requests.Request]:
    options = {o.setting: settings.options[o.setting] for o in spec.options}
    url = f"{account.url(spec)}{spec.path.format(**options)}"
    auth_scheme = spec.auth
    if options and hasattr(auth_scheme, "biz_type"):  # an option may name them
        auth_scheme = dataclasses.replace(auth_scheme,
                                          biz_type=auth_scheme.biz_type.format(**options),
                                          action=auth_scheme.action.format(**options))
    fields = auth_scheme.fields(*credentials)
    auth = auth_scheme.signer(*credentials)
    constant = {**settings.filters(spec), **(account.params(spec) or {})}

    def request(params: dict) -> requests.Request:
        params = {**params, **constant}
        if spec.encoding == "query":
            return requests.Request("GET", url, params={**params, **fields})
        if spec.encoding == "form":
            return requests.Request("POST", url, data={**params, **fields})
        # serialized once: these exact bytes are signed (in the auth hook) and sent; key
        # fields (the email API's) travel in the body too
        body = msgspec.json.encode({**params, **fields})
        return requests.Request("POST", url, data=body, auth=auth,
                                headers={"Content-Type": "application/json"})
    return request
