"""Message templates: refused with their file:line:col when they do not render on
every kind of event, kept in the sandbox, bounded in time and size, and used by
email and webhooks as by Apprise."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewatch.alerts.channels import Progress
from sitewatch.alerts.channels.email import EmailChannel
from sitewatch.alerts.channels.webhook import WebhookChannel
from sitewatch.config.loader import load_config
from sitewatch.config.models import EmailAlert, WebhookAlert
from sitewatch.config.secrets import ConfigEnv
from sitewatch.config.templating import (
    TemplateError,
    check_template,
    context_of,
    human_duration,
    render,
    sample_event,
)
from sitewatch.errors import ConfigError
from tests.receivers import SmtpSink, WebhookReceiver

MONITORS = "websites:\n  - name: Shop\n    url: https://shop.example.com/\n    alerts: [hook]\n"


def problems(folder: Path, alerts: str, env: dict[str, str] | None = None) -> list[str]:
    folder.mkdir(exist_ok=True)
    (folder / "monitors.yaml").write_text(MONITORS)
    (folder / "alerts.yaml").write_text(textwrap.dedent(alerts))
    with pytest.raises(ConfigError) as failed:
        load_config(folder, ConfigEnv(env or {}))
    return [p.format().removeprefix(f"{folder}/") for p in failed.value.problems]


def test_an_unknown_variable_is_refused_where_it_is_written(tmp_path: Path) -> None:
    assert problems(
        tmp_path / "c",
        """\
        alerts:
          - name: hook
            type: webhook
            url: https://hooks.example.com/
            format: slack
            templates:
              message: |
                {{ website.name }} is {{ event.title }}
                since {{ incidnet.started_at }}
        """,
    ) == [
        "alerts.yaml:7:16: alerts[0].templates.message: line 2: 'incidnet' is undefined "
        "(the variables are event, alert, website, incident, result, links) "
        "(rendering a down event)"
    ]


def test_syntax_errors_json_bodies_and_references_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path / "c",
        """\
        alerts:
          - name: hook
            type: webhook
            url: https://hooks.example.com/
            templates:
              body: '{"text": {{ website.name }}}'
          - name: mail
            type: email
            host: smtp.example.com
            from: sw@example.com
            to: [ops@example.com]
            templates:
              subject: "{% if event.kind %}DOWN"
              text: "token ${SECRET_TOKEN} for {{ website.name }}"
        """,
        {"SECRET_TOKEN": "s3cr3t-t0ken"},
    )
    assert found == [
        "alerts.yaml:6:13: alerts[0].templates.body: the output is not JSON (Expecting value: "
        "line 1 column 10 (char 9)); the tojson filter quotes values (rendering a down event)",
        "alerts.yaml:13:16: alerts[1].templates.subject: line 1: Unexpected end of template. "
        "Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost "
        "block that needs to be closed is 'if'.",
        "alerts.yaml:14:13: alerts[1].templates.text: message templates take no ${VAR} "
        "references: what they render is sent, shown in previews and logged, and a resolved "
        "value would be published; write $${ for a literal ${",
    ]
    assert not [p for p in found if "s3cr3t-t0ken" in p]


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (
            "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
            "ran longer than",
        ),
        ("{{ 'x' * 100000000 }}", "longer than 65536 characters"),
        ("{% for a in range(99999) %}{{ a }}{% endfor %}", "output is longer than"),
        ("{{ 2 ** 1000000 }}", "exponent too large"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ website.items.__globals__ }}", "has no attribute"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recurses too deeply"),
        ("{{ lipsum(100000) }}", "'lipsum' is undefined"),
        # Gigabytes in one step: refused by the worker process's memory cap.
        ("{{ range(99999) | join('x' * 60000) }}", "needed more than 256 MiB of memory"),
        ("{{ 'x'.ljust(1000000000) }}", "needed more than 256 MiB of memory"),
        (
            "{% set a = 'x' * 60000 %}"
            + "".join(
                f"{{% set a{i} = a{i - 1 if i else ''} ~ a{i - 1 if i else ''} %}}"
                for i in range(14)
            )
            + "{{ a13 | length }}",
            "needed more than 256 MiB of memory",
        ),
    ],
)
def test_hostile_templates_get_a_clear_error_and_no_hang(source: str, why: str) -> None:
    with pytest.raises(TemplateError) as failed:
        check_template(source)
    assert why in str(failed.value)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "{{",
                "}}",
                "{%",
                "%}",
                "{#",
                "#}",
                " if ",
                " for ",
                " in ",
                " endfor ",
                " endif ",
                "website",
                ".name",
                "event",
                "|",
                "upper",
                "duration",
                "(",
                ")",
                "'",
                '"',
                "x",
                "1",
                " * ",
                "\n",
                "range",
                "incident",
                "[0]",
                "~",
                "-",
            ]
        ),
        max_size=25,
    ).map("".join)
)
def test_any_text_as_a_template_either_checks_or_is_a_template_error(source: str) -> None:
    try:
        check_template(source)
    except TemplateError as exc:
        problem = str(exc)
    else:  # what checks renders on every kind of event
        for kind in ("down", "reminder", "up", "test"):
            render(source, context_of(sample_event(kind)))
        return
    assert problem  # says what is wrong


def test_the_context_is_documented_and_plain() -> None:
    down = context_of(sample_event("down"))
    assert set(down) == {"event", "alert", "website", "incident", "result", "links"}
    assert down["incident"]["duration"] == "12m"
    assert down["incident"]["key"] == "sitewatch/example/0"
    assert down["incident"]["cause"]["text"] == "got 503, expected 2xx"
    assert down["result"]["timings"]["first_byte_ms"] == 80.1
    assert down["links"]["website"] == "https://sitewatch.example.com/websites/example"
    test = context_of(sample_event("test"))
    assert test["website"]["name"] == "Example" and test["event"]["is_test"]
    assert render("{{ result.status_code }}|{{ incident.resolved_at }}|", down) == "503||"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59, "59s"),
        (95, "1m 35s"),
        (600, "10m"),
        (7260, "2h 1m"),
        (86400 * 3 + 3600, "3d 1h"),
        (None, ""),
    ],
)
def test_durations_read_well_on_a_phone(seconds: float | None, shown: str) -> None:
    assert human_duration(seconds) == shown


async def test_email_templates_reach_the_smtp_server() -> None:
    smtp = SmtpSink().start()
    try:
        alert = EmailAlert.model_validate(
            {
                "name": "mail",
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp.port,
                "tls": "none",
                "from": "sw@example.com",
                "to": ["ops@example.com"],
                "templates": {
                    "subject": "{{ event.title }} {{ website.name }} ({{ incident.duration }})",
                    "text": "{{ website.name }}: {{ incident.cause.text }}\n{{ links.website }}",
                },
            }
        )
        note = await EmailChannel().send(alert, sample_event("down", "mail"), Progress())
    finally:
        smtp.stop()
    assert note == "OK queued"
    (mail,) = smtp.messages
    assert mail["Subject"] == "[sitewatch] DOWN Example (12m)"
    assert not mail.is_multipart()  # a text template without an html one: text only
    assert mail.get_payload(decode=True).splitlines() == [  # SMTP lines end in CRLF
        b"Example: got 503, expected 2xx",
        b"https://sitewatch.example.com/websites/example",
    ]


async def test_a_webhook_body_template_is_posted_as_rendered() -> None:
    async with WebhookReceiver() as receiver, aiohttp.ClientSession() as session:
        alert = WebhookAlert.model_validate(
            {
                "name": "hook",
                "type": "webhook",
                "url": receiver.url(),
                "secret": "s3cret",
                "templates": {
                    "body": '{"summary": {{ (event.title ~ ": " ~ website.name) | tojson }},'
                    ' "severity": {{ ("critical" if event.kind == "down" else "info") | tojson }}}'
                },
            }
        )
        await WebhookChannel(session).send(alert, sample_event("down", "hook"), Progress())
    (posted,) = receiver.received
    assert json.loads(posted.body) == {"summary": "DOWN: Example", "severity": "critical"}
    assert posted.headers["X-Sitewatch-Signature"].startswith("sha256=")


def test_the_worker_comes_back_after_it_died() -> None:
    from sitewatch.config import templating

    context = context_of(sample_event("down"))
    assert render("{{ website.name }}", context) == "Example"
    worker = templating._WORKER._process
    assert worker is not None
    worker.kill()
    worker.wait()
    assert render("{{ website.key }}", context) == "example"  # a new worker
