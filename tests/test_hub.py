"""The Meltano Hub definition (hub/extractors/tap-nxcloud/) and the README's Meltano plugin block
are what scripts/hub_definition.py generates from `tap-nxcloud --about`, and the definition passes
Meltano Hub's own checks (its JSON Schema, its YAML layout, its naming)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from .conftest import BIN, TAP

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"
MELTANO = str(BIN / "meltano")
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import hub_definition  # noqa: E402


@pytest.fixture(scope="module")
def about() -> dict:
    return json.loads(subprocess.run([TAP, "--about", "--format=json"], capture_output=True,
                                     text=True, check=True).stdout)


@pytest.fixture(scope="module")
def hub_file() -> Path:
    found = sorted((HUB / "extractors" / "tap-nxcloud").glob("*.yml"))
    assert [p.name for p in found] == [f"{hub_definition.VARIANT}.yml"], (
        "one definition, named after the variant: run python scripts/hub_definition.py")
    return found[0]


def test_hub_definition_is_what_the_generator_writes(about, hub_file):
    assert hub_file.read_text(encoding="utf-8") == hub_definition.hub_yaml(
        hub_definition.definition(about)), "run python scripts/hub_definition.py"


def test_hub_definition_validates_against_the_hubs_schema(hub_file):
    """As the hub's utility_scripts/plugin_definitions/plugin_schema_validate.py does it."""
    resources = []
    for path in sorted((HUB / "schemas").glob("*/*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(
            schema, default_specification=DRAFT7)))
    schema = json.loads((HUB / "schemas" / "plugin_definitions" / "extractors.schema.json")
                        .read_text(encoding="utf-8"))
    data = yaml.safe_load(hub_file.read_text(encoding="utf-8"))
    validator = Draft7Validator(schema, registry=Registry().with_resources(resources))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(data)]
    assert not errors, errors
    # what the schema leaves to the hub's other checks (yaml_check_names.py, maintainers,
    # .yamllint.yaml key-ordering, hub-utils' layout)
    assert data["name"] == hub_file.parent.name
    assert data["variant"] == hub_file.stem == data["repo"].rstrip("/").split("/")[-2].lower()
    for key in ("name", "namespace", "variant", "label", "description", "pip_url", "repo",
                "executable", "capabilities", "settings", "settings_group_validation",
                "keywords", "domain_url", "maintenance_status", "quality"):
        assert data.get(key), key
    assert "meltano_sdk" in data["keywords"]

    def sorted_keys(node) -> bool:
        if isinstance(node, dict):
            return list(node) == sorted(node) and all(map(sorted_keys, node.values()))
        return all(map(sorted_keys, node)) if isinstance(node, list) else True
    assert sorted_keys(data)
    names = [s["name"] for s in data["settings"]]
    assert names == sorted(names)
    assert data["capabilities"] == sorted(data["capabilities"])
    assert all(group == sorted(group) for group in data["settings_group_validation"])
    assert "{" not in hub_file.read_text(encoding="utf-8").replace("{}", "")  # braces: forbid


def test_hub_definition_declares_every_setting_of_the_tap(about, hub_file):
    data = yaml.safe_load(hub_file.read_text(encoding="utf-8"))
    schema = about["settings"]["properties"]
    settings = {s["name"]: s for s in data["settings"]}
    assert set(settings) == set(schema)
    kinds = {"string": "string", "integer": "integer", "number": "integer",
             "boolean": "boolean", "object": "object", "array": "array"}
    for name, spec in schema.items():
        types = [t for t in spec["type"] if t != "null"]
        want = "options" if "enum" in spec and types[0] == "string" else kinds[types[0]]
        assert settings[name]["kind"] == want, name
        assert settings[name].get("sensitive", False) == bool(spec.get("secret")), name
        assert settings[name].get("value") == spec.get("default"), name
        assert settings[name]["description"] == spec.get("description", ""), name
        assert settings[name]["label"], name
    assert data["capabilities"] == sorted(about["capabilities"])
    assert data["supported_python_versions"] == about["supported_python_versions"]
    required = set(about["settings"]["required"])
    assert all(required <= set(group) for group in data["settings_group_validation"])


def _readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(hub_definition.START) + r"\n```yaml\n(.*?)```\n"
                      + re.escape(hub_definition.END), text, re.S)
    assert found, "README.md lacks the meltano-plugin block"
    return found.group(1)


def test_readme_plugin_block_is_generated_from_the_hub_definition(about, hub_file):
    assert _readme_block() == hub_definition.plugin_block(about), (
        "run python scripts/hub_definition.py")
    entry = yaml.safe_load(_readme_block())["plugins"]["extractors"][0]
    hub = yaml.safe_load(hub_file.read_text(encoding="utf-8"))
    for key in ("name", "namespace", "pip_url", "executable"):
        assert entry[key] == hub[key], key
    assert sorted(entry["capabilities"]) == hub["capabilities"]
    assert sorted(map(sorted, entry["settings_group_validation"])) == sorted(
        hub["settings_group_validation"])
    from_hub = {s["name"]: {k: v for k, v in s.items() if k not in ("label", "description")}
                for s in hub["settings"]}
    assert {s["name"]: s for s in entry["settings"]} == from_hub
    assert [s["name"] for s in entry["settings"]] == list(about["settings"]["properties"])


def test_generator_check_mode_passes():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "hub_definition.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_meltano_adds_the_plugin_from_the_hub_definition(tmp_path, hub_file):
    """What the hub's CI does with a new definition (`meltano add --from-ref`), then a boolean
    and an object from the environment reach the config the tap would get."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MELTANO_", "TAP_NXCLOUD_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"

    def meltano(*args: str, cwd: Path = tmp_path / "project", **extra: str) -> str:
        done = subprocess.run([MELTANO, *args], cwd=cwd, env={**env, **extra},
                              capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout
    meltano("init", "--no-usage-stats", "project", cwd=tmp_path)
    meltano("add", "--no-install", "--from-ref", str(hub_file), "--plugin-type", "extractor",
            "tap-nxcloud")
    config = json.loads(meltano("config", "print", "tap-nxcloud",
                                TAP_NXCLOUD_FLATTENING_ENABLED="true",
                                TAP_NXCLOUD_MAX_WORKERS="2",
                                TAP_NXCLOUD_STREAM_MAPS='{"cc_cdrs": {"agentNickName": null}}'))
    assert config["flattening_enabled"] is True
    assert config["max_workers"] == 2
    assert config["stream_maps"] == {"cc_cdrs": {"agentNickName": None}}
    assert config["timezone"] == "Asia/Shanghai"
