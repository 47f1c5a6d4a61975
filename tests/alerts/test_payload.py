"""What notifications say: the v1 event, the Slack/Discord/email renderings, and
the webhook signature verified the way docs/alerts.md tells receivers to."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from sitewatch.alerts import payload
from sitewatch.alerts.channels.email import message
from sitewatch.alerts.channels.webhook import request
from sitewatch.config.models import EmailAlert, WebhookAlert

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC)
SITE = payload.WebsiteInfo(7, "shop", "Shop", "https://shop.example.com/", ("public",))


def down_event() -> dict[str, object]:
    return payload.event(
        kind="down",
        event_id="0b6f3c1e-8d4e-4c55-9a53-2f0b2a0f4a11",
        at=T0,
        alert="oncall",
        website=SITE,
        incident=payload.incident_info(3, T0, None, "status", "got 503, expected 2xx", "shop"),
        last_result=payload.result_info(
            T0,
            False,
            503,
            12.345,
            "status",
            "got 503, expected 2xx",
            {
                "dns_ms": 1.04,
                "connect_ms": 2.0,
                "tls_ms": None,
                "first_byte_ms": 12.0,
                "total_ms": 12.345,
            },
        ),
        dashboard_url="https://status.example.com",
    )


def verify(secret: str, body: bytes, header: str) -> bool:
    """The receiver's side, as in docs/alerts.md."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_json_event_is_the_documented_v1_shape() -> None:
    ev = down_event()
    assert json.loads(payload.body_json(ev)) == {
        "schema": "sitewatch.alert.v1",
        "event_id": "0b6f3c1e-8d4e-4c55-9a53-2f0b2a0f4a11",
        "type": "down",
        "occurred_at": "2026-11-28T12:00:00Z",
        "alert": "oncall",
        "website": {
            "id": 7,
            "key": "shop",
            "name": "Shop",
            "url": "https://shop.example.com/",
            "type": "http",
            "tags": ["public"],
        },
        "incident": {
            "id": 3,
            "key": "sitewatch/shop/3",
            "started_at": "2026-11-28T12:00:00Z",
            "resolved_at": None,
            "duration_seconds": None,
            "cause": {"kind": "status", "message": "got 503, expected 2xx"},
        },
        "last_result": {
            "checked_at": "2026-11-28T12:00:00Z",
            "ok": False,
            "status_code": 503,
            "response_time_ms": 12.3,
            "error_kind": "status",
            "error_message": "got 503, expected 2xx",
            "timings": {
                "dns_ms": 1.0,
                "connect_ms": 2.0,
                "tls_ms": None,
                "first_byte_ms": 12.0,
                "total_ms": 12.3,
            },
        },
        "dashboard_url": "https://status.example.com/websites/shop",
    }


def test_signed_webhook_verifies_and_a_tampered_body_does_not() -> None:
    alert = WebhookAlert.model_validate(
        {
            "name": "hook",
            "type": "webhook",
            "url": "http://127.0.0.1:9/x",
            "secret": "s3cret",
            "headers": {"X-Team": "ops"},
        }
    )
    body, headers = request(alert, down_event())
    assert verify("s3cret", body, headers["X-Sitewatch-Signature"])
    assert not verify("s3cret", body + b" ", headers["X-Sitewatch-Signature"])
    assert not verify("other", body, headers["X-Sitewatch-Signature"])
    assert headers["X-Sitewatch-Event-Id"] == "0b6f3c1e-8d4e-4c55-9a53-2f0b2a0f4a11"
    assert headers["X-Team"] == "ops"
    unsigned = alert.model_copy(update={"secret": None})
    assert "X-Sitewatch-Signature" not in request(unsigned, down_event())[1]


def test_slack_and_discord_formats() -> None:
    slack = json.loads(payload.body_slack(down_event()))
    assert slack["text"].startswith("*DOWN: Shop (https://shop.example.com/) -- status: got 503")
    discord = json.loads(payload.body_discord(down_event()))
    assert discord["content"].startswith("DOWN: Shop")
    fields = {f["name"]: f["value"] for f in discord["embeds"][0]["fields"]}
    assert fields["Down since"] == "2026-11-28T12:00:00Z"
    assert discord["embeds"][0]["url"] == "https://status.example.com/websites/shop"


def test_email_has_text_and_html_and_the_event_id() -> None:
    alert = EmailAlert.model_validate(
        {
            "name": "mail",
            "type": "email",
            "host": "127.0.0.1",
            "from": "sw@example.com",
            "to": ["a@example.com", "b@example.com"],
        }
    )
    msg = message(alert, down_event())
    assert msg["Subject"].startswith("[sitewatch] DOWN: Shop")
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Message-ID"] == "<0b6f3c1e-8d4e-4c55-9a53-2f0b2a0f4a11@sitewatch>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Down since: 2026-11-28T12:00:00Z" in text and "got 503" in text
    assert '<a href="https://status.example.com/websites/shop">' in html


def test_recovery_says_how_long_it_lasted() -> None:
    ev = payload.event(
        kind="up",
        event_id="e",
        at=T0,
        alert="a",
        website=SITE,
        incident=payload.incident_info(1, T0.replace(hour=11, minute=15), T0, "refused", "x"),
    )
    assert payload.headline(ev) == "UP: Shop (https://shop.example.com/) -- back after 45m"
    assert ev["incident"]["duration_seconds"] == 2700.0
