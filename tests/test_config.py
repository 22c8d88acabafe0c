"""The config schema: parseable, every key described with a default, and the default config valid."""

from __future__ import annotations

import jsonschema
import yaml


def walk(schema: dict, path: str = "config"):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from walk(sub, f"{path}.{name}")


def test_every_key_has_a_description_and_a_default(root):
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    keys = list(walk(schema))
    assert len(keys) > 40
    for path, sub in keys:
        assert sub.get("description"), f"{path} has no description"
        assert "default" in sub, f"{path} has no default"


def test_default_config_is_valid(root):
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    config = yaml.safe_load((root / "config.yaml").read_text())
    jsonschema.validate(config, schema)
    bad = config | {"privacy": {"min_cell_size": 0}}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as err:
        assert "min_cell_size" in err.json_path
    else:
        raise AssertionError("min_cell_size 0 was accepted")
