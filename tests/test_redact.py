"""The sharp parts of masking and of one-line logs (tap_nxcloud/redact.py), in-process: every
spelling of a secret found, in texts and in raw bodies, and nothing else; the fragment test that
keeps nearly every page from being walked; the walk without a depth limit; vendor text escaped
and cut; the logging net; the shaper's WARNINGs and the errors' one line."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote, quote_plus

import msgspec
import pytest

from tap_nxcloud import redact
from tap_nxcloud.errors import ApiError, Reported, TapError, TransientError
from tap_nxcloud.redact import MASK, Spellings, mask_tree, name, printable, shown
from tap_nxcloud.responses import Masker
from tap_nxcloud.rows import NAMES_PER_LINE, Shaper

from .hostile import spell

pytestmark = pytest.mark.unit

# letters, digits, the never-escaped -._~, JSON's and URLs' special characters, Latin-1, CJK,
# an astral character (a surrogate pair in JSON)
SECRET = "s3cr+t/sms=é&x <'>\"\\~_.-中😀"
OTHER = "9b8c7d6e5f4a3b2c1d0e9f8a"


def _percent(text: str, upper: bool) -> str:
    return "".join(chr(b) if b < 0x80 and chr(b).isalnum()
                   else (f"%{b:02X}" if upper else f"%{b:02x}") for b in text.encode())


def spellings_of(secret: str) -> dict[str, str]:
    """Every spelling a text may hold: raw, URL-encoded (either case, a form's + for a space),
    each JSON escape, JSON in JSON, Python's bytes."""
    return {
        "raw": secret, "quote": quote(secret, safe=""), "quote /": quote(secret),
        "quote_plus": quote_plus(secret), "percent lower": _percent(secret, False),
        "percent upper": _percent(secret, True), "json": json.dumps(secret)[1:-1],
        "json ascii=False": json.dumps(secret, ensure_ascii=False)[1:-1],
        **{f"json {how}": spell(secret, how) for how in ("gson", "upper", "lower", "mixed",
                                                          "slash")},
        "bytes repr": repr(secret.encode())[2:-1],
    }


@pytest.mark.parametrize("form", sorted(spellings_of(SECRET)))
def test_every_spelling_of_a_secret_is_found_and_masked_in_a_text(form):
    spelled = spellings_of(SECRET)[form]
    found = Spellings([SECRET, OTHER])
    text = f"before {spelled} after"
    assert found.candidates(text) == (0,)
    assert found.scrub(text) == f"before {MASK} after"


@pytest.mark.parametrize("how", ["gson", "upper", "lower", "mixed", "slash"])
def test_a_body_spelling_a_secret_any_json_way_decodes_to_a_masked_value(how):
    body = ('{"code": 0, "rows": [{"a": "key=' + spell(SECRET, how) + '!", "'
            + spell(SECRET, how) + '": 1}]}').encode()
    payload = msgspec.json.decode(body)
    masked = Masker([SECRET, OTHER])(body, payload)
    assert masked == {"code": 0, "rows": [{"a": f"key={MASK}!", MASK: 1}]}


def test_a_text_without_the_secret_is_left_alone_cheaply():
    found = Spellings([SECRET, OTHER])
    # percent escapes and JSON escapes of other characters than a fragment's: not a reason
    body = b'{"url": "x?q=%E4%B8%AD%20%2F", "t": "\\u4e2d\\u00e9 \\/ \\"", "n": "100%"}'
    assert found.candidates(body) == ()
    text = body.decode()
    assert found.scrub(text) is text
    payload = msgspec.json.decode(body)
    assert Masker([SECRET])(body, payload) is payload


def test_a_fragment_hidden_by_escaping_its_letters_is_still_found():
    """Escaping a letter or a digit (which no encoder does unasked) turns the fragment test to
    the unescaped text: `\\u0073` for s, `%73`, and `\\u0025` + 73 (JSON's text of `%73`)."""
    found = Spellings([OTHER])
    for spelled in ("".join(f"\\u{ord(c):04x}" for c in OTHER), _percent(OTHER, False),
                    "".join(f"\\u0025{ord(c):02x}" for c in OTHER)):
        assert found.candidates(spelled.encode()) == (0,), spelled
    body = ('{"a": "' + "".join(f"\\u0025{ord(c):02x}" for c in OTHER) + '"}').encode()
    assert Masker([OTHER])(body, msgspec.json.decode(body)) == {"a": MASK}


def test_the_fragment_is_the_longest_run_never_escaped():
    found = Spellings(["demo-ai-agent-access-secret", "ab+/=cd"])
    assert found._fragments == ["demo-ai-agent-access-secret", "ab"]
    assert Spellings(["+/=+/="])._fragments == [""]  # none: always looked for
    assert Spellings(["+/=+/="]).scrub("x %2B%2f%3D+/= y") == f"x {MASK} y"


def test_short_or_empty_secrets_are_ignored():
    found = Spellings(["", None, "ab", "abc"])
    assert found.values == ["abc"]


def test_the_walk_has_no_depth_limit_and_masks_keys_in_their_order():
    deep: list = []
    inner = deep
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]
    inner.append({"k": f"x{SECRET}y", SECRET: [SECRET], "z": 1, 2.5: None})
    pattern = Spellings([SECRET]).pattern((0,))
    assert mask_tree(deep, pattern) is deep  # in place
    inner = deep
    for _ in range(100_000):
        inner = inner[0]
    assert inner == [{"k": f"x{MASK}y", MASK: [MASK], "z": 1, 2.5: None}]
    assert list(inner[0]) == ["k", MASK, "z", 2.5]
    assert mask_tree(SECRET, pattern) == MASK and mask_tree(5, pattern) == 5


