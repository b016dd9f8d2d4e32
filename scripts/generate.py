"""Regenerate every file derived from the tap's own registry and settings, in one go.

    python scripts/generate.py           # write them
    python scripts/generate.py --check   # exit 1 when one is out of date (the tests run this)

What it writes: the README's settings reference (between <!-- about:start/end -->, from
`tap-nxcloud --about --format=markdown`, its headings moved two levels down so that the README
keeps one title), the README's stream table (between <!-- streams:start/end -->, from the
registry `tap_nxcloud.streams.STREAMS`), docs/data-dictionary.md (scripts/dictionary.py), and
meltano.yml's tap settings (scripts/meltano_settings.py), plus, where present, the Meltano Hub
definition (scripts/hub_definition.py) and the dbt column docs (transform/check_docs.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from tap_nxcloud.streams import STREAMS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# in order: the dbt docs are made from the data dictionary
GENERATORS = ("scripts/dictionary.py", "scripts/meltano_settings.py", "scripts/hub_definition.py",
              "transform/check_docs.py")


def demoted(markdown: str) -> str:
    """`--about`'s markdown with every heading two levels down (`# tap-nxcloud` -> `###`): it
    sits under the README's own `## Settings`, and the README has one title."""
    return re.sub(r"^(#+) ", r"\1## ", markdown, flags=re.M)


def about_markdown() -> str:
    return demoted(subprocess.run([sys.executable, "-m", "tap_nxcloud.cli", "--about",
                                   "--format=markdown"], capture_output=True, text=True,
                                  check=True, cwd=ROOT).stdout.strip())


def readme_with_about(text: str) -> str:
    return re.sub(r"(<!-- about:start -->\n).*?(<!-- about:end -->)",
                  lambda m: f"{m.group(1)}{about_markdown()}\n\n{m.group(2)}", text, flags=re.S)


# ---- The README's stream table, from the registry -------------------------------------------
STREAM_COLUMNS = ("stream", "kind", "product", "endpoint", "key", "replication key", "paging",
                  "window", "NXCloud keeps", "rate limit", "credentials")


def _code(names) -> str:
    return ", ".join(f"`{n}`" for n in names) or "-"


def _num(n: int) -> str:
    return f"{n:,}".replace(",", " ")  # 1 000, as the docs write numbers


def stream_row(spec) -> list[str]:
    """One stream's row: what its StreamSpec says, nothing written by hand."""
    kind = f"child of `{spec.child.parent}`" if spec.child else spec.kind.replace("_", " ")
    paging = type(spec.paging).__name__
    if paging != "Single":
        paging += f", {_num(spec.paging.size)} a page"
    if not spec.windowed:
        window, keeps = "none", "-"
    else:
        window = spec.window + (f", at most {spec.max_window_seconds / 3600:g} h"
                                if spec.max_window_seconds else "")
        keeps = f"{spec.retention_days} days" if spec.retention_days else "not stated"
    if spec.min_interval:
        rate = f"1 request / {spec.min_interval:g} s per {spec.rate_scope.replace('ip', 'IP')}"
    elif spec.envelope.too_frequent:
        rate = "not stated; code " + " or ".join(map(str, spec.envelope.too_frequent)) + (
            " when too frequent")
    else:
        rate = "not stated"
    return [f"`{spec.name}`", kind, spec.label, f"`{spec.method} {spec.path}`",
            _code(spec.primary_keys), _code([spec.replication_key] if spec.replication_key
                                             else []),
            paging, window, keeps, rate, _code([*spec.credentials, *spec.params])]


def streams_table() -> str:
    lines = ["| " + " | ".join(STREAM_COLUMNS) + " |", "|" + " --- |" * len(STREAM_COLUMNS)]
    lines += ["| " + " | ".join(stream_row(spec)) + " |" for spec in STREAMS]
    return "\n".join(lines)


def readme_with_streams(text: str) -> str:
    return re.sub(r"(<!-- streams:start -->\n).*?(<!-- streams:end -->)",
                  lambda m: f"{m.group(1)}{streams_table()}\n{m.group(2)}", text, flags=re.S)


README_PARTS = {"settings": ("settings reference", readme_with_about, "about"),
                "streams": ("stream table", readme_with_streams, "streams")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true")
    p.add_argument("--only", action="append", metavar="PART",
                   choices=[*README_PARTS, *(Path(g).stem for g in GENERATORS)],
                   help="write (or check) only this part (repeatable): settings, streams (the "
                        "README's blocks) or a generator by its script's name")
    args = p.parse_args(argv)
    wanted = set(args.only or ())
    stale = []
    text = README.read_text(encoding="utf-8")
    for key, (part, make, marker) in README_PARTS.items():
        if wanted and key not in wanted:
            continue
        if f"<!-- {marker}:start -->" not in text:
            stale.append(f"README.md lacks the <!-- {marker}:start/end --> markers ({part})")
            continue
        new = make(text)
        if new != text:
            stale.append(f"README.md ({part})")
            if not args.check:
                README.write_text(new, encoding="utf-8")
            text = new
    for name in GENERATORS:
        script = ROOT / name
        if not script.exists() or (wanted and script.stem not in wanted):
            continue
        run = subprocess.run([sys.executable, str(script), *(["--check"] if args.check else [])],
                             capture_output=True, text=True, check=False, cwd=ROOT)
        if run.returncode != 0:
            stale.append(f"{name}: {(run.stderr or run.stdout).strip()[-300:]}")
    for line in stale:
        print(("out of date: " if args.check else "regenerated: ") + line, file=sys.stderr)
    return 1 if (stale and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
