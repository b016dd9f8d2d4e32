"""Credentials on the wire: the contact-center MD5 signature and the flash-call query parameters."""

from __future__ import annotations

import hashlib
import time

import requests

CC_BIZ_TYPE = "8"  # the vendor page's header table says 6; its text and newer docs say 8 (NOTES.md)
CC_ACTION = "cc"


def cc_signature(access_key: str, secret: str, ts: str, body: bytes,
                 biz_type: str = CC_BIZ_TYPE, action: str = CC_ACTION) -> str:
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


class CCSignedAuth(requests.auth.AuthBase):
    """Signs each prepared request at send time.

    requests calls an auth object once per `Session.send` preparation, and this tap prepares every
    attempt anew, so each retry gets a fresh `ts` and `sign` (the server allows 60 s of skew).
    """

    def __init__(self, access_key: str, secret: str, clock=time.time) -> None:
        self._access_key = access_key
        self._secret = secret
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):  # never the case for our callers, who pass bytes; be exact anyway
            body = body.encode()
        ts = str(int(self._clock() * 1000))
        request.headers.update({
            "accessKey": self._access_key,
            "ts": ts,
            "bizType": CC_BIZ_TYPE,
            "action": CC_ACTION,
            "sign": cc_signature(self._access_key, self._secret, ts, body),
        })
        return request


def flash_call_params(app_key: str, app_secret: str) -> dict[str, str]:
    """Query parameters that carry the flash-call credentials.

    The vendor page names the secret `secretkey` in its parameter table and `appsecret` in its
    example request; both are sent so that either reading of the server works.
    """
    return {"appkey": app_key, "appsecret": app_secret, "secretkey": app_secret}
