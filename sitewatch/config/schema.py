"""JSON Schemas of the config files (and of an incident note's front matter),
generated from the pydantic models.

Published by ``sitewatch schema`` and committed under ``docs/schema/`` (a test
keeps them in step), so editors can point ``yaml-language-server`` at them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sitewatch.config.models import AlertsFile, MonitorsFile
from sitewatch.config.pages import IncidentNote, StatusPagesFile

SCHEMA_BASE = "https://sitewatch.dev/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    return {
        "monitors": _schema(MonitorsFile, "monitors", "sitewatch monitors.yaml"),
        "alerts": _schema(AlertsFile, "alerts", "sitewatch alerts.yaml"),
        "status-pages": _schema(StatusPagesFile, "status-pages", "sitewatch status-pages.yaml"),
        "incident": _front_matter(),
    }


def _front_matter() -> dict[str, Any]:
    """An incident note's front matter: the note's fields but its Markdown body."""
    schema = _schema(IncidentNote, "incident", "sitewatch incident note (front matter)")
    del schema["properties"]["body"]
    return schema


def _schema(model: type[BaseModel], name: str, title: str) -> dict[str, Any]:
    body = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/{name}.schema.json",
        **body,
        "title": title,
    }
