"""The JSON Schema of each stream, from the package (wheel) or the repository's schemas/ folder."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path


def load(stream: str) -> dict:
    packaged = resources.files("tap_nxcloud").joinpath("schemas", f"{stream}.json")
    if packaged.is_file():
        return json.loads(packaged.read_text(encoding="utf-8"))
    # a source checkout or editable install: the schemas sit beside the package
    source = Path(__file__).resolve().parent.parent / "schemas" / f"{stream}.json"
    return json.loads(source.read_text(encoding="utf-8"))
