"""status-pages.yaml and incidents/*.md: validated like the rest, every error
with file:line:col, no ${VAR} on anything public, and planned by the reconciler."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewatch.config.loader import load_config
from sitewatch.config.pages import split_front_matter
from sitewatch.errors import ConfigError
from sitewatch.web.statuspages.markdown import render, safe_link
from tests.factories import monitors_yaml, write

PAGE = """\
status_pages:
  - key: public
    title: Status
    groups:
      - name: Web
        websites: [a, b]
"""
NOTE = """\
---
title: Outage
status: investigating
started: 2026-12-03T10:00:00+01:00
websites: [a]
---
Looking into it.
"""


def errors(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, {"TITLE": "secret title"})
    return [p.format() for p in info.value.problems if p.severity == "error"]


@pytest.fixture
def folder(config_dir: Path) -> Path:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    return config_dir


def test_a_valid_page_and_note(folder: Path) -> None:
    write(folder, "status-pages.yaml", PAGE)
    write(folder, "incidents/2026-12-03-outage.md", NOTE)
    snapshot = load_config(folder, {})
    page = snapshot.status_pages["public"].model
    assert page.slug == "public" and page.history_days == 90 and not page.show_urls
    note = snapshot.incidents["2026-12-03-outage"].model
    assert note.started.isoformat() == "2026-12-03T09:00:00+00:00"  # kept in UTC
    assert note.body == "Looking into it." and note.open


def test_dollar_escapes_are_text_on_what_is_public(folder: Path) -> None:
    """The documented way to write a literal ``${`` (``$${``) on a page, a note and a
    maintenance window is taken as text, not refused as a reference."""
    write(folder, "status-pages.yaml", PAGE.replace("title: Status", "title: 'Costs $$5, $${X}'"))
    write(folder, "incidents/2026-12-03-outage.md", NOTE.replace("Outage", "'Pay $$5'"))
    write(
        folder,
        "alerts.yaml",
        "maintenance:\n  - {name: deploy, description: 'Costs $$5', announce: 'Move $${X}',"
        " days: [mon], start: '02:00', duration: 1h, websites: '*'}\n",
    )
    snapshot = load_config(folder, {})
    assert snapshot.status_pages["public"].model.title == "Costs $5, ${X}"
    assert snapshot.incidents["2026-12-03-outage"].model.title == "Pay $5"
    window = snapshot.maintenance["deploy"]
    assert window.model.announce == "Move ${X}" and window.model.description == "Costs $5"
    # Stored as the alert engine and the status pages read it: the text itself.
    assert window.stored["announce"] == "Move ${X}" and window.stored["description"] == "Costs $5"


def test_a_maintenance_window_takes_no_reference(folder: Path) -> None:
    """Windows are announced on status pages and read as stored by the alert engine
    and the pages (a reference there failed both, every time they loaded)."""
    write(
        folder,
        "alerts.yaml",
        "maintenance:\n  - name: deploy\n    description: ${TITLE}\n    announce: ${TITLE}\n"
        "    days: [mon]\n    start: '02:00'\n    duration: 1h\n    websites: '*'\n",
    )
    found = errors(folder)
    assert [e.split(" (")[0] for e in found] == [
        f"{folder}/alerts.yaml:3:18: maintenance[0].description: maintenance windows take no "
        "${VAR} references",
        f"{folder}/alerts.yaml:4:15: maintenance[0].announce: maintenance windows take no "
        "${VAR} references",
    ]
    assert not any("secret title" in e for e in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            PAGE.replace("[a, b]", "[a, nope]"),
            "status-pages.yaml:6:23: status_pages[0].groups[0].websites[1]: unknown website 'nope'",
        ),
        (
            PAGE.replace("title: Status", "title: ${TITLE}"),
            "status-pages.yaml:3:12: "
            "status_pages[0].title: status pages and incident notes are public",
        ),
        (
            PAGE + "    domain: https://status.example.com/\n",
            "status-pages.yaml:7:13: status_pages[0].domain: a domain is a host name",
        ),
        (
            PAGE + "    logo: ../etc/passwd.png\n",
            "status-pages.yaml:7:11: status_pages[0].logo: "
            "give the logo's path inside the config folder",
        ),
        (
            PAGE + "    logo: logo.svg\n",
            "status-pages.yaml:7:11: status_pages[0].logo: no image "
            "'logo.svg' in the config folder",
        ),
        (
            PAGE + "    history_days: 400\n",
            "status-pages.yaml:7:19: status_pages[0].history_days:"
            " should be less than or equal to 365",
        ),
        (
            PAGE.replace("        websites: [a, b]\n", ""),
            "status-pages.yaml:5:9: "
            "status_pages[0].groups[0]: a group lists websites: (keys) or tags: (or both)",
        ),
        (
            PAGE + PAGE.split("\n", 1)[1],
            "status-pages.yaml:7:10: status_pages[1].key: duplicate status page key 'public'",
        ),
        (
            PAGE + PAGE.split("\n", 1)[1].replace("key: public", "key: other\n    slug: public"),
            "status-pages.yaml:8:11: status_pages[1].slug: duplicate slug 'public'",
        ),
    ],
)
def test_page_errors_say_where(folder: Path, text: str, expected: str) -> None:
    write(folder, "status-pages.yaml", text)
    found = errors(folder)
    assert any(f"{folder}/{expected}" in e for e in found), found


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("Bad Name.md", NOTE, "Bad Name.md:2:1: (document): the file's name is the incident's key"),
        ("x.md", NOTE.replace("+01:00", ""), "x.md:4:10: started: give the time with its offset"),
        ("x.md", NOTE.replace("[a]", "[nope]"), "x.md:5:12: websites[0]: unknown website 'nope'"),
        (
            "x.md",
            NOTE.replace("websites: [a]", "groups: [Wbe]"),
            "x.md:5:10: groups[0]: no status page has a group named 'Wbe'; did you mean 'Web'?",
        ),
        (
            "x.md",
            NOTE.replace("investigating", "resolved"),
            "x.md:2:1: (document): a resolved incident needs resolved:",
        ),
        (
            "x.md",
            NOTE.replace("title: Outage", "title: ${TITLE}"),
            "x.md:2:8: title: status pages and incident notes are public",
        ),
        (
            "x.md",
            "Just text\n",
            "x.md:1:1: (document): an incident note starts with a front matter",
        ),
        ("x.md", "---\ntitle: x\n", "x.md:1:1: (document): the front matter is not closed"),
        ("x.md", "---\n---\nbody\n", "x.md:1:1: (document): the front matter is empty"),
        (
            "x.md",
            NOTE.replace("websites: [a]", "websites: [a]\nbody: x"),
            "x.md:6:1: body: the note's Markdown goes below the front matter",
        ),
    ],
)
def test_note_errors_say_where(folder: Path, name: str, text: str, expected: str) -> None:
    write(folder, "status-pages.yaml", PAGE)
    write(folder, f"incidents/{name}", text)
    found = errors(folder)
    assert any(f"{folder}/incidents/{expected}" in e for e in found), found


def test_a_resolved_note_takes_its_end_from_the_resolving_update(folder: Path) -> None:
    write(folder, "status-pages.yaml", PAGE)
    text = NOTE.replace("investigating", "resolved").replace(
        "websites: [a]",
        "websites: [a]\nupdates:\n  - {at: 2026-12-03T11:30:00Z, status: resolved, message: ok}",
    )
    write(folder, "incidents/x.md", text)
    note = load_config(folder, {}).incidents["x"].model
    assert note.resolved is not None and note.resolved.isoformat() == "2026-12-03T11:30:00+00:00"


def test_front_matter_keeps_its_line_numbers() -> None:
    split = split_front_matter(NOTE)
    assert isinstance(split, tuple)
    front, body, first = split
    assert front.splitlines()[3] == "started: 2026-12-03T10:00:00+01:00"  # line 4, as in the file
    assert body == "Looking into it." and first == 7


# -- Markdown is published: it must never carry a script or a dangerous link ----------------------

HOSTILE = st.lists(
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](java\tscript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "<img src=x onerror=alert(1)>",
            "![i](http://tracker.example/p.png)",
            '<a href="javascript:x">y</a>',
            "[ok](https://example.com/?a=1&b=<2>)",
            "**bold** _it_ `code`",
            "\n\n",
            "<iframe src=//evil>",
            "[x](//evil.example/)",
            "<svg onload=alert(1)>",
        ]
    ),
    max_size=8,
).map("".join)


ALLOWED_TAGS = {
    "p",
    "strong",
    "em",
    "code",
    "pre",
    "a",
    "ul",
    "ol",
    "li",
    "blockquote",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


@settings(max_examples=200, deadline=None)
@given(st.one_of(HOSTILE, st.text(max_size=200)))
def test_rendered_markdown_never_carries_markup_of_its_own(text: str) -> None:
    parser = Elements()
    parser.feed(str(render(text)))
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS, (text, tag)
        for name, value in attrs:
            assert name in ("href", "rel"), (text, tag, name)
            if name == "href":
                assert value is not None and safe_link(value), (text, value)


def test_safe_links() -> None:
    assert safe_link("https://example.com/x") and safe_link("mailto:a@b.example")
    assert safe_link("/status/public") and safe_link("#incident-x")
    for bad in ("javascript:alert(1)", "data:x", "//evil.example", "file:///etc/passwd", "ftp://x"):
        assert not safe_link(bad), bad
