"""The form endpoints (SMS, voice, SIP): `application/x-www-form-urlencoded` bodies carrying
`appkey` and `secretkey` ("use http forms, not json", say the vendor pages), and the
{"code", "info"} envelope, whose failure `info` is a text."""

from __future__ import annotations

import json
from typing import ClassVar
from urllib.parse import parse_qs

from .core import Endpoint, Reply, Request, join

FORM = "application/x-www-form-urlencoded"
SECRETS = ("appkey", "secretkey")


def form_fields(req: Request) -> dict[str, str] | None:
    """The form's fields (first value of each), or None when the body is not a form."""
    kind = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind != FORM:
        return None
    try:
        text = req.body.decode()
    except UnicodeDecodeError:
        return None
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


class FormEndpoint(Endpoint):
    ok = "1"  # the success code; failures are given per reason in `refusals`
    keys: tuple[str, str] = ("", "")  # the Credentials attributes of appkey and secretkey
    required: tuple[str, ...] = ()
    refusals: ClassVar[dict[str, tuple[str, str]]] = {}  # reason -> (code, info text)
    keyless = b"{}"  # a row without its key fields, for the `badrow` fault

    def params(self, req: Request) -> dict:
        fields = form_fields(req) or {}
        return {k: v for k, v in fields.items() if k not in SECRETS}

    def answer(self, double, req: Request) -> Reply:
        # the rate limit comes first: the gateway counts what arrives, valid or not
        if double.too_frequent(self.stream, req.arrived):
            return self.refuse("rate")
        fields = form_fields(req)
        if fields is None or any(not fields.get(n) for n in (*SECRETS, *self.required)):
            return self.refuse("params")
        key, secret = (getattr(double.credentials, a) for a in self.keys)
        if fields["appkey"] != key or fields["secretkey"] != secret:
            return self.refuse("keys")
        return self.query(double, fields)

    def query(self, double, fields: dict[str, str]) -> Reply:
        raise NotImplementedError

    def refuse(self, reason: str) -> Reply:
        code, text = self.refusals[reason]
        return self.failure(code, text)

    @staticmethod
    def failure(code: str, text: str) -> Reply:
        return Reply(code, json.dumps({"code": code, "info": text}).encode())

    def page(self, total: int, page: int, size: int, blobs: list[bytes]) -> Reply:
        head = f'{{"code":"{self.ok}","info":{{"total":{total},"page":{page},"pageSize":{size},'
        return Reply(self.ok, head.encode() + b'"rows":' + join(blobs) + b"}}")

    def busy(self, double) -> Reply:
        return self.refuse("rate")

    def badrow(self) -> Reply:
        return self.page(1, 1, 1, [self.keyless])

    def code(self, code: str) -> Reply:
        return self.failure(code, f"injected error {code}")


class SmsAppForm(FormEndpoint):
    """The SMS app's other APIs (statement, balance): its keys, success "0", its refusals."""

    ok = "0"
    keys = ("sms_app_key", "sms_app_secret")
    refusals: ClassVar = {"params": ("1", "params invalid"), "keys": ("2", "keys invalid"),
                          "rate": ("5", "api request times invalid")}
