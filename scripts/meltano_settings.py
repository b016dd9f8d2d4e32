"""Rewrite the tap-nxcloud `settings` and `settings_group_validation` of meltano.yml from the
tap's own settings schema (tests/test_meltano.py checks that the two agree).
Usage: python scripts/meltano_settings.py"""

import json
from pathlib import Path

from tap_nxcloud.settings import SCHEMA
from tap_nxcloud.streams import STREAMS

PATH = Path(__file__).resolve().parent.parent / "meltano.yml"
# Meltano 4.4 fails on every value of a `decimal` setting given in the environment ("Object of
# type Decimal is not JSON serializable"): the tap's number settings (seconds) are declared as
# integers there, and a config file can still give fractions.
KINDS = {"string": "string", "integer": "integer", "number": "integer"}
OPTIONS = {"cc_direction": ["all", "inbound", "outbound", "AICC"],
           "cc_answered": ["all", "unanswered", "answered"]}


def block() -> list[str]:
    out = ["      settings_group_validation:"]
    out += [f"        - [start_date, {key}, {secret}]" for key, secret in
            (spec.credentials for spec in STREAMS)]
    out.append("      settings:")
    for name, spec in SCHEMA["properties"].items():
        kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        kind = next(k for k in kinds if k != "null")
        out.append(f"        - name: {name}")
        if name in OPTIONS:
            out.append("          kind: options")
            out.append("          options:")
            out += [f"            - {{label: {label}, value: {i}}}"
                    for i, label in enumerate(OPTIONS[name])]
        else:
            out.append(f"          kind: {KINDS[kind]}")
        if spec.get("secret"):
            out.append("          sensitive: true")
        if "default" in spec:
            out.append(f"          value: {json.dumps(spec['default'])}")
        out.append(f"          description: {json.dumps(spec.get('description', ''))}")
    return out


def main() -> None:
    lines = PATH.read_text(encoding="utf-8").splitlines()
    first = lines.index("      settings_group_validation:")
    # the block ends at the next line indented less than a setting's (another plugin, a comment)
    last = next(i for i in range(first + 1, len(lines))
                if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= 4)
    PATH.write_text("\n".join([*lines[:first], *block(), *lines[last:]]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
