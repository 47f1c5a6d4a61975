"""The docs cannot drift from the code: every field of the JSON Schema is in
docs/configuration.md (and nothing else is), every YAML snippet in the docs
parses and the config ones validate, and every ``sitewatch`` command line in a
shell block parses with the real argument parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from sitewatch.cli import build_parser
from sitewatch.config.envsubst import resolve
from sitewatch.config.models import AlertsFile, MonitorsFile
from sitewatch.config.pages import IncidentNote, StatusPagesFile, split_front_matter
from sitewatch.config.schema import json_schemas

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def _fields(section: str, doc: str = "configuration.md") -> set[str]:
    """Field names in the tables under a ``###`` heading of a doc."""
    text = (ROOT / "docs" / doc).read_text()
    start = text.index(f"### {section}")
    ends = [text.find(mark, start + 1) for mark in ("\n### ", "\n## ")]
    end = min((e for e in ends if e != -1), default=-1)
    body = text[start : end if end != -1 else None]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, re.M))


def _props(schema: dict[str, Any], name: str | None = None) -> set[str]:
    node = schema if name is None else schema["$defs"][name]
    return set(node["properties"])


def test_configuration_md_documents_exactly_the_schema() -> None:
    monitors, alerts = json_schemas()["monitors"], json_schemas()["alerts"]
    assert _fields("Website fields") == _props(monitors, "Website")
    # Each type's table, plus the common fields (listed on one row).
    common = {"interval", "timeout", "retry_interval", "tags", "active", "badge", "alerts"}
    for section, model in (
        ("TCP checks (`type: tcp`)", "TcpCheck"),
        ("TLS checks (`type: tls`)", "TlsCheck"),
        ("DNS checks (`type: dns`)", "DnsCheck"),
        ("Ping checks (`type: icmp`)", "IcmpCheck"),
    ):
        assert _fields(section) | common == _props(monitors, model), section
    beat = _fields("Heartbeats (`type: heartbeat`)") | {"tags", "active", "badge", "alerts"}
    assert beat == _props(monitors, "HeartbeatCheck")
    assert _fields("Top-level fields") == _props(monitors)
    common = _fields("Fields of every alert")
    assert common | _fields("Email (`type: email`)") == _props(alerts, "EmailAlert")
    assert common | _fields("Webhook (`type: webhook`)") == _props(alerts, "WebhookAlert")
    assert common | _fields("Apprise (`type: apprise`)") == _props(alerts, "AppriseAlert")
    assert common | _fields("PagerDuty (`type: pagerduty`)") == _props(alerts, "PagerDutyAlert")
    assert common | _fields("Opsgenie (`type: opsgenie`)") == _props(alerts, "OpsgenieAlert")
    windows = _props(alerts, "WeeklyWindow") | _props(alerts, "OneOffWindow")
    assert _fields("Maintenance windows (`maintenance:`)") == windows


def test_status_pages_md_documents_exactly_the_schema() -> None:
    pages, note = json_schemas()["status-pages"], json_schemas()["incident"]
    assert _fields("Status page fields", "status-pages.md") == _props(pages, "StatusPage")
    assert _fields("Group fields", "status-pages.md") == _props(pages, "StatusGroup")
    assert _fields("Front matter fields", "status-pages.md") == _props(note)


def _blocks(language: str) -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for block in re.findall(rf"```{language}\n(.*?)```", doc.read_text(), re.S):
            out.append((doc.name, block))
    return out


YAML_BLOCKS = _blocks("yaml")


@pytest.mark.parametrize(
    ("doc", "block"), YAML_BLOCKS, ids=[f"{d}-{i}" for i, (d, _) in enumerate(YAML_BLOCKS)]
)
def test_yaml_snippets_parse_and_config_snippets_validate(doc: str, block: str) -> None:
    data = yaml.safe_load(block)
    if data is None:  # a comment to copy, such as the schema line for editors
        assert all(line.startswith("#") for line in block.strip().splitlines()), doc
        return
    # ${VAR} references stand for values the reader provides: give each one, the
    # example a comment shows (``# TELEGRAM_URL=tgram://...``) where there is one.
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", block)
    examples = dict(re.findall(r"#\s*([A-Z][A-Z0-9_]*)=(\S+)", block))
    data = resolve(data, {n: examples.get(n, "https://example.com/hook") for n in names})
    if isinstance(data, dict) and data.keys() & {"websites", "defaults", "allow_empty"}:
        MonitorsFile.model_validate(data)
    elif isinstance(data, dict) and data.keys() & {"alerts", "maintenance"}:
        AlertsFile.model_validate(data)
    elif isinstance(data, dict) and "status_pages" in data:
        StatusPagesFile.model_validate(data)
    elif isinstance(data, dict) and "json_assertions" in data:
        MonitorsFile.model_validate({"websites": [{"name": "x", "url": "http://x/", **data}]})


NOTES = [(doc, block) for doc, block in _blocks("markdown") if block.startswith("---\n")]


@pytest.mark.parametrize(("doc", "block"), NOTES, ids=[d for d, _ in NOTES])
def test_incident_notes_in_the_docs_validate(doc: str, block: str) -> None:
    split = split_front_matter(block)
    assert isinstance(split, tuple), (doc, split)
    front, body, _ = split
    IncidentNote.model_validate({**yaml.safe_load(front), "body": body})


def test_the_yaml_snippets_are_found() -> None:
    assert NOTES
    assert len(YAML_BLOCKS) >= 12


COMMANDS = [
    (doc, part.strip())
    for language in ("sh", "console")
    for doc, block in _blocks(language)
    for line in block.replace("\\\n", " ").splitlines()
    for part in line.split("&&")
    if re.match(r"^(\$ )?(\S+=\S+\s+)*(\.venv/bin/|/opt/sitewatch/bin/)?sitewatch ", part.strip())
]


@pytest.mark.parametrize(
    ("doc", "line"), COMMANDS, ids=[f"{d}-{i}" for i, (d, _) in enumerate(COMMANDS)]
)
def test_sitewatch_commands_in_the_docs_parse(doc: str, line: str) -> None:
    words = shlex.split(line.removeprefix("$ "), comments=True)
    while "=" in words[0]:  # VAR=value before the command
        words.pop(0)
    for end in ("&", "||", ";"):  # run in the background, or what follows it
        if end in words:
            words = words[: words.index(end)]
    args = words[1:]
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"{doc}: `{line.strip()}` does not parse (exit {exc.code})")


def test_the_commands_are_found() -> None:
    assert len(COMMANDS) >= 3
