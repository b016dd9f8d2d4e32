"""Nothing of the project points outside the repository.

The vendor's pages and the project's old notes were kept outside the repository; what the code
relies on is now in docs/nxcloud-api/, in the project's own words, and every comment or document
points there. This test fails on any tracked file (CHANGELOG.md excepted: it is history) that
still names the old notes, the vendor page copies or the folder they lived in; and on a link to a
docs/nxcloud-api/ page, or a section of one, that does not exist.

The patterns are written so that this file does not match them itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "nxcloud-api"
EXEMPT = {"CHANGELOG.md"}
OUTSIDE = re.compile("|".join([
    # the old notes and the folder that held them
    r"NOTES[.]md", r"NEXT[-]STREAMS", r"MORE[-]STREAMS", r"[.][.]/shared", r"shared/nx[c]loud",
    r"/work/shar[e]d",
    # the vendor page copies: their folders and their file names
    r"vendor[-]20\d\d", r"cc[-]cdr-query", r"flash[-]call-cdr-query",
    r"api[-]interface-invocation-convention", r"balance[-]inquiry[.]md",
    r"email[-]record-query[.]md", r"flash[-]call-single-record", r"query[-]did-number-call",
    r"sip[-]cdr-by-order-id[.]md", r"sip[-]cdr-query[.]md", r"sms[-]record-query[.]md",
    r"sms[-]statement-report[.]md", r"sms[-]delivery-receipt-callback", r"voice[-]record-query",
    r"voice[-]receipt-callback", r"ai[-]agent-openapi-20", r"nxai[-]bot-openapi-fragments",
]))
# a link to a page of ours: from anywhere by path, or between the pages by name
BY_PATH = re.compile(r"docs/nxcloud-api/([\w.-]+[.]md)(?:#([\w-]+))?")
BY_NAME = re.compile(r"\]\(([\w.-]+[.]md)(?:#([\w-]+))?\)")


def _tracked() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    paths = [ROOT / p for p in listed.decode().split("\0") if p]
    # the pages themselves too, tracked or not yet
    return sorted({*(p for p in paths if p.is_file()), *DOCS.glob("*.md")})


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", _text(page), re.MULTILINE)}


def test_no_tracked_file_points_outside_the_repository():
    found = []
    for path in _tracked():
        rel = path.relative_to(ROOT).as_posix()
        if rel in EXEMPT:
            continue
        for number, line in enumerate(_text(path).splitlines(), 1):
            match = OUTSIDE.search(line)
            if match:
                found.append(f"{rel}:{number}: {match.group(0)!r} in {line.strip()[:120]}")
    assert not found, ("these point outside the repository; point them at docs/nxcloud-api/ "
                       "instead:\n" + "\n".join(found))


def test_links_to_the_api_pages_resolve():
    assert (DOCS / "README.md").is_file()
    broken = []
    for path in _tracked():
        rel = path.relative_to(ROOT).as_posix()
        text = _text(path)
        links = [(m, DOCS) for m in BY_PATH.finditer(text)]
        if path.parent == DOCS:
            links += [(m, DOCS) for m in BY_NAME.finditer(text)]
        for match, folder in links:
            page, anchor = folder / match.group(1), match.group(2)
            if not page.is_file():
                broken.append(f"{rel}: {match.group(0)} (no such page)")
            elif anchor and anchor not in _anchors(page):
                broken.append(f"{rel}: {match.group(0)} (no such section)")
    assert not broken, "\n".join(broken)
