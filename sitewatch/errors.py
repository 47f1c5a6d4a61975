"""The one exception tree of sitewatch.

Failures of *monitored* websites are data (check results), never exceptions.
Exceptions are for sitewatch's own faults and for input it refuses:

- ``SitewatchError``: base of everything raised on purpose.
  - ``ConfigError``: the YAML configuration has errors; carries every
    ``Problem`` found (file, line, column, path, message) and the revision.
  - ``SettingsError``: a setting cannot be used (a token too short, an
    unreadable tokens file); the message names the setting.
  - and, next to the code that raises them: ``EnvError`` (an unset ``${VAR}``),
    ``RegexError``, ``ConfigFileError``, ``TooLargeError``, ``EditError`` and
    ``EditRefusedError`` (a write refused, with its subclasses), ``GitError``,
    ``NoSuchWebsiteError``, ``UnknownAlertError``, ``DeliveryError`` (a
    notification not delivered: retried), ``CheckerTaskError``, and the web
    layer's ``ProblemError`` (an HTTP problem+json answer).

A failing database call raises the driver's error, which the rest of sitewatch
names ``store.engine.DatabaseError`` (it never imports SQLAlchemy itself).

``tests/test_errors.py`` checks that every exception class in the package is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitewatch.config.problems import Problem


class SitewatchError(Exception):
    """Base class of every error sitewatch raises on purpose."""


class ConfigError(SitewatchError):
    """The configuration folder does not validate; nothing was applied."""

    def __init__(self, problems: Sequence[Problem], revision: str | None = None) -> None:
        self.problems = tuple(problems)
        self.revision = revision
        count = len(self.problems)
        super().__init__(f"{count} configuration error{'s' if count != 1 else ''}")

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)


class SettingsError(SitewatchError):
    """A process setting cannot be used; ``serve`` exits 2 with this message."""
