"""Generate the Meltano Hub definition of tap-nxcloud and the README's Meltano plugin block.

Both come from `tap-nxcloud --about --format=json` (settings, kinds, sensitive, defaults,
capabilities, Python versions) through the functions that write meltano.yml
(scripts/meltano_settings.py), so the three never disagree:

- hub/extractors/tap-nxcloud/<VARIANT>.yml: the file to submit to github.com/meltano/hub as
  _data/meltano/extractors/tap-nxcloud/<VARIANT>.yml, in the hub's format (its
  schemas/plugin_definitions/extractors.schema.json; sorted keys, settings sorted by name,
  capabilities and each settings_group_validation set sorted, as its yaml_lint.py writes them);
- README.md, between the meltano-plugin markers: the `extractors:` entry a Meltano user pastes.

`python scripts/hub_definition.py` writes both; `--check` exits 1 when either is out of date.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml
from meltano_settings import about, settings, settings_group_validation

# --- Set these when the project is published -------------------------------------------------
# The public repository. Meltano Hub names a variant after the owner of its repository
# (hub-utils: repo_url.split("/")[-2].lower(); _data/maintainers.yml is keyed by it).
REPO = "https://github.com/tap-nxcloud/tap-nxcloud"
PIP_URL = f"git+{REPO}.git"  # or the PyPI name once the package is published there
VARIANT = REPO.rstrip("/").split("/")[-2].lower()
# The hub's enum: active, beta, development, inactive, unknown.
MAINTENANCE_STATUS = "beta"
# The hub's maintainers rate quality (hub-utils `update-quality`); a new plugin starts unknown.
QUALITY = "unknown"
# ------------------------------------------------------------------------------------------------

NAME = "tap-nxcloud"
NAMESPACE = "tap_nxcloud"
LABEL = "NXCloud"
DOMAIN_URL = "https://www.nxcloud.com"
KEYWORDS = ["api", "meltano_sdk", "cdr", "phone", "sms"]

ROOT = Path(__file__).resolve().parent.parent
HUB_DIR = ROOT / "hub" / "extractors" / NAME
README = ROOT / "README.md"
START, END = "<!-- meltano-plugin:start -->", "<!-- meltano-plugin:end -->"
# Words a setting's label spells in capitals (Meltano Hub shows labels; hub-utils does the same).
ACRONYMS = {"api": "API", "url": "URL", "id": "ID", "cc": "CC", "sms": "SMS", "sip": "SIP",
            "did": "DID", "mb": "MB"}


def hub_path() -> Path:
    return HUB_DIR / f"{VARIANT}.yml"


def label(name: str) -> str:
    return " ".join(ACRONYMS.get(w, w.capitalize()) for w in name.split("_") if w)


def description(info: dict) -> str:
    """The tap's own one-line description, without "Singer tap for" (the hub says what it is)."""
    text = info.get("description", "").strip().rstrip(".")
    text = re.sub(r"^Singer tap for\s+", "", text)
    return text[:1].upper() + text[1:]


def definition(info: dict) -> dict:
    """The Meltano Hub extractor definition, from the tap's --about JSON."""
    props = info["settings"]["properties"]
    hub_settings = []
    for item in settings(info):
        title = props[item["name"]].get("title")
        hub_settings.append({**item, "label": title or label(item["name"])})
    versions = [v for v in info.get("supported_python_versions") or []
                if re.fullmatch(r"3\.\d+", v)]
    out = {
        "name": NAME,
        "namespace": NAMESPACE,
        "variant": VARIANT,
        "label": LABEL,
        "description": description(info),
        "domain_url": DOMAIN_URL,
        "repo": REPO,
        "docs": f"{REPO}#readme",
        "pip_url": PIP_URL,
        "executable": NAME,
        "capabilities": sorted(info["capabilities"]),
        "keywords": KEYWORDS,
        "maintenance_status": MAINTENANCE_STATUS,
        "quality": QUALITY,
        "settings": sorted(hub_settings, key=lambda s: s["name"]),
        "settings_group_validation": [sorted(g) for g in settings_group_validation(info)],
    }
    if "structured-logging" in info["capabilities"]:
        out["log_parser"] = "singer-sdk"  # as hub-utils sets it for SDK taps
    if versions:
        out["supported_python_versions"] = versions
    return out


def hub_yaml(defn: dict) -> str:
    return yaml.safe_dump(defn, sort_keys=True, default_flow_style=False, allow_unicode=True,
                          width=80)


# ---- The README's block: the Meltano-relevant part of the same definition, compact ------------

PLUGIN_KEYS = ("name", "namespace", "label", "pip_url", "executable")
SETTING_KEYS = ("name", "kind", "options", "sensitive", "value")


def _scalar(value) -> str:
    """A YAML flow scalar: plain when that reads back as the same string, else JSON."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_./+-]+", value) \
            and yaml.safe_load(value) == value:
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return json.dumps(value)


def plugin_block(info: dict) -> str:
    """The `plugins: extractors:` entry of a Meltano project, in the settings' --about order."""
    defn = definition(info)
    lines = ["plugins:", "  extractors:", f"  - name: {defn['name']}"]
    lines += [f"    {key}: {_scalar(defn[key])}" for key in PLUGIN_KEYS[1:]]
    lines.append("    capabilities:")
    lines += [f"    - {c}" for c in info["capabilities"]]
    lines.append("    settings_group_validation:")
    lines += [f"    - {_scalar(group)}" for group in settings_group_validation(info)]
    lines.append("    settings:")
    for item in settings(info):
        lines.append("    - " + _scalar({k: item[k] for k in SETTING_KEYS if k in item}))
    return "\n".join(lines) + "\n"


def readme_section(info: dict) -> str:
    return f"{START}\n```yaml\n{plugin_block(info)}```\n{END}"


def readme_text(text: str, info: dict) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        sys.exit(f"README.md lacks the {START} ... {END} markers")
    return pattern.sub(lambda _: readme_section(info), text, count=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a generated file is out of date; write nothing")
    args = parser.parse_args()
    info = about()
    want = {hub_path(): hub_yaml(definition(info))}
    text = README.read_text(encoding="utf-8")
    want[README] = readme_text(text, info)
    stale = [p for p in HUB_DIR.glob("*.yml") if p != hub_path()] if HUB_DIR.exists() else []
    changed = [p for p, body in want.items()
               if not p.exists() or p.read_text(encoding="utf-8") != body] + stale
    if args.check:
        for path in changed:
            print(f"out of date: {path.relative_to(ROOT)} (run python scripts/hub_definition.py)")
        sys.exit(1 if changed else 0)
    for path in stale:  # a definition written under a previous VARIANT
        path.unlink()
    for path, body in want.items():
        if path not in changed:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
