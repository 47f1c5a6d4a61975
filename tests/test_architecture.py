"""The import rules docs/architecture.md states, checked on the source.

Imports inside ``if TYPE_CHECKING:`` are annotations, not dependencies, and are
not counted (``keys.py`` names the web layer's types that way).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sitewatch"

# What each part of sitewatch may import of sitewatch (besides itself): the data
# flows one way, files -> config -> reconciler -> store -> checker -> alerts -> web.
# The exception tree, the one time format and giving freed memory back (leaves
# that import nothing of ours): anyone may.
BASE = {"errors", "times", "memory"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "times": set(),
    "memory": set(),
    "settings": set(),
    "logs": set(),
    "config": BASE,
    "store": BASE | {"settings"},
    "reconcile": BASE | {"config", "store"},
    "checker": BASE | {"config", "store"},
    "alerts": BASE | {"config", "store"},
    "services": BASE | {"config", "store", "checker", "reconcile"},
}
# Third-party packages only one part may use.
OWNED = {
    "sqlalchemy": "store",
    "sqlmodel": "store",
    "alembic": "store",
    "psycopg": "store",
    "aiosqlite": "store",
}


def _runtime_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import that runs, at any depth, but not those under
    ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "sitewatch":  # a subpackage, or the root's __version__
                yield from (
                    (node.lineno, "sitewatch" if a.name.startswith("__") else f"sitewatch.{a.name}")
                    for a in node.names
                )
            else:
                yield node.lineno, node.module
        stack.extend(ast.iter_child_nodes(node))


def _modules() -> list[tuple[str, Path]]:
    return sorted(
        (".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts), path)
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    )


def _part(module: str) -> str:
    """sitewatch.store.catalog -> store; sitewatch.app -> app."""
    return module.split(".")[1] if module.count(".") else ""


def _violations() -> list[str]:
    found = []
    for module, path in _modules():
        part = _part(module)
        tree = ast.parse(path.read_text(), str(path))
        for line, imported in _runtime_imports(tree):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            top = imported.split(".")[0]
            if top in OWNED and part != OWNED[top]:
                found.append(f"{where}: imports {imported}; only {OWNED[top]}/ may")
            if top != "sitewatch" or imported == "sitewatch":
                continue
            target = _part(imported)
            if target == "web" and part not in ("web", "app"):
                found.append(f"{where}: imports {imported}; only app.py imports the web layer")
            if part in ALLOWED and target != part and target not in ALLOWED[part]:
                found.append(f"{where}: {part} imports {imported}")
            if module.startswith("sitewatch.web.dashboard") and imported == "sitewatch.web.api":
                found.append(f"{where}: the dashboard imports the API's handlers module")
    return found


def test_import_rules_hold() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sqlalchemy import select\n", "only store/ may"),
        ("from sitewatch.web import api\n", "only app.py imports the web layer"),
        ("from sitewatch import web\n", "only app.py imports the web layer"),
        ("def f():\n    from sitewatch.alerts import engine\n", "checker imports"),
    ],
)
def test_a_forbidden_import_is_caught(
    source: str, expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The rules bite: a module of the checker that breaks one is reported."""
    fake = tmp_path / "sitewatch"
    (fake / "checker").mkdir(parents=True)
    (fake / "checker" / "bad.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    problems = _violations()
    assert problems and all("sitewatch/checker/bad.py:" in p for p in problems)
    assert any(expected in p for p in problems), problems


def test_type_checking_imports_are_not_dependencies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "sitewatch"
    (fake / "checker").mkdir(parents=True)
    (fake / "checker" / "ok.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sitewatch.web import api\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    assert _violations() == []
