"""Form fields <-> config entries, without I/O."""

from __future__ import annotations

from sitewatch.config.problems import Problem
from sitewatch.web.dashboard.forms import (
    ALERT_FIELDS,
    WEBSITE_FIELDS,
    entry_from_form,
    form_errors,
    form_values,
)


def test_new_website_writes_only_what_was_filled_in() -> None:
    form = {
        "name": "Shop",
        "url": " https://shop.example.com/ ",
        "key": "",
        "interval": "30s",
        "expected_status": "200, 301",
        "tags": "prod, eu,",
        "body_contains": "Welcome\n\n  Basket \n",
        "tls_expiry_days": "14",
        "active": "true",
        "follow_redirects": "true",
        "verify_tls": "true",
    }
    entry = entry_from_form(WEBSITE_FIELDS, form, ["pager"], None)
    assert entry == {
        "name": "Shop",
        "url": "https://shop.example.com/",
        "expected_status": [200, 301],
        "interval": "30s",
        "body_contains": ["Welcome", "Basket"],
        "tls_expiry_days": 14,
        "tags": ["prod", "eu"],
        "alerts": ["pager"],
    }
    assert list(entry)[:2] == ["name", "url"]


def test_unticked_box_writes_false_only_when_it_differs_from_the_default() -> None:
    entry = entry_from_form(WEBSITE_FIELDS, {"name": "A", "url": "http://a/"}, [], None)
    assert entry["active"] is False and entry["follow_redirects"] is False
    kept = entry_from_form(
        WEBSITE_FIELDS,
        {
            "name": "A",
            "url": "http://a/",
            "active": "true",
            "follow_redirects": "true",
            "verify_tls": "1",
        },
        [],
        None,
    )
    assert "active" not in kept and "verify_tls" not in kept


def test_edit_keeps_fields_the_form_does_not_show_and_drops_blanked_ones() -> None:
    original = {
        "name": "Blog",
        "key": "blog",
        "url": "https://blog/",
        "headers": {"X-Env": "${ENV}"},
        "json_assertions": [{"path": "$.ok", "equals": True}],
        "interval": "1m",
        "active": True,
    }
    form = {
        "name": "Blog",
        "key": "blog",
        "url": "https://blog/",
        "interval": "",
        "active": "true",
        "follow_redirects": "true",
        "verify_tls": "true",
    }
    entry = entry_from_form(WEBSITE_FIELDS, form, [], original)
    assert entry["headers"] == {"X-Env": "${ENV}"}
    assert entry["json_assertions"] == [{"path": "$.ok", "equals": True}]
    assert "interval" not in entry
    assert entry["active"] is True  # was written: stays written


def test_alert_keeps_only_the_fields_of_its_type() -> None:
    original = {"name": "hook", "type": "email", "host": "smtp", "from": "a@b", "to": ["c@d"]}
    form = {
        "name": "hook",
        "type": "webhook",
        "url": "http://127.0.0.1:9/h",
        "host": "smtp",
        "secret": "********",
        "enabled": "true",
        "send_on_resolved": "true",
    }
    entry = entry_from_form(ALERT_FIELDS, form, [], original, group="webhook")
    assert entry == {
        "name": "hook",
        "type": "webhook",
        "url": "http://127.0.0.1:9/h",
        "secret": "********",
    }


def test_values_shown_in_a_form() -> None:
    values = form_values(
        WEBSITE_FIELDS,
        {
            "name": "A",
            "tags": ["x", "y"],
            "body_contains": ["a", "b"],
            "alerts": "hook",
            "expected_status": [200, 301],
            "active": False,
        },
    )
    assert values["tags"] == "x, y"
    assert values["body_contains"] == "a\nb"
    assert values["alerts"] == ["hook"]
    assert values["expected_status"] == "200, 301"
    assert values["active"] is False and values["verify_tls"] is True
    assert values["url"] == ""


def test_problems_go_to_their_fields_in_the_cli_wording() -> None:
    problems = [
        Problem(
            "config/monitors.yaml", 12, 10, ("websites", 2, "url"), "Input should be a valid URL"
        ),
        Problem("config/monitors.yaml", 13, 5, ("websites", 2, "headers", "X"), "bad header"),
        Problem("config/monitors.yaml", 0, 0, ("websites",), "duplicate key 'a'"),
    ]
    errors = form_errors(problems, WEBSITE_FIELDS)
    assert errors.by_field == {"url": ["Input should be a valid URL"]}
    assert errors.general == [
        "config/monitors.yaml:13:5: websites[2].headers.X: bad header",
        "config/monitors.yaml: websites: duplicate key 'a'",
    ]
    assert (
        errors.lines[0]
        == "config/monitors.yaml:12:10: websites[2].url: Input should be a valid URL"
    )
    assert errors
    assert not form_errors([], WEBSITE_FIELDS)
    assert form_errors([], WEBSITE_FIELDS, "read-only").general == ["read-only"]


def test_a_website_keeps_only_the_fields_of_its_check_type() -> None:
    form = {
        "name": "MX",
        "type": "dns",
        "domain": "example.org",
        "record": "MX",
        "dns_expect": "10 mx1.example.org\n20 mx2.example.org\n",
        "tcp_expect": "^220",  # the hidden TCP field: not the DNS check's business
        "host": "ignored.example.org",
        "url": "https://ignored/",
        "interval": "5m",
        "active": "true",
    }
    original = {"name": "MX", "url": "https://old/", "method": "POST", "interval": "1m"}
    entry = entry_from_form(WEBSITE_FIELDS, form, [], original, "dns")
    assert entry == {
        "name": "MX",
        "type": "dns",
        "domain": "example.org",
        "record": "MX",
        "expect": ["10 mx1.example.org", "20 mx2.example.org"],
        "interval": "5m",
    }
    tcp = entry_from_form(
        WEBSITE_FIELDS,
        {"name": "DB", "type": "tcp", "host": "db", "port": "5432", "tcp_expect": "^R"},
        [],
        None,
        "tcp",
    )
    assert tcp["expect"] == "^R" and tcp["port"] == 5432 and "url" not in tcp
    beat = entry_from_form(
        WEBSITE_FIELDS,
        {"name": "Backup", "type": "heartbeat", "period": "1d", "interval": "30s"},
        [],
        {"name": "Backup", "url": "https://x/", "timeout": "5s"},
        "heartbeat",
    )
    assert beat == {"name": "Backup", "type": "heartbeat", "period": "1d", "active": False}
    shown = form_values(WEBSITE_FIELDS, entry)
    assert shown["dns_expect"] == "10 mx1.example.org\n20 mx2.example.org"
    assert shown["type"] == "dns" and shown["record"] == "MX"
