"""Rewrite the tap-nxcloud `settings` and `settings_group_validation` of meltano.yml from the
tap's own settings schema, exactly as `tap-nxcloud --about --format=json` prints it (the SDK's
built-in settings included: stream maps, flattening, faker). tests/test_meltano.py checks that the
two agree; scripts/hub_definition.py builds the Meltano Hub definition and the README's plugin
block from the same functions.
Usage: python scripts/meltano_settings.py"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tap_nxcloud.settings import SECRETS
from tap_nxcloud.streams import STREAMS

PATH = Path(__file__).resolve().parent.parent / "meltano.yml"
# JSON Schema type -> Meltano setting kind. Meltano 4.4 fails on every value of a `decimal`
# setting given in the environment ("Object of type Decimal is not JSON serializable"): the tap's
# number settings (seconds) are declared as integers there, and a config file can still give
# fractions (Meltano Hub's own generator, hub-utils, maps number to integer too).
KINDS = {"string": "string", "integer": "integer", "number": "integer", "boolean": "boolean",
         "object": "object", "array": "array"}
# Meltano's `options` kind compares the raw text of an environment variable or of
# `meltano config set` with each option's value: integer options reject every value given that
# way ("'1' is not a valid choice"), and string options would hand the tap a string where it
# wants a number. So only a string enum becomes `options`; a numeric enum stays a number kind
# (its description lists the values; the tap rejects any other).
OPTION_TYPES = ("string",)


def about() -> dict:
    """What `tap-nxcloud --about --format=json` prints, from the tap installed with this Python."""
    done = subprocess.run([sys.executable, "-m", "tap_nxcloud.cli", "--about", "--format=json"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _types(spec: dict) -> list[str]:
    """The non-null JSON types of a setting (from `type`, else from its anyOf/oneOf members)."""
    kinds = spec.get("type")
    if kinds is None:
        kinds = [t for member in spec.get("anyOf", spec.get("oneOf", []))
                 if isinstance(member, dict) for t in _types(member)]
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    return [k for k in kinds if k != "null"]


def kind(spec: dict) -> str:
    """The Meltano kind of one setting of the tap's schema."""
    types = _types(spec) or ["string"]
    if "enum" in spec and types[0] in OPTION_TYPES:
        return "options"
    return KINDS.get(types[0], "string")


def setting(name: str, spec: dict) -> dict:
    """One Meltano setting definition: name, kind, options, sensitive, value (the default),
    description; keys in this order, absent ones left out."""
    out = {"name": name, "kind": kind(spec)}
    if out["kind"] == "options":
        out["options"] = [{"label": str(v), "value": v} for v in spec["enum"] if v is not None]
    if spec.get("secret") or spec.get("writeOnly"):
        out["sensitive"] = True
    if spec.get("default") is not None:
        out["value"] = spec["default"]
    out["description"] = spec.get("description", "")
    return out


def settings(info: dict) -> list[dict]:
    """Every top-level setting the tap accepts, in the order --about prints them."""
    return [setting(name, spec) for name, spec in info["settings"]["properties"].items()]


def settings_group_validation(info: dict) -> list[list[str]]:
    """One valid set of settings per product: what --about requires, plus its key and secret."""
    required = list(info["settings"].get("required", []))
    groups = [[*required, *(n for n in spec.credentials if n not in required)] for spec in STREAMS]
    return [g for i, g in enumerate(groups) if g not in groups[:i]]  # products share credentials


def unmarked_secrets(info: dict) -> list[str]:
    """The secrets (every product's secret setting, and `accounts`, which holds them) that would
    not be declared sensitive: `meltano config set` would write them into meltano.yml as plain
    text instead of .env, and `meltano config list` would show them."""
    declared = {item["name"]: item for item in settings(info)}
    return [name for name in (*SECRETS, "accounts")
            if not declared.get(name, {}).get("sensitive")
            and declared.get(name, {}).get("kind") != "password"]


def block(info: dict) -> list[str]:
    out = ["      settings_group_validation:"]
    out += [f"        - [{', '.join(group)}]" for group in settings_group_validation(info)]
    out.append("      settings:")
    for item in settings(info):
        out.append(f"        - name: {item['name']}")
        out.append(f"          kind: {item['kind']}")
        if "options" in item:
            out.append("          options:")
            out += [f"            - {{label: {json.dumps(o['label'])}, value: "
                    f"{json.dumps(o['value'])}}}" for o in item["options"]]
        if item.get("sensitive"):
            out.append("          sensitive: true")
        if "value" in item:
            out.append(f"          value: {json.dumps(item['value'])}")
        out.append(f"          description: {json.dumps(item['description'])}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Write meltano.yml's block; with --check, only say (exit 1) whether it is out of date."""
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    info = about()
    unmarked = unmarked_secrets(info)
    if unmarked:  # the tap's schema lacks secret=True for them: fix it there, not here
        print(f"secrets not declared sensitive: {', '.join(unmarked)} (mark them secret in "
              "tap_nxcloud/settings.py)", file=sys.stderr)
        return 1
    text = PATH.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = lines.index("      settings_group_validation:")
    # the block ends at the next line indented less than a setting's (another plugin, a comment)
    last = next(i for i in range(first + 1, len(lines))
                if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= 4)
    new = "\n".join([*lines[:first], *block(info), *lines[last:]]) + "\n"
    if check:
        if new != text:
            print("meltano.yml is out of date: run python scripts/meltano_settings.py",
                  file=sys.stderr)
            return 1
        return 0
    PATH.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
