"""The three ways NXCloud APIs take credentials: query parameters, form fields, signed headers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import requests


def cc_signature(access_key: str, secret: str, ts: str, body: bytes,
                 biz_type: str = "8", action: str = "cc") -> str:
    """Lowercase hex MD5 over the header values in ASCII order of their names, the body, the secret.

    `body` is the exact byte string that is sent; it is appended as bytes so that no re-encoding can
    make the signed text differ from the sent one.
    """
    head = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
    md5 = hashlib.md5(head)
    if body:
        md5.update(b"&body=")
        md5.update(body)
    md5.update(b"&accessSecret=")
    md5.update(secret.encode())
    return md5.hexdigest()


class Auth:
    """A credential scheme: fields added to the query or form, and/or a per-attempt signer."""

    def fields(self, key: str, secret: str) -> dict[str, str]:
        return {}

    def signer(self, key: str, secret: str) -> requests.auth.AuthBase | None:
        return None


@dataclass(frozen=True)
class KeyFields(Auth):
    """App key and secret sent as request fields (flash calls in the query; SMS, voice and SIP in
    the form body, where the vendor says "use http forms, not json")."""

    key: str = "appkey"
    secrets: tuple[str, ...] = ("secretkey",)

    def fields(self, key: str, secret: str) -> dict[str, str]:
        return {self.key: key, **dict.fromkeys(self.secrets, secret)}


@dataclass(frozen=True)
class SignedHeaders(Auth):
    """accessKey/ts/bizType/action/sign headers (docs/nxcloud-api/signing.md); the secret
    itself is never sent."""

    biz_type: str
    action: str

    def signer(self, key: str, secret: str) -> SignedAuth:
        return SignedAuth(key, secret, self.biz_type, self.action)


class SignedAuth(requests.auth.AuthBase):
    """Signs each prepared request at send time.

    requests calls an auth object once per `Session.send` preparation, and this tap prepares every
    attempt anew, so each retry gets a fresh `ts` and `sign` (the server allows 60 s of skew).
    """

    def __init__(self, access_key: str, secret: str, biz_type: str = "8", action: str = "cc",
                 clock=time.time) -> None:
        self._access_key = access_key
        self._secret = secret
        self._biz_type = biz_type
        self._action = action
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):  # never the case for our callers, who pass bytes; be exact anyway
            body = body.encode()
        ts = str(int(self._clock() * 1000))
        request.headers.update({
            "accessKey": self._access_key, "ts": ts, "bizType": self._biz_type,
            "action": self._action,
            "sign": cc_signature(self._access_key, self._secret, ts, body, self._biz_type,
                                 self._action),
        })
        return request


# The names the v0.1 code and the double import.
# the vendor page's header table says 6; its text and newer docs say 8
# (docs/nxcloud-api/contradictions.md#contact-center)
CC_BIZ_TYPE = "8"
CC_ACTION = "cc"
CCSignedAuth = SignedAuth
# The flash-call page names the secret `secretkey` in its table and `appsecret` in its example.
FLASH_KEYS = KeyFields(secrets=("appsecret", "secretkey"))


def flash_call_params(app_key: str, app_secret: str) -> dict[str, str]:
    return FLASH_KEYS.fields(app_key, app_secret)
