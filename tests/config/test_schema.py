"""The published JSON Schemas: in step with the models, and they accept the example config."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sitewatch.config.schema import json_schemas

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", ["monitors", "alerts", "status-pages", "incident"])
def test_committed_schema_is_current(name: str) -> None:
    committed = json.loads((ROOT / "docs" / "schema" / f"{name}.schema.json").read_text())
    assert committed == json_schemas()[name], "run: sitewatch schema --out docs/schema"


@pytest.mark.parametrize("name", ["monitors", "alerts", "status-pages"])
def test_example_config_matches_schema(name: str) -> None:
    document = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())
    jsonschema.validate(document, json_schemas()[name])


def test_schema_rejects_unknown_keys() -> None:
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.validate(
            {"websites": [{"name": "a", "url": "https://a.example", "intervall": "30s"}]},
            json_schemas()["monitors"],
        )
