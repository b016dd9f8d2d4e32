"""The README guides, and the documents hold together (issues 24 and 26).

The README stays short, with a table of contents that reaches its sections and every page of
docs/; every relative link of the README and of docs/*.md leads to a file, and to a heading where
it names one; the stream table is the registry's; the paths and commands the documents give
exist; and the API double's documented command fills every registered stream.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from tap_nxcloud.streams import STREAMS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
MAX_README_LINES = 420

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a bash block is no heading)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def _headings(text: str) -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2).strip()) for line in _prose(text)
            if (m := re.match(r"^(#{1,6}) (.+?)\s*#*$", line))]


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation (backticks too) dropped,
    spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for _, title in _headings(_text(path)):
        slug = _slug(title)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(path: Path) -> list[str]:
    """Relative link targets of a page, outside code (fenced or inline)."""
    found = []
    for line in _prose(_text(path)):
        found += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return [t for t in found if not EXTERNAL.match(t)]


def _section(text: str, title: str) -> str:
    lines = _prose(text)
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


# ---- the README's shape ----------------------------------------------------------------------
def test_the_readme_is_short():
    lines = len(_text(README).splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail into docs/")


def test_the_readme_has_one_title_and_no_repeated_section():
    headings = _headings(_text(README))
    assert [t for level, t in headings if level == 1] == ["tap-nxcloud"]
    sections = [t for level, t in headings if level == 2]
    assert len(sections) == len(set(sections)), sections


def test_the_table_of_contents_reaches_every_section_and_every_page():
    text = _text(README)
    contents = _section(text, "Contents")
    targets = LINK.findall(contents)
    anchors = _anchors(README)
    sections = {_slug(t) for level, t in _headings(text) if level == 2} - {"contents"}
    inner = {t[1:] for t in targets if t.startswith("#")}
    assert inner <= anchors, f"contents links to no heading: {sorted(inner - anchors)}"
    assert sections <= inner, f"sections missing from the contents: {sorted(sections - inner)}"
    pages = {p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.md")}
    pages.add("docs/nxcloud-api/README.md")
    linked = {t.split("#")[0] for t in targets if not t.startswith("#")}
    assert pages <= linked, f"pages of docs/ missing from the contents: {sorted(pages - linked)}"


def test_the_two_commands_are_there_and_runnable():
    text = _text(README)
    for command in ("./scripts/demo", "./scripts/test"):
        assert f"\n{command}" in text, command
        script = ROOT / command
        assert script.is_file() and script.stat().st_mode & 0o111, command
    assert "./scripts/test" in _text(ROOT / ".ci" / "run")  # CI runs exactly the README's


# ---- links and paths -------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in _links(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading in {dest.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: " + ", ".join(broken)


# paths the documents name that a run makes (not in a fresh clone)
MADE_BY_A_RUN = ("orchestrate/airflow",)
REPO_PATH = re.compile(r"`((?:scripts|tests|transform|orchestrate|loaders|double|tap_nxcloud|"
                       r"schemas|hub|docs)/[\w./-]*)`")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_repository_path_named_exists(page):
    missing = sorted({p for p in REPO_PATH.findall(_text(page))
                      if not p.startswith(MADE_BY_A_RUN) and not (ROOT / p).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


# ---- the stream table ------------------------------------------------------------------------
def test_the_stream_table_lists_exactly_the_registry():
    text = _text(README)
    table = re.search(r"<!-- streams:start -->\n(.*?)<!-- streams:end -->", text, re.S)
    assert table, "README.md lacks the <!-- streams:start/end --> markers"
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in table.group(1).splitlines()[2:]]
    assert [r[0].strip("`") for r in rows] == [spec.name for spec in STREAMS]
    header = [c.strip() for c in table.group(1).splitlines()[0].strip("|").split("|")]
    keys = header.index("key")
    assert [r[keys] for r in rows] == [", ".join(f"`{k}`" for k in spec.primary_keys)
                                       for spec in STREAMS]


# ---- the API double's documented command -----------------------------------------------------
def test_the_double_s_documented_command_fills_every_stream():
    from nxcloud_double.__main__ import build, parser, served

    block = re.search(r"```bash\n(nxcloud-double[^\n]*)\n", _text(DOCS / "double.md"))
    assert block, "docs/double.md shows no `nxcloud-double` command"
    args = shlex.split(block.group(1).split("#")[0])[1:]
    double, _, windows = build(parser().parse_args([*args, "--port", "0"]))
    try:
        rows = served(double, windows)
    finally:
        double.server.server_close()
    assert set(rows) == {spec.name for spec in STREAMS}
    assert all(rows.values()), {s: n for s, n in rows.items() if not n}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
