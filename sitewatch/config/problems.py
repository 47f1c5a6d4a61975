"""Configuration problems as people read them: ``file:line:col: path: message``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
Loc = tuple[str | int, ...]


def format_path(path: Loc) -> str:
    """``('websites', 2, 'interval')`` -> ``websites[2].interval``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) at one place in one file."""

    file: str
    line: int  # 1-based; 0 when the problem is about the file as a whole
    column: int  # 1-based; 0 when unknown
    path: Loc
    message: str
    severity: Severity = "error"

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{format_path(self.path)}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": format_path(self.path),
            "message": self.message,
            "severity": self.severity,
        }


def sort_problems(problems: Sequence[Problem]) -> list[Problem]:
    """Errors in file order, so output reads top to bottom."""
    return sorted(problems, key=lambda p: (p.file, p.line, p.column, p.message))
