"""Plans as people read them (``sitewatch plan``), in the spirit of ``terraform plan``."""

from __future__ import annotations

import json
from typing import Any

from sitewatch.config.entries import Snapshot
from sitewatch.reconcile.apply import Preview
from sitewatch.reconcile.diff import TablePlan, field_changes

_SYMBOL = {"create": "+", "update": "~", "delete": "-", "restore": "↺"}
_NOTE = {
    "create": "",
    "update": "",
    "delete": "  (archived: monitoring stops, history is kept)",
    "restore": "  (restored with its history)",
}


def render_preview(snapshot: Snapshot, preview: Preview) -> str:
    lines = [f"config revision {snapshot.revision[:12]}"]
    if not preview.migrated:
        lines.append(
            "(the database has no sitewatch schema yet: planning against an empty database)"
        )
    if preview.refused:
        lines += ["", preview.refused]
        return "\n".join(lines) + "\n"
    todo = preview.plan
    if todo.is_empty:
        lines.append(
            f"No changes: the database matches the config ({todo.websites.unchanged} websites)."
        )
        return "\n".join(lines) + "\n"
    _table(lines, "Websites", todo.websites, preview.old_websites)
    _table(lines, "Alerts", todo.alerts, preview.old_alerts)
    if todo.bindings_added or todo.bindings_removed:
        lines += ["", "Alert bindings:"]
        lines += [f"  + {w} -> {a}" for w, a in sorted(todo.bindings_added)]
        lines += [f"  - {w} -> {a}" for w, a in sorted(todo.bindings_removed)]
    if todo.maintenance is not None:
        names = ", ".join(d.key for d in todo.maintenance) or "(none)"
        lines += ["", f"Maintenance windows: replaced by {len(todo.maintenance)}: {names}"]
    for title, replaced in (
        ("Status pages", todo.status_pages),
        ("Incident notes", todo.incidents),
    ):
        if replaced is not None:
            names = ", ".join(d.key for d in replaced) or "(none)"
            lines += ["", f"{title}: replaced by {len(replaced)}: {names}"]
    c = todo.counts()
    lines += [
        "",
        f"Plan: {c['created']} to create, {c['updated']} to update, {c['deleted']} to delete "
        f"(archive), {c['restored']} to restore, {c['unchanged']} unchanged websites; "
        f"{len(todo.alerts.changes)} alert change(s).",
    ]
    return "\n".join(lines) + "\n"


def _table(lines: list[str], title: str, plan: TablePlan, old: dict[str, dict[str, Any]]) -> None:
    if not plan.changes:
        return
    lines += ["", f"{title}:"]
    order = {"create": 0, "update": 1, "restore": 2, "delete": 3}
    for change in sorted(plan.changes, key=lambda c: (order[c.kind], c.key)):
        where = (
            f"  ({change.desired.source_file})"
            if change.kind == "create" and change.desired
            else ""
        )
        lines.append(f"  {_SYMBOL[change.kind]} {change.key}{where}{_NOTE[change.kind]}")
        if change.kind in ("update", "restore") and change.desired is not None:
            before = old.get(change.key, {})
            for name, (a, b) in field_changes(before, change.desired.spec).items():
                lines.append(f"      {name}: {_show(a)} -> {_show(b)}")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if value is not None else "(unset)"
