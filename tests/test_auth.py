"""The signature schemes (tap_nxcloud/auth.py): the vectors of docs/nxcloud-api/signing.md, and
the bytes signed are the bytes sent."""

from __future__ import annotations

import json

import pytest
import requests

from tap_nxcloud.auth import CCSignedAuth, cc_signature

pytestmark = pytest.mark.unit


VECTORS = [  # docs/nxcloud-api/signing.md
    ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
    ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
    ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
]


@pytest.mark.parametrize(("body", "sign"), VECTORS)
def test_signature_vectors(body, sign):
    assert cc_signature("fme2na3kdi3ki", "abciiiko2k3", "1655710885431", body.encode(),
                        biz_type="1", action="send") == sign


def test_auth_signs_the_bytes_sent_with_a_fresh_ts_each_time():
    times = iter([1655710885.431, 1655710890.0])
    auth = CCSignedAuth("fme2na3kdi3ki", "abciiiko2k3", clock=lambda: next(times))
    body = VECTORS[0][0].encode()
    req = requests.Request("POST", "http://127.0.0.1/x", data=body, auth=auth)
    first = requests.Session().prepare_request(req)
    second = requests.Session().prepare_request(req)
    assert first.body == body
    assert first.headers["ts"] == "1655710885431" and second.headers["ts"] == "1655710890000"
    assert first.headers["sign"] == cc_signature("fme2na3kdi3ki", "abciiiko2k3",
                                                 "1655710885431", body)
    assert first.headers["sign"] != second.headers["sign"]
    assert "abciiiko2k3" not in json.dumps(dict(first.headers))
