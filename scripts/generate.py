"""Regenerate every file derived from the tap's own registry and settings, in one go.

    python scripts/generate.py           # write them
    python scripts/generate.py --check   # exit 1 when one is out of date (the tests run this)

What it writes: the README's settings reference (between <!-- about:start/end -->, from
`tap-nxcloud --about --format=markdown`), docs/data-dictionary.md (scripts/dictionary.py), and
meltano.yml's tap settings (scripts/meltano_settings.py), plus, where present, the Meltano Hub
definition (scripts/hub_definition.py) and the dbt column docs (transform/check_docs.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# in order: the dbt docs are made from the data dictionary
GENERATORS = ("scripts/dictionary.py", "scripts/meltano_settings.py", "scripts/hub_definition.py",
              "transform/check_docs.py")


def about_markdown() -> str:
    return subprocess.run([sys.executable, "-m", "tap_nxcloud.cli", "--about",
                           "--format=markdown"], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.strip()


def readme_with_about(text: str) -> str:
    return re.sub(r"(<!-- about:start -->\n).*?(<!-- about:end -->)",
                  lambda m: f"{m.group(1)}{about_markdown()}\n\n{m.group(2)}", text, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    stale = []
    text = README.read_text(encoding="utf-8")
    new = readme_with_about(text)
    if new != text:
        stale.append("README.md (settings reference)")
        if not args.check:
            README.write_text(new, encoding="utf-8")
    for name in GENERATORS:
        script = ROOT / name
        if not script.exists():
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
