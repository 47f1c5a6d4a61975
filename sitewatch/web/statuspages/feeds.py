"""A status page as data: the JSON document (``sitewatch.status-page.v1``) and
the Atom feed of its incidents. Pure: both are built from a ``PageView``, so
they show exactly what the HTML page shows, never more."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sitewatch.times import iso_z
from sitewatch.web.statuspages.markdown import plain, render
from sitewatch.web.statuspages.view import STATUS_LABELS, NoteView, PageView

SCHEMA = "sitewatch.status-page.v1"


def _note(view: NoteView) -> dict[str, Any]:
    n = view.note
    return {
        "id": view.key,
        "title": n.title,
        "status": n.status,
        "impact": n.impact,
        "started": iso_z(n.started),
        "resolved": iso_z(n.resolved) if n.resolved else None,
        "affected": list(view.affected),
        "body": n.body,
        "updates": [
            {"at": iso_z(u.at), "status": u.status, "message": u.message} for u in n.updates
        ],
    }


def document(view: PageView, base: str) -> dict[str, Any]:
    """``base``: the page's own URL path (``/status/{slug}``, or ``/`` on its domain)."""
    page = view.page
    return {
        "schema": SCHEMA,
        "page": {
            "title": page.title,
            "description": page.description,
            "url": base,
            "history_days": page.history_days,
        },
        "state": view.state,
        "label": view.label,
        "generated_at": iso_z(view.generated_at),
        "groups": [
            {
                "name": g.name,
                "state": g.state,
                "websites": [
                    {
                        "name": w.name,
                        "state": w.state,
                        "label": w.label,
                        "uptime": w.uptime,
                        "days": list(w.days),
                        **({"url": w.url} if page.show_urls else {}),
                        **({"response_ms": w.response_ms} if page.show_response_times else {}),
                    }
                    for w in g.websites
                ],
            }
            for g in view.groups
        ],
        "incidents": {
            "open": [_note(v) for v in view.open_incidents],
            "past": [_note(v) for v in view.past_incidents],
        },
        "maintenance": [
            {
                "title": m.title,
                "start": iso_z(m.start),
                "end": iso_z(m.end),
                "ongoing": m.ongoing,
                "affected": list(m.affected),
            }
            for m in view.maintenance
        ],
    }


def document_json(view: PageView, base: str) -> str:
    return json.dumps(document(view, base), separators=(",", ":"), ensure_ascii=False)


def atom(view: PageView, origin: str, base: str) -> str:
    """The page's incidents, newest update first. ``origin``: scheme and host the
    feed was asked on (Atom wants absolute ids and links)."""
    page = view.page
    page_url = origin + base
    notes = sorted(
        (*view.open_incidents, *view.past_incidents),
        key=lambda v: v.note.last_update(),
        reverse=True,
    )
    updated = notes[0].note.last_update() if notes else view.generated_at
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(page.title)}: incidents</title>",
        f"<id>{escape(page_url)}</id>",
        f'<link rel="alternate" type="text/html" href={quoteattr(page_url)}/>',
        f'<link rel="self" href={quoteattr(page_url.rstrip("/") + "/feed.atom")}/>',
        f"<updated>{iso_z(updated)}</updated>",
        f"<author><name>{escape(page.title)}</name></author>",
    ]
    if page.description:
        out.append(f"<subtitle>{escape(page.description)}</subtitle>")
    for v in notes:
        n = v.note
        html = [f"<p><strong>{escape(STATUS_LABELS[n.status])}</strong></p>"]
        for u in reversed(n.updates):
            html.append(
                f"<p><strong>{escape(STATUS_LABELS[u.status])}</strong> ({iso_z(u.at)})</p>"
                + str(render(u.message))
            )
        if n.body:
            html.append(str(render(n.body)))
        if v.affected:
            html.append(f"<p>Affected: {escape(', '.join(v.affected))}</p>")
        summary = plain(n.updates[-1].message if n.updates else n.body or n.title)
        out += [
            "<entry>",
            f"<title>{escape(f'[{STATUS_LABELS[n.status]}] {n.title}')}</title>",
            f"<id>{escape(page_url.rstrip('/') + '#incident-' + v.key)}</id>",
            f'<link rel="alternate" type="text/html" '
            f"href={quoteattr(page_url.rstrip('/') + '#incident-' + v.key)}/>",
            f"<published>{iso_z(n.started)}</published>",
            f"<updated>{iso_z(n.last_update())}</updated>",
            f"<summary>{escape(summary)}</summary>",
            f'<content type="html">{escape("".join(html))}</content>',
            "</entry>",
        ]
    out.append("</feed>")
    return "\n".join(out) + "\n"
