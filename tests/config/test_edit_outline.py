"""A write parses round-trip only the entry it changes (``edit.outline``): whatever
the file looks like, the result is byte for byte what parsing it whole gives."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitewatch.config.edit import (
    Edit,
    EditError,
    _edit_whole,
    edit,
    entries,
    keyed,
    named_key,
    outline,
    website_key,
)

KEYS = ["a", "b", "c", "d"]
COMMENTS = st.sampled_from(["", "# about the next one", "  # indented", "#"])
VALUES = st.sampled_from(
    [
        "https://x.example/",
        "'https://quoted.example/'",
        '"double: quoted"',
        "https://x.example/  # end of line",
    ]
)


@st.composite
def entry(draw: st.DrawFn, key: str, dash: str, inner: str) -> list[str]:
    """One website: its lines, with the file's indentation."""
    name = draw(st.sampled_from([key.upper(), f"'{key.upper()}'", f'"{key.upper()}"']))
    body = [f"{dash}- name: {name}"]
    pad = " " * (len(dash) + 2)
    if draw(st.booleans()):
        body[0] = f"{dash}- key: {key}"
        body.append(f"{pad}name: Site {name}")
    body.append(f"{pad}url: {draw(VALUES)}")
    for extra in draw(
        st.lists(
            st.sampled_from(["tags", "flow", "headers", "literal", "comment", "blank"]),
            max_size=3,
            unique=True,
        )
    ):
        if extra == "tags":
            body += [f"{pad}tags:", f"{pad}{inner}- one", f"{pad}{inner}- two"]
        elif extra == "flow":
            body.append(f"{pad}alerts: [ops, 'pager']")
        elif extra == "headers":
            body += [f"{pad}headers:", f"{pad}  X-Token: abc  # secret-ish"]
        elif extra == "literal":
            body += [f"{pad}description: |", f"{pad}  line one", "", f"{pad}  line two"]
        elif extra == "comment":
            body.append(f"{pad}# a comment inside the entry")
        else:
            body.append("")
    return body


@st.composite
def files(draw: st.DrawFn) -> str:
    dash = draw(st.sampled_from(["", "  ", "    "]))
    inner = draw(st.sampled_from(["", "  "]))
    lines: list[str] = []
    if draw(st.booleans()):
        # (its list as indented as the websites': see the test of mixed indents)
        lines += ["defaults:", "  interval: 30s", "  tags:", f"  {dash}- x"]
    if draw(st.booleans()):
        lines.append("# the websites")
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=0, max_size=4))
    lines.append("websites:")
    for key in keys:
        comment = draw(COMMENTS)
        if comment:
            lines.append(dash + comment)
        if draw(st.booleans()):
            lines.append("")
        lines += draw(entry(key, dash, inner))
    tail = draw(st.sampled_from(["", "\n", "\n# the end\n", "\nalerts_default: x\n"]))
    text = "\n".join(lines) + tail
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


FIELDS = st.sampled_from(
    [
        {"url": "https://new.example/"},
        {"url": "https://new.example/", "timeout": "5s", "tags": ["n"]},
        {"headers": {"X-Token": "new"}},
        {"description": None},
        {"name": "New Name", "interval": "1m"},
    ]
)


def outcome(make: Any) -> Edit | str:
    try:
        result: Edit = make()
    except EditError as exc:
        return f"EditError: {exc}"
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files(),
    st.sampled_from([*KEYS, None]),
    st.one_of(st.none(), FIELDS),
    st.booleans(),
)
def test_an_edit_from_the_outline_is_the_edit_of_the_whole_file(
    text: str, key: str | None, fields: dict[str, Any] | None, replace_all: bool
) -> None:
    if key is None and fields is None:
        fields = {"name": "Zed", "url": "https://zed.example/"}
    found = outline(text, "websites", website_key)
    written = entries(text, "websites", website_key)
    assert (found is None) == (not written)  # parsed whole only when no entry is there
    whole = outcome(
        lambda: _edit_whole(text, "websites", key, website_key, fields, replace_all=replace_all)
    )
    fast = outcome(
        lambda: edit(
            text, "websites", key, website_key, fields, replace_all=replace_all, found=found
        )
    )
    assert fast == whole
    if isinstance(fast, Edit) and "\r\n" in text:  # a CRLF file stays one
        assert fast.text.count("\n") == fast.text.count("\r\n")
    if found is None:
        return
    # and a read of each entry, as written
    assert set(found.spans) == set(written)
    for k in written:
        assert found.fields(k) == written[k]


