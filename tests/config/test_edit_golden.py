"""Write-back, byte for byte: PUT, PATCH and DELETE on the first, a middle and
the last entry of files with and without comments and trailing blank lines.

Each expected file in ``golden/edit/`` was read and checked by hand; to
regenerate after a deliberate change, run with ``SITEWATCH_UPDATE_GOLDEN=1`` and
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sitewatch.config.edit import edit, website_key

GOLDEN = Path(__file__).parent / "golden" / "edit"
BASES = ("plain", "commented", "trailing")
KEYS = {"first": "first", "middle": "middle", "last": "last"}

# PUT replaces the entry (adds two keys, drops tags); PATCH adds a key and
# changes one; DELETE removes the entry with the comment right above it.
OPS: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "put": (
        {"name": "{Name}", "url": "https://new.example/", "interval": "1m", "alerts": ["ops"]},
        True,
    ),
    "patch": ({"url": "https://new.example/", "timeout": "5s"}, False),
    "delete": (None, True),
}


def _fields(template: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    if template is None:
        return None
    return {
        k: (v.replace("{Name}", name) if isinstance(v, str) else v) for k, v in template.items()
    }


CASES = [(base, op, pos) for base in BASES for op in OPS for pos in KEYS]


@pytest.mark.parametrize(("base", "op", "pos"), CASES, ids=["-".join(c) for c in CASES])
def test_edit_matches_golden_file(base: str, op: str, pos: str) -> None:
    text = (GOLDEN / f"{base}.yaml").read_text()
    template, replace_all = OPS[op]
    result = edit(
        text,
        "websites",
        KEYS[pos],
        website_key,
        _fields(template, pos.capitalize()),
        replace_all=replace_all,
    )
    expected_path = GOLDEN / f"{base}.{op}.{pos}.yaml"
    if os.environ.get("SITEWATCH_UPDATE_GOLDEN") == "1":
        expected_path.write_text(result.text)
    assert result.text == expected_path.read_text()
    # what is not the entry stays byte for byte
    before = text.splitlines()
    after = result.text.splitlines()
    assert after[0] == before[0]
    if base != "plain":  # the lines after the last entry are not the entry's
        assert after[-1] == before[-1]
    if op == "delete":
        assert f"name: {pos.capitalize()}\n" not in result.text


@pytest.mark.parametrize("base", BASES)
def test_golden_put_then_patch_keeps_keys_inside_the_entry(base: str) -> None:
    """No key lands after a blank line or a comment that follows the entry."""
    text = (GOLDEN / f"{base}.yaml").read_text()
    put = edit(text, "websites", "last", website_key, _fields(OPS["put"][0], "Last"))
    lines = put.text.splitlines()
    start = lines.index("  - name: Last")
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    assert body == ["url: https://new.example/", "interval: 1m", "alerts: [ops]"]
