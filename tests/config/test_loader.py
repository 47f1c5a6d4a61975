"""The loader: real files in a temporary folder, exact messages and positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.config.entries import Snapshot
from sitewatch.config.envsubst import substitute
from sitewatch.config.loader import load_config
from sitewatch.errors import ConfigError
from tests.factories import ALERTS, monitors_yaml, write


def load(config_dir: Path, env: dict[str, str] | None = None) -> Snapshot:
    return load_config(config_dir, env or {})


def errors(config_dir: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(config_dir, env)
    return [p.format() for p in info.value.problems if p.severity == "error"]


def test_example_config_in_repo_is_valid() -> None:
    snapshot = load(Path(__file__).parents[2] / "config")
    assert "sitewatch-health" in snapshot.websites
    assert snapshot.websites["sitewatch-health"].model.url.endswith("/health")
    assert not [w for w in snapshot.warnings if w.severity == "error"]


def test_the_documented_error_format(config_dir: Path) -> None:
    lines = ["# a comment"] * 3 + [
        "websites:",
        "  - name: A",
        "    url: https://a.example.com",
        "  - name: B",
        "    url: https://b.example.com",
        "  - name: C",
        "    url: https://c.example.com",
        "    tags: [x]",
        "    method: GET",
        "    timeout: 1s",
        "    interval: 1s",
    ]
    write(config_dir, "monitors.yaml", "\n".join(lines) + "\n")
    assert errors(config_dir) == [
        f'{config_dir}/monitors.yaml:14:15: websites[2].interval: must be at least 5s (got "1s")'
    ]


def test_defaults_fill_and_headers_merge(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "defaults:\n  interval: 2m\n  headers: {A: '1', B: '2'}\n  tags: [prod]\n"
        "websites:\n"
        "  - name: One\n    url: https://one.example.com\n    headers: {B: x}\n"
        "  - name: Two\n    url: https://two.example.com\n    interval: 10s\n    tags: [dev]\n",
    )
    snapshot = load(config_dir)
    one, two = snapshot.websites["one"].model, snapshot.websites["two"].model
    assert (one.interval, one.headers, one.tags) == (120.0, {"A": "1", "B": "x"}, ["prod"])
    assert (two.interval, two.tags) == (10.0, ["dev"])
    assert one.timeout == 10.0 and one.expected_status == ["2xx"] and one.method == "GET"


def test_fragments_merge_and_inherit_main_defaults(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "defaults: {interval: 45s}\n" + monitors_yaml(["main"]).replace("    interval: 30s\n", ""),
    )
    write(
        config_dir,
        "monitors.d/team-a.yaml",
        "defaults: {timeout: 3s}\nwebsites:\n  - name: Team A\n    url: http://a.internal/\n",
    )
    write(config_dir, "monitors.d/notes.txt", "not yaml, ignored")
    snapshot = load(config_dir)
    assert snapshot.websites["main"].model.interval == 45.0
    team = snapshot.websites["team-a"]
    assert (team.model.interval, team.model.timeout) == (45.0, 3.0)
    assert team.source.file == f"{config_dir}/monitors.d/team-a.yaml" and team.source.line == 3


def test_key_defaults_to_slug_of_name(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: 'Shop: Checkout (EU)'\n    url: https://shop.example\n",
    )
    assert list(load(config_dir).websites) == ["shop-checkout-eu"]


def test_key_null_is_no_key_and_a_validated_key_is_never_empty(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - {name: Shop, key: null, url: https://shop.example}\n"
        "  - {name: Blog, key: journal, url: https://blog.example}\n",
    )
    snapshot = load(config_dir)
    assert [e.model.key for e in snapshot.websites.values()] == ["shop", "journal"]
    assert snapshot.websites["shop"].stored["key"] == "shop"


def test_a_name_without_letters_or_digits_says_which_name(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "websites:\n  - name: '!!!'\n    url: https://a.example\n")
    with pytest.raises(ConfigError) as caught:
        load(config_dir)
    message = caught.value.problems[0].format()
    assert "cannot derive a key from name '!!!': set key explicitly" in message
    assert "{" not in message


def test_unknown_key_suggests_the_closest(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: https://a.example\n    intervall: 30s\n",
    )
    assert errors(config_dir) == [
        f"{config_dir}/monitors.yaml:4:5: websites[0].intervall: unknown key 'intervall'; did you mean 'interval'?"
    ]


def test_unknown_top_level_key(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "website:\n  - name: A\n")
    assert errors(config_dir) == [
        f"{config_dir}/monitors.yaml:1:1: website: unknown key 'website'; did you mean 'websites'?"
    ]


def test_duplicate_yaml_keys_name_both_lines(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: https://a.example\n    interval: 30s\n    interval: 1m\n",
    )
    assert errors(config_dir) == [
        f"{config_dir}/monitors.yaml:5:5: websites[0].interval: duplicate key 'interval' (first defined at line 4)"
    ]


def test_duplicate_website_keys_across_files_name_both_places(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["shop"]))
    write(config_dir, "monitors.d/b.yaml", monitors_yaml(["other", "shop"]))
    assert errors(config_dir) == [
        f"{config_dir}/monitors.d/b.yaml:7:10: websites[1].key: duplicate website key 'shop' "
        f"(also defined at {config_dir}/monitors.yaml:2)"
    ]


def test_duplicate_alert_names(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(config_dir, "alerts.yaml", ALERTS)
    write(config_dir, "alerts.d/more.yaml", ALERTS)
    assert errors(config_dir) == [
        f"{config_dir}/alerts.d/more.yaml:2:11: alerts[0].name: duplicate alert name 'ops-hook' "
        f"(also defined at {config_dir}/alerts.yaml:2)"
    ]


def test_reference_to_undefined_alert(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]) + "    alerts: [ops-hok]\n")
    write(config_dir, "alerts.yaml", ALERTS)
    assert errors(config_dir) == [
        f"{config_dir}/monitors.yaml:6:14: websites[0].alerts[0]: unknown alert 'ops-hok'; did you mean 'ops-hook'?"
    ]


def test_alert_selecting_an_undefined_website(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["shop"]))
    write(config_dir, "alerts.yaml", ALERTS.replace('websites: "*"', "websites: [shop, nope]"))
    [message] = errors(config_dir)
    assert message.startswith(
        f"{config_dir}/alerts.yaml:5:22: alerts[0].websites[1]: unknown website 'nope'"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://files.example.com",
            'must be an http:// or https:// URL (got "ftp://files.example.com")',
        ),
        ("example.com/health", 'must be an http:// or https:// URL (got "example.com/health")'),
        ("https://", 'the URL has no host (got "https://")'),
        ('"https://exa mple.com"', 'a URL cannot contain spaces (got "https://exa mple.com")'),
        ("http://host:99999/", "not a valid URL: Port out of range 0-65535"),
        ("http://-bad-.example/", "invalid host '-bad-.example' in URL"),
    ],
)
def test_malformed_urls(config_dir: Path, url: str, message: str) -> None:
    write(config_dir, "monitors.yaml", f"websites:\n  - name: A\n    url: {url}\n")
    assert errors(config_dir) == [f"{config_dir}/monitors.yaml:3:10: websites[0].url: {message}"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "30",
            "expected a duration such as 30s, 5m or 1h (add a unit: ms, s, m, h or d) (got '30')",
        ),
        ("5 minutes", "expected a duration such as 30s, 5m or 1h (got '5 minutes')"),
        ("1s", 'must be at least 5s (got "1s")'),
        ("8d", 'must be at most 7d (got "8d")'),
        ("-5", "expected a duration such as 30s, 5m or 1h (got '-5')"),
        ("true", "expected a duration such as 30s, 5m or 1h (got True)"),
    ],
)
def test_bad_durations(config_dir: Path, value: str, message: str) -> None:
    quoted = f'"{value}"' if value in ("30", "-5") else value
    write(
        config_dir,
        "monitors.yaml",
        f"websites:\n  - name: A\n    url: https://a.example\n    interval: {quoted}\n",
    )
    assert errors(config_dir) == [
        f"{config_dir}/monitors.yaml:4:15: websites[0].interval: {message}"
    ]


def test_timeout_longer_than_interval(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: https://a.example\n    interval: 10s\n    timeout: 20s\n",
    )
    assert errors(config_dir) == [
        f"{config_dir}/monitors.yaml:5:14: websites[0].timeout: timeout (20s) must not be longer than interval (10s)"
    ]


def test_yaml_syntax_error_has_the_line(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "websites:\n  - name: A\n    url: [unclosed\n  - name: B\n")
    [message] = errors(config_dir)
    assert message.startswith(f"{config_dir}/monitors.yaml:4:")
    assert "YAML syntax error" in message


def test_tabs_get_a_hint(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "websites:\n\t- name: A\n")
    [message] = errors(config_dir)
    assert message.startswith(f"{config_dir}/monitors.yaml:2:1: (document): YAML syntax error")
    assert "use spaces" in message


def test_every_error_of_every_file_at_once(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: ftp://a\n  - name: B\n    url: https://b.example\n    interval: 1s\n"
        "  - name: C\n    url: https://c.example\n    method: FETCH\n",
    )
    write(config_dir, "alerts.yaml", "alerts:\n  - name: x\n    type: pager\n")
    found = errors(config_dir)
    assert len(found) == 4
    assert [m.split(": ")[1] for m in found] == [
        "alerts[0].type",
        "websites[0].url",
        "websites[1].interval",
        "websites[2].method",
    ]


def test_unsafe_yaml_tags_are_refused(config_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write(
        config_dir,
        "monitors.yaml",
        f"websites:\n  - name: !!python/object/apply:os.system ['touch {marker}']\n    url: https://a.example\n",
    )
    [message] = errors(config_dir)
    assert "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'" in message
    assert not marker.exists()


def test_alias_bombs_are_refused(config_dir: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    write(config_dir, "monitors.yaml", "\n".join(lines) + "\n")
    [message] = errors(config_dir)
    assert "once aliases are expanded: refusing to read" in message


def test_anchors_and_merge_keys_work(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "x-common: &common {interval: 1m, tags: [shared]}\n",
    )
    # x-common is not a known key; merge keys inside websites are the supported way:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - &base\n    name: A\n    url: https://a.example\n    interval: 1m\n"
        "  - <<: *base\n    name: B\n",
    )
    snapshot = load(config_dir)
    assert snapshot.websites["b"].model.interval == 60.0
    assert snapshot.websites["b"].model.url == "https://a.example"


def test_yes_no_booleans_get_a_quoting_hint(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: https://a.example\n    headers: {X-Debug: yes}\n",
    )
    [message] = errors(config_dir)
    assert message.endswith("put the value in quotes)")
    assert ":4:24: websites[0].headers.X-Debug:" in message


def test_expected_status_forms(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n"
        "  - {name: a, url: 'https://a.example', expected_status: 200}\n"
        "  - {name: b, url: 'https://b.example', expected_status: 2xx}\n"
        "  - {name: c, url: 'https://c.example', expected_status: [200, 301, 400-404]}\n",
    )
    ws = load(config_dir).websites
    assert [ws[k].model.expected_status for k in "abc"] == [
        ["200"],
        ["2xx"],
        ["200", "301", "400-404"],
    ]


def test_missing_folder(tmp_path: Path) -> None:
    assert errors(tmp_path / "nope") == [
        f"{tmp_path / 'nope'}: (document): config folder not found"
    ]


def test_empty_files_mean_no_websites(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "# nothing yet\n")
    assert load(config_dir).websites == {}


def test_alert_without_websites_warns(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(config_dir, "alerts.yaml", ALERTS.replace('    websites: "*"\n', ""))
    snapshot = load(config_dir)
    assert [w.format() for w in snapshot.warnings] == [
        f"{config_dir}/alerts.yaml:2:5: warning: alerts[0]: alert 'ops-hook' applies to no website: "
        'list it in a website\'s alerts:, or give it websites: (keys or "*") or tags:'
    ]


def test_bindings_from_both_sides_and_tags(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n"
        "  - {name: a, url: 'https://a.example', alerts: [mail]}\n"
        "  - {name: b, url: 'https://b.example', tags: [prod]}\n"
        "  - {name: c, url: 'https://c.example'}\n",
    )
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n"
        "  - {name: mail, type: email, host: smtp.example, from: s@example.com, to: o@example.com, tags: [prod]}\n"
        "  - {name: hook, type: webhook, url: 'http://127.0.0.1:9/', websites: '*'}\n",
    )
    assert load(config_dir).bindings == {
        ("a", "mail"),
        ("b", "mail"),
        ("a", "hook"),
        ("b", "hook"),
        ("c", "hook"),
    }


def test_alert_type_specific_errors(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n"
        "  - name: mail\n    type: email\n    hots: smtp.example\n    from: nope\n    to: [o@example.com]\n"
        "    websites: '*'\n    username: u\n"
        "  - name: hook\n    type: webhook\n    url: http://127.0.0.1:9/\n    host: x\n    websites: '*'\n"
        "  - name: other\n    websites: '*'\n",
    )
    assert [m.split(": ", 1)[1] for m in errors(config_dir)] == [
        "alerts[0].host: missing required key 'host'",
        "alerts[0].hots: unknown key 'hots'; did you mean 'host'?",
        "alerts[0].from: not an email address: 'nope'",
        "alerts[1].host: unknown key 'host' for an alert of type 'webhook'",
        "alerts[2]: missing required key 'type' (one of email, webhook, apprise, pagerduty, opsgenie)",
    ]


# -- ${VAR} references --------------------------------------------------------------


def test_env_references_resolve_and_unset_is_an_error(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n  - name: mail\n    type: email\n    host: smtp.example\n    username: ${SMTP_USER}\n"
        "    password: ${SMTP_PASSWORD}\n    from: s@example.com\n    to: o@example.com\n    websites: '*'\n",
    )
    assert errors(config_dir, {"SMTP_USER": "u"}) == [
        f"{config_dir}/alerts.yaml:6:15: alerts[0].password: environment variable SMTP_PASSWORD is not set"
    ]
    snapshot = load(config_dir, {"SMTP_USER": "u", "SMTP_PASSWORD": "hunter2-secret"})
    alert = snapshot.alerts["mail"]
    assert alert.model.password == "hunter2-secret"  # type: ignore[union-attr]
    # The stored form keeps the reference: the database never sees the secret.
    assert alert.stored["password"] == "${SMTP_PASSWORD}"
    assert "hunter2-secret" not in repr(alert.stored)


def test_stored_form_round_trips_through_substitute(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "defaults:\n  headers: {Authorization: 'Bearer ${TOKEN}'}\n"
        "websites:\n  - name: A\n    url: 'https://${HOST:-a.example}/x'\n    body_regex: 'ok$'\n"
        "    body: 'price: $$5 ${TOKEN}'\n",
    )
    entry = load(config_dir, {"TOKEN": "t0ps3cret"}).websites["a"]
    assert entry.model.headers["Authorization"] == "Bearer t0ps3cret"
    assert entry.model.url == "https://a.example/x"
    assert entry.model.body == "price: $5 t0ps3cret"
    assert entry.stored["headers"]["Authorization"] == "Bearer ${TOKEN}"
    assert entry.stored["url"] == "https://${HOST:-a.example}/x"
    assert entry.stored["body_regex"] == "ok$$"
    assert "t0ps3cret" not in repr(entry.stored)
    env = {"TOKEN": "t0ps3cret"}
    assert substitute(entry.stored["body"], env) == entry.model.body
    assert substitute(entry.stored["body_regex"], env) == "ok$"


def test_a_reference_where_a_list_may_stand_is_stored_as_the_reference(
    config_dir: Path,
) -> None:
    # urls: and to: take one value or a list; one ${VAR} is a one-item list once
    # validated, and the stored form keeps the reference, never the value.
    write(config_dir, "monitors.yaml", "websites:\n  - name: A\n    url: https://a.example/\n")
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n"
        "  - name: phone\n    type: apprise\n    websites: '*'\n"
        "    urls: gotify://gotify.example.com/${GOTIFY_TOKEN}\n"
        "  - name: mail\n    type: email\n    host: smtp.example.com\n"
        "    from: sw@example.com\n    to: ${ONCALL}\n",
    )
    env = {"GOTIFY_TOKEN": "AbCdEf123456", "ONCALL": "oncall-8f2@example.com"}
    loaded = load(config_dir, env)
    phone, mail = loaded.alerts["phone"], loaded.alerts["mail"]
    assert phone.model.urls == ["gotify://gotify.example.com/AbCdEf123456"]
    assert phone.stored["urls"] == ["gotify://gotify.example.com/${GOTIFY_TOKEN}"]
    assert mail.stored["to"] == ["${ONCALL}"]
    assert "AbCdEf123456" not in repr(phone.stored)
    assert "oncall-8f2" not in repr(mail.stored)


def test_errors_never_echo_a_resolved_secret(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: 'ftp://user:${PASS}@a.example/'\n",
    )
    [message] = errors(config_dir, {"PASS": "sup3r-s3cret"})
    assert "sup3r-s3cret" not in message
    assert "${PASS}" in message


def test_invalid_reference_syntax(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: 'https://a.example/${bad-name}'\n",
    )
    [message] = errors(config_dir)
    assert "invalid reference ${bad-name}" in message and "write $$ for a literal $" in message


def test_email_credentials_go_together(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n  - name: mail\n    type: email\n    host: smtp.example\n    username: u\n"
        "    from: s@example.com\n    to: o@example.com\n    websites: '*'\n",
    )
    assert errors(config_dir) == [
        f"{config_dir}/alerts.yaml:2:5: alerts[0].password: username and password go together: "
        "set both or neither"
    ]


def test_a_broken_alert_is_not_also_reported_as_unknown(config_dir: Path) -> None:
    """The alert exists but its own line fails: one error, at that line; no
    "unknown alert ... did you mean" on the websites that use it."""
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: A\n    url: https://a.example\n    alerts: [ops]\n",
    )
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n  - name: ops\n    type: webhook\n    url: not a url\n",
    )
    found = errors(config_dir)
    assert len(found) == 1, found
    assert "alerts.yaml:4" in found[0] and "unknown alert" not in found[0]


def test_a_broken_website_is_not_also_reported_as_unknown(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "websites:\n  - name: A\n    url: nope\n")
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n  - name: ops\n    type: webhook\n    url: https://hook.example/\n"
        "    websites: [a]\n",
    )
    found = errors(config_dir)
    assert len(found) == 1 and "monitors.yaml:3" in found[0], found


def test_a_file_that_does_not_parse_brings_no_follow_on_messages(config_dir: Path) -> None:
    """A syntax error in monitors.yaml: that error alone, not "alert applies to
    no website" for every alert, nor "unknown website" for every reference."""
    write(config_dir, "monitors.yaml", "websites:\n  - name: A\n    url: [unclosed\n")
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n  - name: ops\n    type: webhook\n    url: https://hook.example/\n"
        "    websites: [a]\n  - name: spare\n    type: webhook\n    url: https://x.example/\n",
    )
    with pytest.raises(ConfigError) as caught:
        load(config_dir)
    problems = caught.value.problems
    assert all(p.file.endswith("monitors.yaml") for p in problems), [p.format() for p in problems]
    assert not any("applies to no website" in p.message for p in problems)


def test_an_alert_key_inside_defaults_is_an_unknown_key(config_dir: Path) -> None:
    """Found by the hostile-config property test: ``websites:`` inside
    ``defaults:`` crashed the message builder (it took it for an alert's key)."""
    write(
        config_dir,
        "monitors.yaml",
        "defaults:\n  websites:\nwebsites:\n  - name: A\n    url: https://a.example\n",
    )
    found = errors(config_dir)
    assert len(found) == 1 and "defaults.websites: unknown key 'websites'" in found[0], found
