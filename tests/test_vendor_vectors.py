"""The credential schemes of docs/nxcloud-api/signing.md, checked against the tap's own code.

The vectors are read from the page itself, so a signature changed there, or a change to
`tap_nxcloud/auth.py` (or to a stream's bizType, action or key fields), fails a test here. One test
per scheme: signed headers with a body, signed headers without one, the signer that sets the
headers at send time, and key fields. (test_auth holds the vendor's three example signatures as
constants; these come from the page, with the bodies the tap itself sends.)
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import msgspec
import pytest
import requests

from tap_nxcloud.auth import KeyFields, SignedAuth, SignedHeaders, cc_signature
from tap_nxcloud.streams import STREAMS

pytestmark = pytest.mark.unit

PAGE = Path(__file__).resolve().parents[1] / "docs" / "nxcloud-api" / "signing.md"
TEXT = PAGE.read_text(encoding="utf-8")
NO_BODY = "(none)"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _rows(prefix: str) -> list[list[str]]:
    """The page's table rows whose first cell is <prefix><number> (V1, S2...)."""
    return [_cells(line) for line in TEXT.splitlines()
            if re.match(rf"^\|\s*{prefix}\d+\s*\|", line)]


def _section(heading: str) -> str:
    """The text under a heading of the page, to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#)", TEXT, re.MULTILINE | re.DOTALL)
    assert match, f"signing.md has no heading {heading!r}"
    return match.group(1)


def _code(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


def _body(cell: str) -> bytes:
    return b"" if cell == NO_BODY else _code(cell).encode()


def _recipe(key: str, secret: str, ts: str, biz: str, action: str, body: bytes) -> bytes:
    """The string signed, built as the page describes it (not with the tap's code)."""
    head = f"accessKey={key}&action={action}&bizType={biz}&ts={ts}".encode()
    return head + (b"&body=" + body if body else b"") + f"&accessSecret={secret}".encode()


def _defaults(spec) -> dict[str, str]:
    return {o.setting: o.default for o in spec.options}


VECTORS = _rows("V")  # id, accessKey, accessSecret, ts, bizType, action, body, body from, sign
SIGNERS = _rows("S")  # id, accessKey, accessSecret, clock, bizType, action, body, ts, sign
WITH_BODY = [v for v in VECTORS if v[6] != NO_BODY]
WITHOUT_BODY = [v for v in VECTORS if v[6] == NO_BODY]
SIGNED = [s for s in STREAMS if isinstance(s.auth, SignedHeaders)]
KEYED = [s for s in STREAMS if isinstance(s.auth, KeyFields)]


def test_the_page_holds_its_vectors():
    ids = [v[0] for v in VECTORS]
    assert ids == [f"V{i}" for i in range(1, len(ids) + 1)] and len(ids) >= 13
    assert [s[0] for s in SIGNERS] == [f"S{i}" for i in range(1, len(SIGNERS) + 1)]
    assert len(SIGNERS) >= 3 and WITH_BODY and WITHOUT_BODY
    for row in [*VECTORS, *SIGNERS]:
        assert len(row) == 9, row
        assert HEX32.match(row[8]), row
    # the vendor's worked example is among them, with its published signature
    assert VECTORS[0][4:] == ["1", "send", '`{"name":"牛小信","id":10001}`', "vendor example",
                              "87c3560d3331ae23f1021e2025722354"]


@pytest.mark.parametrize("row", WITH_BODY, ids=[v[0] for v in WITH_BODY])
def test_signed_headers_with_a_body(row):
    vid, key, secret, ts, biz, action, cell, origin, sign = row
    body = _body(cell)
    assert cc_signature(key, secret, ts, body, biz, action) == sign
    assert hashlib.md5(_recipe(key, secret, ts, biz, action, body)).hexdigest() == sign
    if "tap" in origin:  # the tap's serializer writes exactly these bytes for these parameters
        assert msgspec.json.encode(json.loads(body)) == body, vid


@pytest.mark.parametrize("row", WITHOUT_BODY, ids=[v[0] for v in WITHOUT_BODY])
def test_signed_headers_without_a_body(row):
    _, key, secret, ts, biz, action, _, _, sign = row
    signed = f"accessKey={key}&action={action}&bizType={biz}&ts={ts}&accessSecret={secret}"
    assert cc_signature(key, secret, ts, b"", biz, action) == sign
    assert hashlib.md5(signed.encode()).hexdigest() == sign
    # no empty `&body=` part: that would be another signature
    assert hashlib.md5(_recipe(key, secret, ts, biz, action, b"")).hexdigest() == sign
    assert sign != hashlib.md5(
        signed.replace("&accessSecret", "&body=&accessSecret").encode()).hexdigest()


def test_the_string_signed_is_as_shown():
    match = re.search(r"^### The string signed for (V\d+)\n.*?```text\n(.*?)\n```", TEXT,
                      re.MULTILINE | re.DOTALL)
    assert match, "signing.md shows no string signed"
    vid, shown = match.groups()
    _, key, secret, ts, biz, action, cell, _, sign = next(v for v in VECTORS if v[0] == vid)
    assert shown.encode() == _recipe(key, secret, ts, biz, action, _body(cell))
    assert hashlib.md5(shown.encode()).hexdigest() == sign


@pytest.mark.parametrize("row", SIGNERS, ids=[s[0] for s in SIGNERS])
def test_the_signer_sets_the_headers_at_send_time(row):
    _, key, secret, clock, biz, action, cell, ts, sign = row
    body = _body(cell)
    auth = SignedAuth(key, secret, biz, action, clock=lambda: float(clock))
    request = requests.Request("POST" if body else "GET", "http://127.0.0.1/x",
                               data=body or None, auth=auth)
    prepared = requests.Session().prepare_request(request)
    assert (prepared.body or b"") == body
    headers = prepared.headers
    assert (headers["accessKey"], headers["ts"], headers["bizType"], headers["action"],
            headers["sign"]) == (key, ts, biz, action, sign)
    assert cc_signature(key, secret, ts, body, biz, action) == sign
    assert not any(secret in str(v) for v in headers.values())


def test_every_signed_stream_is_on_the_page_with_a_vector():
    table = {_code(c[0]): (_code(c[1]), _code(c[2]))
             for c in map(_cells, _section("bizType and action per stream").splitlines())
             if c[0].startswith("`")}
    pairs = {(v[4], v[5]) for v in WITH_BODY}
    wanted = {}
    for spec in SIGNED:
        options = _defaults(spec)
        wanted[spec.name] = (spec.auth.biz_type.format(**options),
                             spec.auth.action.format(**options))
        assert wanted[spec.name] in pairs, f"{spec.name}: no vector signs {wanted[spec.name]}"
    assert table == wanted


def test_key_fields_are_as_the_page_says():
    table = {}
    for cells in map(_cells, _section("Key fields").splitlines()):
        if cells[0].startswith("`"):
            fields = [_code(f.strip()) for f in cells[1].split(",")]
            table[_code(cells[0])] = (fields, cells[2])
    got = {spec.name: (list(spec.auth.fields("the key", "the secret")), spec.encoding)
           for spec in KEYED}
    assert table == got
    for spec in KEYED:  # the key under the first name, the secret under every other
        values = list(spec.auth.fields("the key", "the secret").values())
        assert values[0] == "the key" and set(values[1:]) == {"the secret"}