def test_printable_escapes_controls_only_and_is_idempotent():
    text = "a\x1b[31mb\x00c\x07\r\nd\te\x7f\x85\u2028\u202e f 中文 é"
    once = printable(text)
    assert once == "a\\x1b[31mb\\x00c\\x07\\r\\nd\\te\\x7f\\x85\\u2028\\u202e f 中文 é"
    assert printable(once) == once
    plain = "nothing to do 中文"
    assert printable(plain) is plain


def test_shown_is_one_cut_line():
    assert shown("a\n\n  b\tc") == "a b c"
    long = shown("x\x1b" * 1_000_000, 50)
    assert long.endswith("... (2000000 characters)") and len(long) < 80
    assert "\x1b" not in long
    for n in range(40, 60):  # never ends inside an escape
        head = shown("\x00" * 100, n).split("...")[0]
        assert len(head) % 4 == 0 and len(head) <= n


def test_name_escapes_and_cuts_to_80_with_an_ellipsis():
    assert name("plain") == "plain"
    assert name("a\nb") == "a\\nb"
    cut = name("n" * 1_000_000)
    assert cut == "n" * 79 + "…"
    assert len(name("\x1b" * 100)) <= 80


@pytest.fixture
def log_output():
    """A logger writing to a text buffer as the SDK's console handler does, the redacting
    factory installed."""
    redact.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s | %(message)s"))
    logger = logging.getLogger("test-redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def test_the_log_net_escapes_and_masks_every_message(log_output):
    logger, out = log_output
    redact.add_secret(OTHER)
    logger.warning("vendor says %s", f"no\n2026 | ERROR | forged\x1b[2J key={OTHER}")
    logger.info("url %s", "x?secretkey=" + _percent(OTHER, False))
    logger.info("body %s", ('{"secretKey": "' + spell(OTHER, "upper") + '"}').encode())
    logger.error("%s", "y" * 50_000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0] == f"WARNING | vendor says no\\n2026 | ERROR | forged\\x1b[2J key={MASK}"
    assert lines[1] == f"INFO | url x?secretkey={MASK}"
    assert OTHER not in out.getvalue() and spell(OTHER, "upper") not in out.getvalue()
    assert len(lines[3]) < redact.MAX_MESSAGE + 100


def test_a_traceback_keeps_its_lines_and_loses_its_controls(log_output):
    logger, out = log_output
    try:
        raise ValueError(f"bad\x1b[2J {OTHER}")
    except ValueError:
        logger.debug("the failure in full", exc_info=True)
    text = out.getvalue()
    assert "Traceback" in text and len(text.splitlines()) > 2
    assert "\x1b" not in text and "bad\\x1b[2J ***" in text and OTHER not in text


def test_an_error_is_one_line_whatever_it_quotes():
    assert str(ApiError("a\nb\x1bc")) == "a\\nb\\x1bc"
    assert str(TapError("x", 1).args) == "('x', 1)"
    failure = TransientError("code 5 (x\r\ny)", hint="check\x00")
    assert failure.reason == "code 5 (x\\r\\ny)" and failure.hint == "check\\x00"
    assert Reported(["one\ntwo"]).lines == ["one\\ntwo"]


def test_the_shapers_warnings_escape_and_cut_the_vendors_names():
    warnings: list[str] = []
    schema = {"properties": {"id": {"type": "integer"}, "n": {"type": ["integer", "null"]},
                             "extra_fields": {"type": ["object", "null"]}}}
    shape = Shaper("s", schema, {}, {}, ("id",), lambda f, *a: warnings.append(f % a))
    forged = "x\n2026 | ERROR | forged\x1b[2J"
    row = shape({"id": 1, forged: 1, "n" * 1_000_000: 2, "n": "\x1b[31m" + "9" * 500})
    assert row["extra_fields"][forged] == 1  # the data as sent
    assert all("\n" not in w and "\x1b" not in w and len(w) < 1000 for w in warnings), warnings
    undeclared, = (w for w in warnings if "does not declare" in w)
    assert "x\\n2026 | ERROR | forged\\x1b[2J" in undeclared
    assert "n" * 79 + "…" in undeclared
    bad, = (w for w in warnings if "field n of" in w)
    assert "\\x1b[31m" in bad and "characters)" in bad
    many = {f"f{i}": i for i in range(NAMES_PER_LINE + 7)}
    shape({"id": 2, **many})
    assert warnings[-1].count(", ") == NAMES_PER_LINE - 1 and "and 7 more" in warnings[-1]
