"""What a notification says: an alert's own templates, or the defaults below.

Every channel renders through here, from the stored event, when it sends (so a
message retried after a template fix uses the fix). Rendering runs the
sandboxed templates (``config/templating.py``) and may take a few milliseconds:
channels call it off the event loop. A template that validated against the
samples but fails on a real event (a filter on a value that is empty this
time) never loses the notification: the default text is sent, and the delivery
log says which template failed and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sitewatch.alerts.payload import body_discord, body_json, body_slack, email_parts
from sitewatch.config.envsubst import resolve
from sitewatch.config.models import ChatTemplates, EmailTemplates, WebhookTemplates
from sitewatch.config.templating import (
    TemplateError,
    context_of,
    pager_key,
    render,
    render_here,
    sample_event,
)

# The defaults read well on a phone's lock screen: what, since when, why, a link.
DEFAULT_TITLE = {
    "down": "DOWN: {{ website.name }}",
    "reminder": "STILL DOWN: {{ website.name }}",
    "up": "UP: {{ website.name }}",
    "test": "TEST: sitewatch alert {{ alert.name }}",
}
_LINKS = "{{ website.url }}\n{% if links.website %}Details: {{ links.website }}{% endif %}"
DEFAULT_MESSAGE = {
    "down": "{{ website.name }} is down: {{ incident.cause.text }}\n"
    "Since {{ incident.started_at }} ({{ incident.duration }})\n" + _LINKS,
    "reminder": "{{ website.name }} is still down, for {{ incident.duration }} now: "
    "{{ incident.cause.text }}\nSince {{ incident.started_at }}\n" + _LINKS,
    "up": "{{ website.name }} is back up after {{ incident.duration }}\n"
    "It was down since {{ incident.started_at }}: {{ incident.cause.text }}\n" + _LINKS,
    "test": "A test from sitewatch: alert {{ alert.name }} reaches you.\n"
    "{% if links.dashboard %}Dashboard: {{ links.dashboard }}{% endif %}",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message's parts, and the templates that failed (their defaults were used)."""

    parts: dict[str, str]
    problems: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> str:
        return self.parts[name]

    def note(self, detail: str) -> str:
        """``detail`` with what went wrong in the templates, for the delivery log."""
        if not self.problems:
            return detail
        return f"{detail} (sent the default text: {'; '.join(self.problems)})"


def _part(
    name: str,
    custom: str | None,
    default: str | None,
    context: Mapping[str, Any],
    problems: list[str],
    *,
    html: bool = False,
    as_json: bool = False,
) -> str | None:
    if custom is not None:
        try:
            return render(custom, context, html=html, as_json=as_json)
        except TemplateError as exc:
            problems.append(f"templates.{name}: {exc}")
    return None if default is None else render_here(default, context, html=html)


def chat(event: Mapping[str, Any], templates: ChatTemplates | None) -> Rendered:
    """``title`` and ``message`` of a chat or pager notification."""
    context = context_of(event)
    kind = str(event["type"])
    problems: list[str] = []
    custom = templates or ChatTemplates()
    title = _part("title", custom.title, DEFAULT_TITLE[kind], context, problems)
    message = _part("message", custom.message, DEFAULT_MESSAGE[kind], context, problems)
    return Rendered(
        {"title": (title or "").strip(), "message": (message or "").strip()}, tuple(problems)
    )


def email(event: Mapping[str, Any], templates: EmailTemplates | None, prefix: str) -> Rendered:
    """``subject``, ``text`` and (unless a text template replaced the text alone)
    ``html`` of an email; the defaults are ``payload.email_parts``."""
    subject, text, html = email_parts(dict(event), prefix)
    if templates is None:
        return Rendered({"subject": subject, "text": text, "html": html})
    context = context_of(event)
    problems: list[str] = []
    parts = {"subject": subject, "text": text, "html": html}
    if templates.subject is not None:
        custom = _part("subject", templates.subject, None, context, problems)
        if custom is not None:
            parts["subject"] = f"{prefix} {' '.join(custom.split())}".strip()
    if templates.text is not None:
        custom = _part("text", templates.text, None, context, problems)
        if custom is not None:
            parts["text"] = custom
            if templates.html is None:
                parts["html"] = ""  # the default HTML would say something else
    if templates.html is not None:
        custom = _part("html", templates.html, None, context, problems, html=True)
        if custom is not None:
            parts["html"] = custom
    return Rendered(parts, tuple(problems))


def webhook(event: Mapping[str, Any], templates: WebhookTemplates, *, as_json: bool) -> Rendered:
    """The custom ``message`` (Slack / Discord text) and ``body`` of a webhook, those set."""
    context = context_of(event)
    problems: list[str] = []
    parts: dict[str, str] = {}
    if templates.message is not None:
        text = _part("message", templates.message, None, context, problems)
        if text is not None:
            parts["message"] = text
    if templates.body is not None:
        body = _part("body", templates.body, None, context, problems, as_json=as_json)
        if body is not None:
            parts["body"] = body
    return Rendered(parts, tuple(problems))


def preview(spec: Mapping[str, Any], kind: str, dashboard_url: str | None = None) -> Rendered:
    """What an alert sends for an event of ``kind`` (see ``_preview``); a stored
    alert this version cannot read shows why instead of failing the page."""
    try:
        return _preview(spec, kind, dashboard_url)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return Rendered({}, (f"templates.{where}: {first['msg']}",))


def _preview(spec: Mapping[str, Any], kind: str, dashboard_url: str | None) -> Rendered:
    """What an alert sends for an event of ``kind``, rendered on the sample event
    (a test exactly as ``Send a test`` sends it). Made from the alert as stored:
    its templates and format hold no ``${VAR}`` (the config refuses them there),
    and the sample holds no secret, so a preview can be shown to anyone who may
    see the alert."""
    event = sample_event(kind, str(spec.get("name", "alert")), dashboard_url)
    if kind == "test":
        event["dashboard_url"] = dashboard_url
    # As stored, a literal "$" is "$$"; templates hold no ${VAR}, so nothing resolves.
    templates = resolve(spec.get("templates") or {}, {})
    kind_of_alert = spec.get("type")
    if kind_of_alert == "email":
        prefix = str(resolve(spec.get("subject_prefix", "[sitewatch]"), {}))
        return email(event, EmailTemplates.model_validate(templates) if templates else None, prefix)
    if kind_of_alert == "webhook":
        custom = webhook(event, WebhookTemplates.model_validate(templates), as_json=True)
        if "body" in custom.parts:
            return Rendered({"body": custom["body"]}, custom.problems)
        fmt = str(spec.get("format", "json"))
        text = custom.parts.get("message")
        if fmt == "slack":
            raw = body_slack(event, text)
        elif fmt == "discord":
            raw = body_discord(event, text)
        else:
            raw = body_json(event)
        pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        return Rendered({"body": pretty}, custom.problems)
    chat_parts = chat(event, ChatTemplates.model_validate(templates) if templates else None)
    if kind_of_alert in ("pagerduty", "opsgenie"):
        return Rendered({**chat_parts.parts, "key": pager_key(event)}, chat_parts.problems)
    return chat_parts
