"""Hostile config input: every number, pattern, file and reference gets a clear
error with its position, never a traceback, a hang or unbounded memory; and every
valid spec survives its stored form (what the checker re-validates)."""

from __future__ import annotations

import os
import re
import string
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitewatch.config.envsubst import EnvError, resolve, substitute
from sitewatch.config.loader import load_config
from sitewatch.config.models import ALERT_TYPES, Website
from sitewatch.config.regex import compile_regex
from sitewatch.config.secrets import ConfigEnv, Redactor
from sitewatch.errors import ConfigError
from tests.factories import ALERTS, write


def errors(config_dir: Path, env: Any = None, **kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, env if env is not None else {}, **kw)
    return [p.format() for p in info.value.problems if p.severity == "error"]


def site(extra: str) -> str:
    return f"websites:\n  - name: Shop\n    url: https://shop.example.com/\n{extra}"


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("    interval: .nan\n", "4:15: websites[0].interval", "finite"),
        ("    interval: .inf\n", "4:15: websites[0].interval", "finite"),
        ("    timeout: -.inf\n", "4:14: websites[0].timeout", "finite"),
        ("    interval: " + "9" * 309 + "\n", "4:15: websites[0].interval", "not meaningful"),
        ("    interval: " + "9" * 5000 + "\n", "4:15: websites[0].interval", ""),
        ("    interval: 1" + "0" * 400 + "d\n", "4:15: websites[0].interval", ""),
        ("    max_response_time: 1.0e+400\n", "4:24: websites[0].max_response_time", "finite"),
        ("    tls_expiry_days: " + "9" * 400 + "\n", "4:22: websites[0].tls_expiry_days", ""),
        (
            "    json_assertions: [{path: $.a, less_than: .nan}]\n",
            "websites[0].json_assertions[0].less_than",
            "finite",
        ),
        (
            "    json_assertions: [{path: $.a, equals: .inf}]\n",
            "websites[0].json_assertions[0].equals",
            "",
        ),
    ],
)
def test_numbers_that_are_not_numbers_are_errors_with_positions(
    config_dir: Path, extra: str, where: str, message: str
) -> None:
    write(config_dir, "monitors.yaml", site(extra))
    found = errors(config_dir)
    assert any(where in e and message in e for e in found), found
    assert all(len(e) < 400 for e in found), found  # never a 5,000-digit echo


