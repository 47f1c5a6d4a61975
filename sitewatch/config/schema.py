"""JSON Schemas of the two config files, generated from the pydantic models.

Published by ``sitewatch schema`` and committed under ``docs/schema/`` (a test
keeps them in step), so editors can point ``yaml-language-server`` at them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sitewatch.config.models import AlertsFile, MonitorsFile

SCHEMA_BASE = "https://sitewatch.dev/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    return {
        "monitors": _schema(MonitorsFile, "monitors", "sitewatch monitors.yaml"),
        "alerts": _schema(AlertsFile, "alerts", "sitewatch alerts.yaml"),
    }


def _schema(model: type[BaseModel], name: str, title: str) -> dict[str, Any]:
    body = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/{name}.schema.json",
        **body,
        "title": title,
    }
