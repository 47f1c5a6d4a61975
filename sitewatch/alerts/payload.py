"""What a notification says, and how each channel writes it. Pure, no I/O.

The outbox stores one channel-independent *event* (``sitewatch.alert.v1``, the
JSON webhook body as documented in docs/alerts.md); each channel renders it when
it sends, so a message retried after a config fix uses the fixed channel.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sitewatch.config.templating import dedup_key
from sitewatch.times import iso_z

SCHEMA = "sitewatch.alert.v1"
TITLES = {"down": "DOWN", "up": "UP", "reminder": "STILL DOWN", "test": "TEST"}


@dataclass(frozen=True, slots=True)
class WebsiteInfo:
    id: int
    key: str
    name: str
    url: str
    tags: tuple[str, ...] = ()
    type: str = "http"


_iso = iso_z


def event(
    *,
    kind: str,
    event_id: str,
    at: datetime,
    alert: str,
    website: WebsiteInfo | None,
    incident: dict[str, Any] | None = None,
    last_result: dict[str, Any] | None = None,
    dashboard_url: str | None = None,
) -> dict[str, Any]:
    """The event every channel renders (and the ``json`` webhook body)."""
    link = None
    if dashboard_url and website is not None:
        link = f"{dashboard_url.rstrip('/')}/websites/{website.key}"
    elif dashboard_url:
        link = dashboard_url
    return {
        "schema": SCHEMA,
        "event_id": event_id,
        "type": kind,
        "occurred_at": _iso(at),
        "alert": alert,
        "website": None
        if website is None
        else {
            "id": website.id,
            "key": website.key,
            "name": website.name,
            "url": website.url,
            "type": website.type,
            "tags": list(website.tags),
        },
        "incident": incident,
        "last_result": last_result,
        "dashboard_url": link,
    }


def incident_info(
    incident_id: int | None,
    started_at: datetime | None,
    resolved_at: datetime | None,
    cause_kind: str | None,
    cause_message: str | None,
    website_key: str | None = None,
) -> dict[str, Any]:
    duration = None
    if started_at is not None and resolved_at is not None:
        duration = round((resolved_at - started_at).total_seconds(), 3)
    return {
        "id": incident_id,
        # One key for every notification of the incident (a pager's dedup key).
        "key": None if website_key is None else dedup_key(website_key, incident_id),
        "started_at": _iso(started_at),
        "resolved_at": _iso(resolved_at),
        "duration_seconds": duration,
        "cause": {"kind": cause_kind, "message": cause_message},
    }


def result_info(
    checked_at: datetime,
    ok: bool,
    status_code: int | None,
    response_time_ms: float | None,
    error_kind: str | None,
    error_message: str | None,
    timings: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    return {
        "checked_at": _iso(checked_at),
        "ok": ok,
        "status_code": status_code,
        "response_time_ms": None if response_time_ms is None else round(response_time_ms, 1),
        "error_kind": error_kind,
        "error_message": error_message,
        "timings": None
        if timings is None
        else {k: None if v is None else round(v, 1) for k, v in timings.items()},
    }


# -- rendering -------------------------------------------------------------------


def headline(ev: dict[str, Any]) -> str:
    """One line: ``DOWN: Shop (https://shop.example.com/) -- status: got 503, expected 2xx``."""
    title = TITLES.get(ev["type"], ev["type"].upper())
    site = ev.get("website")
    if site is None:
        return f"{title}: test notification from sitewatch for alert {ev['alert']}"
    line = f"{title}: {site['name']} ({site['url']})"
    cause = (ev.get("incident") or {}).get("cause") or {}
    if ev["type"] in ("down", "reminder") and cause.get("kind"):
        line += f" -- {cause['kind']}: {cause.get('message') or ''}".rstrip(": ")
    if ev["type"] == "up":
        seconds = (ev.get("incident") or {}).get("duration_seconds")
        if seconds is not None:
            line += f" -- back after {_human(seconds)}"
    return line


def details(ev: dict[str, Any]) -> list[tuple[str, str]]:
    """Label/value lines for the longer formats (email, Discord)."""
    rows: list[tuple[str, str]] = [("Alert", ev["alert"])]
    site = ev.get("website")
    if site is not None:
        rows += [("Website", f"{site['name']} ({site['key']})"), ("URL", site["url"])]
    inc = ev.get("incident")
    if inc:
        if inc.get("started_at"):
            rows.append(("Down since", inc["started_at"]))
        if inc.get("resolved_at"):
            rows.append(("Up again at", inc["resolved_at"]))
        cause = inc.get("cause") or {}
        if cause.get("kind"):
            rows.append(("Cause", f"{cause['kind']}: {cause.get('message') or ''}"))
    last = ev.get("last_result")
    if last:
        status = "passed" if last["ok"] else f"failed ({last.get('error_kind')})"
        text = f"{last['checked_at']} {status}"
        if last.get("error_message"):
            text += f": {last['error_message']}"
        rows.append(("Last check", text))
    if ev.get("dashboard_url"):
        rows.append(("Dashboard", ev["dashboard_url"]))
    rows.append(("Event id", ev["event_id"]))
    return rows


def body_json(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode()


def body_slack(ev: dict[str, Any], text: str | None = None) -> bytes:
    """A Slack incoming webhook's body; ``text``: a template's, instead of the default."""
    if text is None:
        lines = [f"*{headline(ev)}*"] + [f"{k}: {v}" for k, v in details(ev)]
        text = "\n".join(lines)
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def body_discord(ev: dict[str, Any], text: str | None = None) -> bytes:
    """A Discord webhook's body; ``text``: a template's content, instead of the headline."""
    colour = {"down": 0xD92D20, "reminder": 0xDC6803, "up": 0x079455}.get(ev["type"], 0x475467)
    embed = {
        "title": headline(ev)[:256],
        "color": colour,
        "fields": [{"name": k, "value": v[:1024], "inline": False} for k, v in details(ev)],
    }
    if ev.get("dashboard_url"):
        embed["url"] = ev["dashboard_url"]
    content = headline(ev) if text is None else text
    return json.dumps({"content": content[:2000], "embeds": [embed]}).encode()


def sign(secret: str, body: bytes) -> str:
    """``X-Sitewatch-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def email_parts(ev: dict[str, Any], prefix: str) -> tuple[str, str, str]:
    """(subject, text body, HTML body)."""
    subject = f"{prefix} {headline(ev)}".strip()
    rows = details(ev)
    text = headline(ev) + "\n\n" + "\n".join(f"{k}: {v}" for k, v in rows) + "\n"
    cells = "".join(
        f'<tr><th align="left" style="padding:4px 12px 4px 0">{html.escape(k)}</th>'
        f"<td>{_html_value(k, v)}</td></tr>"
        for k, v in rows
    )
    body = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h2>{html.escape(headline(ev))}</h2><table>{cells}</table>"
        '<p style="color:#667085">Sent by sitewatch.</p></body></html>'
    )
    return subject, text, body


def _html_value(label: str, value: str) -> str:
    if label in ("URL", "Dashboard"):
        return f'<a href="{html.escape(value, quote=True)}">{html.escape(value)}</a>'
    return html.escape(value)


def _human(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