def test_validate_prints_no_traceback_for_a_nan(config_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    write(config_dir, "monitors.yaml", site("    interval: .nan\n"))
    done = subprocess.run(
        [sys.executable, "-m", "sitewatch", "validate", "--config", str(config_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "monitors.yaml:4:15: websites[0].interval" in done.stdout + done.stderr


# -- regular expressions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [(r"(a)\\1", "backreferences"), ("(?=x)y", "lookaround"), ("(?<!x)y", "lookaround")],
)
def test_patterns_re2_cannot_run_are_refused_with_the_reason(
    config_dir: Path, pattern: str, hint: str
) -> None:
    write(config_dir, "monitors.yaml", site(f'    body_regex: "{pattern}"\n'))
    found = errors(config_dir)
    assert any("websites[0].body_regex" in e and "RE2" in e and hint in e for e in found), found


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    pattern = compile_regex("(a+)+$")
    text = "a" * 100_000 + "!"
    done = threading.Event()
    found: list[object] = []

    def run() -> None:
        found.append(pattern.search(text))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    # Python's re takes longer than the universe's age on this; RE2 microseconds.
    assert done.wait(60), "the pattern backtracked"
    assert found == [None]


# -- files ---------------------------------------------------------------------------------


def test_special_files_and_escaping_symlinks_are_errors_naming_the_file(
    config_dir: Path, tmp_path: Path
) -> None:
    write(config_dir, "monitors.yaml", site(""))
    write(config_dir, "alerts.yaml", ALERTS)
    frag = config_dir / "monitors.d"
    frag.mkdir()
    os.mkfifo(frag / "fifo.yaml")
    (frag / "dir.yaml").mkdir()
    outside = tmp_path / "outside.yaml"
    outside.write_text(site(""))
    (frag / "escape.yaml").symlink_to(outside)
    (frag / "zero.yaml").symlink_to("/dev/zero")
    (frag / "loop.yaml").symlink_to(frag / "loop.yaml")
    write(config_dir, "monitors.d/inside-target.txt", "websites: []\n")
    (frag / "inside.yaml").symlink_to(frag / "inside-target.txt")  # allowed: inside
    found = errors(config_dir)
    by_file = {e.split(":", 1)[0].rsplit("/", 1)[-1]: e for e in found}
    assert "FIFO" in by_file["fifo.yaml"]
    assert "directory" in by_file["dir.yaml"]
    assert "outside the config folder" in by_file["escape.yaml"]
    assert "outside the config folder" in by_file["zero.yaml"]
    assert "loop" in by_file["loop.yaml"]
    assert "inside.yaml" not in by_file
    assert len(found) == 5, found


def test_a_file_over_the_limit_is_an_error(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", site("") + "#" * 5000 + "\n")
    found = errors(config_dir, max_file_bytes=4096)
    assert any("larger than 4,096 bytes" in e for e in found), found


def test_a_fifo_in_the_folder_does_not_hang_the_api_and_writes_answer_409(
    config_dir: Path, tmp_path: Path
) -> None:
    import asyncio

    from tests.appclient import start_client

    write(config_dir, "monitors.yaml", site(""))

    async def scenario() -> None:
        client = await start_client(config_dir, f"sqlite+aiosqlite:///{tmp_path / 'sw.db'}")
        try:
            (config_dir / "monitors.d").mkdir()
            os.mkfifo(config_dir / "monitors.d" / "team.yaml")
            listed = await client.get("/api/websites")
            assert listed.status == 200
            one = await client.get("/api/websites/shop")
            assert one.status == 200, await one.text()
            new = {"name": "B", "url": "https://b.example.com/"}
            created = await client.post("/api/websites", json=new)
            assert created.status == 409, await created.text()
            problem = await created.json()
            assert "team.yaml" in problem["detail"] and "FIFO" in problem["detail"]
            assert (await client.get("/metrics")).status == 200
        finally:
            await client.close()

    asyncio.run(scenario())


# -- round trip ---------------------------------------------------------------------------

_text = st.text(string.ascii_letters + string.digits + " -_.$", min_size=1, max_size=12)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    _text,
)
_assertion = st.one_of(
    st.builds(lambda v: {"path": "$.a", "equals": v}, _scalar | st.lists(_scalar, max_size=3)),
    st.builds(lambda v: {"path": "$.b[0]", "contains": v}, _text),
    st.builds(
        lambda v: {"path": "$['odd key']", "matches": v}, st.sampled_from(["^ok", "a+b", "x|y"])
    ),
    st.builds(lambda v: {"path": "$.items[*].s", "exists": v}, st.booleans()),
    st.builds(lambda v: {"path": "$.n", "less_than": v}, st.floats(-1e9, 1e9)),
    st.builds(lambda v: {"path": "$.n", "greater_than": v}, st.integers(-100, 100)),
)
_website = st.fixed_dictionaries(
    {
        "name": _text.filter(lambda t: any(c.isalnum() for c in t)),
        "url": st.just("https://x.example.com/p?q=1"),
    },
    optional={
        "method": st.sampled_from(["GET", "post", "HEAD"]),
        "headers": st.dictionaries(st.sampled_from(["X-A", "Authorization"]), _text, max_size=2),
        "body": _text,
        "expected_status": st.sampled_from([200, "2xx", [200, "301-302"], "5xx"]),
        "timeout": st.sampled_from(["1s", 2, 2.5, "100ms"]),
        "interval": st.sampled_from(["5s", "1m", 300, "1h30m"]),
        "retry_interval": st.sampled_from(["5s", "10s"]),
        "follow_redirects": st.booleans(),
        "verify_tls": st.booleans(),
        "body_contains": st.one_of(_text, st.lists(_text, max_size=3)),
        "body_regex": st.sampled_from(["ok$", "^a.*b", "(?i)up"]),
        "json_assertions": st.lists(_assertion, max_size=4),
        "max_response_time": st.sampled_from(["250ms", 1.5, "2s"]),
        "tls_expiry_days": st.integers(0, 3650),
        "tags": st.lists(st.sampled_from(["prod", "eu", "team:a"]), max_size=3),
        "active": st.booleans(),
        "alerts": st.lists(st.sampled_from(["ops", "oncall"]), max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_website)
def test_every_valid_website_survives_its_stored_form(raw: dict[str, Any]) -> None:
    try:
        website = Website.model_validate(raw)
    except ValueError:
        return  # not a valid website (e.g. timeout over interval): nothing to keep
    stored = website.model_dump(mode="json", by_alias=True)
    again = Website.model_validate(stored)
    assert again == website
    assert again.model_dump(mode="json", by_alias=True) == stored


_alert = st.one_of(
    st.fixed_dictionaries(
        {
            "name": st.just("hook"),
            "type": st.just("webhook"),
            "url": st.just("https://h.example/x"),
        },
        optional={
            "secret": _text,
            "headers": st.dictionaries(st.just("X-K"), _text, max_size=1),
            "format": st.sampled_from(["json", "slack", "discord"]),
            "reminder_interval": st.sampled_from(["1m", "1h"]),
            "websites": st.sampled_from(["*", ["shop"]]),
            "failure_threshold": st.integers(1, 100),
        },
    ),
    st.fixed_dictionaries(
        {
            "name": st.just("mail"),
            "type": st.just("email"),
            "host": st.just("smtp.example"),
            "from": st.just("sw@example.com"),
            "to": st.just(["a@example.com"]),
        },
        optional={
            "port": st.integers(1, 65535),
            "tls": st.sampled_from(["none", "starttls", "tls"]),
            "timeout": st.sampled_from(["5s", 30]),
            "tags": st.lists(st.sampled_from(["prod"]), max_size=1),
        },
    ),
)


@settings(max_examples=200, deadline=None)
@given(_alert)
def test_every_valid_alert_survives_its_stored_form(raw: dict[str, Any]) -> None:
    model = ALERT_TYPES[raw["type"]]
    alert = model.model_validate(raw)
    stored = alert.model_dump(mode="json", by_alias=True)
    assert model.model_validate(stored) == alert


def test_json_assertions_are_stored_with_their_one_condition(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        site(
            "    json_assertions:\n      - {path: $.status, equals: ok}\n      - {path: $.x, equals: null}\n"
        ),
    )
    snapshot = load_config(config_dir, {})
    stored = snapshot.websites["shop"].stored
    assert stored["json_assertions"] == [
        {"path": "$$.status", "equals": "ok"},
        {"path": "$$.x", "equals": None},
    ]
    assert Website.model_validate(resolve(stored, {})) == snapshot.websites["shop"].model


# -- any YAML --------------------------------------------------------------------------------

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**320),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["${X}", "${SITEWATCH_API_TOKENS}", "$${Y}", "${", "1h", "5s", "*", "2xx"]),
)
_keys = st.sampled_from(
    [
        "websites",
        "defaults",
        "alerts",
        "maintenance",
        "name",
        "url",
        "interval",
        "timeout",
        "json_assertions",
        "path",
        "equals",
        "body_regex",
        "expected_status",
        "headers",
        "type",
        "allow_empty",
        "tags",
        "key",
        "days",
        "start",
        "end",
        "duration",
    ]
) | st.text(max_size=8)
_tree = st.recursive(
    _leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(monitors=_tree, alerts=_tree, noise=st.text(max_size=60))
def test_any_yaml_is_a_config_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, monitors: Any, alerts: Any, noise: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "monitors.yaml").write_text(yaml.safe_dump(monitors, allow_unicode=True) + noise)
    (folder / "alerts.yaml").write_text(yaml.safe_dump(alerts, allow_unicode=True))
    problems: tuple[Any, ...] = ()
    try:
        load_config(folder, ConfigEnv({"X": "x-value"}))
    except ConfigError as exc:
        problems = exc.problems
        assert problems
    for problem in problems:
        assert re.match(r"^.+:\d+:\d+: ", problem.format()), problem.format()


# -- environment ---------------------------------------------------------------------------


def test_sitewatch_settings_can_never_be_referenced() -> None:
    env = ConfigEnv({"SITEWATCH_API_TOKENS": "t" * 20, "OK": "fine"})
    with pytest.raises(EnvError, match="SITEWATCH_\\* variables are sitewatch's own"):
        substitute("https://x/?t=${SITEWATCH_API_TOKENS}", env)
    with pytest.raises(EnvError, match="sitewatch's own"):
        substitute("${sitewatch_api_tokens:-x}", env)
    assert substitute("${OK}", env) == "fine"


def test_only_allowed_variables_can_be_referenced(config_dir: Path) -> None:
    env = ConfigEnv({"SW_TOKEN": "abc123", "HOME": "/root"}, ["SW_*"])
    write(config_dir, "monitors.yaml", site("    headers: {X-T: '${SW_TOKEN}', X-H: '${HOME}'}\n"))
    found = errors(config_dir, env)
    assert any("X-H" in e and "not an allowed variable" in e and "SW_*" in e for e in found), found
    assert not any("X-T" in e for e in found), found


def test_the_redactor_hides_every_resolved_value_and_its_url_forms() -> None:
    env = ConfigEnv({"TOKEN": "s3cr3t/+&value", "SHORT": "ab"})
    redact = Redactor(env)
    assert redact("s3cr3t/+&value") == "s3cr3t/+&value"  # nothing resolved yet
    substitute("${TOKEN} ${SHORT}", env)
    assert redact("a s3cr3t/+&value b") == "a ${TOKEN} b"
    assert redact("https://h/?t=s3cr3t%2F%2B%26value") == "https://h/?t=${TOKEN}"
    assert (
        redact("https://h/?t=s3cr3t%2F%2B%26value".replace("%2F", "/")) == "https://h/?t=${TOKEN}"
    )
    assert redact("ab") == "ab"  # too short to be a secret