@pytest.mark.parametrize(
    "text",
    [
        # an anchor and its alias: entries share YAML
        "websites:\n  - name: A\n    headers: &h {X: y}\n  - name: B\n    headers: *h\n",
        # a merge key
        "base: &b {timeout: 5s}\nwebsites:\n  - <<: *b\n    name: A\n",
        # a tag
        "websites:\n  - name: !!str 12\n",
        # a name that is not a string
        "websites:\n  - name: 12\n",
        "websites:\n  - name: true\n",
        "websites:\n  - name: Null\n",
        "websites:\n  - name: FALSE\n",
        "websites:\n  - key: .inf\n    name: A\n",
        "websites:\n  - name: 2026-12-06\n",
        # flow style
        "websites: [{name: A, url: 'https://a.example/'}]\n",
        "websites:\n  - {name: A, url: 'https://a.example/'}\n",
        # two documents, a key twice, not YAML
        "websites:\n  - name: A\n---\nwebsites: []\n",
        "websites:\n  - name: A\n    name: B\n",
        "websites:\n  - name: A\n  url: [\n",
        # an entry's "-" on a line of its own, or with a comment after it
        "websites:\n  -\n    name: A\n",
        "websites:\n  - # the shop\n    name: A\n",
        # a %YAML directive
        "%YAML 1.1\n---\nwebsites:\n  - name: yes\n",
        # nothing there yet: a new file, a comment, no list
        "",
        "# to come\n",
        "websites:\n",
        "websites: []\n",
        "defaults: {}\n",
        # a line break str.splitlines sees and YAML does not
        "websites:\n  - name: A\x0b\n",
    ],
)
def test_files_whose_entries_cannot_be_read_alone_are_parsed_whole(text: str) -> None:
    assert outline(text, "websites", website_key) is None
    fields = {"name": "A", "url": "https://a.example/"}
    for key in (None, "a"):  # and an edit of them is that of the whole file
        fast = outcome(functools.partial(edit, text, "websites", key, website_key, fields))
        whole = outcome(functools.partial(_edit_whole, text, "websites", key, website_key, fields))
        assert fast == whole


def test_an_entry_is_written_in_its_own_lists_indentation() -> None:
    """The file's first list (the defaults') is indented otherwise than the websites':
    the entry is written as its neighbours are."""
    text = (
        "defaults:\n  tags:\n  - x\n"
        "websites:\n    - name: A\n      url: https://a.example/\n"
        "    - name: B\n      url: https://b.example/\n"
    )
    result = edit(text, "websites", "a", website_key, {"tags": ["p", "q"]}, replace_all=False)
    assert result.text == (
        "defaults:\n  tags:\n  - x\n"
        "websites:\n    - name: A\n      url: https://a.example/\n      tags: [p, q]\n"
        "    - name: B\n      url: https://b.example/\n"
    )
    nested = {"tags": None, "headers": {"X": "1"}, "assertions": [{"status": 200}]}
    result = edit(text, "websites", "b", website_key, nested, replace_all=False)
    assert result.text.endswith(
        "    - name: B\n      url: https://b.example/\n      headers:\n        X: '1'\n"
        "      assertions:\n          - status: 200\n"  # offset 4, as the websites' list
    )


def test_keys_are_what_each_section_uses() -> None:
    alerts = "alerts:\n  - name: ops-hook\n    type: webhook\n"
    pages = "status_pages:\n  - key: public\n    title: Ours\n"
    sites = "websites:\n  - name: Shop Checkout\n  - key: api\n    name: API\n"
    assert set(_spans(alerts, "alerts", named_key)) == {"ops-hook"}
    assert set(_spans(pages, "status_pages", keyed)) == {"public"}
    assert set(_spans(sites, "websites", website_key)) == {"shop-checkout", "api"}


def _spans(text: str, section: str, key_of: Any) -> Mapping[str, object]:
    found = outline(text, section, key_of)
    assert found is not None
    return found.spans


def test_an_outline_finds_an_entry_among_120_000_without_a_round_trip_parse() -> None:
    """The reason for it: what a write of one entry costs does not grow with the file
    beyond libyaml's event parse (ruamel's round trip is ~0.27 ms a website)."""
    text = "websites:\n" + "".join(
        f"  - name: Site {i}\n    url: https://x.example/{i}\n" for i in range(120_000)
    )
    found = outline(text, "websites", website_key)
    assert found is not None
    assert len(found.spans) == 120_000
    result = edit(
        text,
        "websites",
        "site-60000",
        website_key,
        {"timeout": "5s"},
        replace_all=False,
        found=found,
    )
    assert "  - name: Site 60000\n    url: https://x.example/60000\n    timeout: 5s\n" in (
        result.text
    )
    assert len(result.text) == len(text) + len("    timeout: 5s\n")
