"""What ``${VAR}`` references may see, and keeping what they resolve to secret.

``ConfigEnv`` is the environment the config is resolved against: only the
variables the operator allows (``SITEWATCH_CONFIG_ENV``, glob patterns), never
sitewatch's own ``SITEWATCH_*`` settings (API tokens, the database URL), which
a config committer must not be able to smuggle into a webhook URL.

Every value it hands out is a secret. ``Redactor`` replaces those values (and
their percent-encoded forms, as they appear in URLs) by the ``${NAME}`` text
in anything sitewatch stores, serves or logs that may have picked one up from
outside: a delivery error quoting the webhook URL, a redirect's final URL, an
exception message.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from sitewatch.config.envsubst import EnvError

OWN_PREFIX = "SITEWATCH_"
# Shorter values are not treated as secrets: replacing "1" or "on" everywhere
# would garble every message, and a two-character secret protects nothing.
MIN_SECRET_LENGTH = 3


class ConfigEnv(Mapping[str, str]):
    """A read-only view of ``environ`` with the allowed names only; remembers what it gave."""

    def __init__(self, environ: Mapping[str, str], patterns: Iterable[str] = ("*",)) -> None:
        self._environ = environ
        self.patterns = tuple(p.strip() for p in patterns if p.strip())
        self._given: dict[str, str] = {}
        self._lock = threading.Lock()
        self.version = 0  # bumped when a new value was handed out

    def allowed(self, name: str) -> bool:
        if name.upper().startswith(OWN_PREFIX):
            return False
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if name.upper().startswith(OWN_PREFIX):
            raise EnvError(
                f"${{{name}}} cannot be referenced: SITEWATCH_* variables are sitewatch's own "
                "settings (tokens, the database URL), never config values"
            )
        if not self.allowed(name):
            raise EnvError(
                f"${{{name}}} is not an allowed variable: SITEWATCH_CONFIG_ENV allows "
                f"{', '.join(self.patterns) or 'none'}"
            )
        value = self._environ.get(name)
        if value is None:
            return default
        if self._given.get(name) != value:
            with self._lock:
                self._given[name] = value
                self.version += 1
        return value

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.allowed(name) and name in self._environ

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._environ if self.allowed(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def given(self) -> dict[str, str]:
        """Name -> value of every variable resolved so far."""
        with self._lock:
            return dict(self._given)


class Redactor:
    """Replaces every resolved secret value in a text by its ``${NAME}``."""

    def __init__(self, env: Mapping[str, str] | None) -> None:
        # Only a ConfigEnv knows which values were handed out; any other mapping
        # (a test's plain dict) redacts nothing.
        self.env = env if isinstance(env, ConfigEnv) else None
        self._version = -1
        self._pairs: list[tuple[str, str]] = []

    def _refresh(self) -> list[tuple[str, str]]:
        env = self.env
        if env is None:
            return []
        if env.version != self._version:
            pairs: dict[str, str] = {}
            for name, value in env.given().items():
                if len(value) < MIN_SECRET_LENGTH:
                    continue
                for form in (value, quote(value, safe=""), quote_plus(value), quote(value)):
                    pairs.setdefault(form, f"${{{name}}}")
            # Longest first: a secret that contains another is replaced whole.
            self._pairs = sorted(pairs.items(), key=lambda p: -len(p[0]))
            self._version = env.version
        return self._pairs

    def __call__(self, text: str) -> str:
        for value, name in self._refresh():
            if value in text:
                text = text.replace(value, name)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def tree(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with every text in it (in lists and dicts too) redacted."""
        if not self._refresh():
            return data
        return {k: self._any(v) for k, v in data.items()}

    def _any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self._any(v) for v in value]
        if isinstance(value, dict):
            return {k: self._any(v) for k, v in value.items()}
        return value


def no_redaction(text: str) -> str:
    return text
