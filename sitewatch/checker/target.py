"""A website prepared for probing: URL parsed, headers and expectations compiled once.

Targets are built from the specs the reconciler stored, with ``${VAR}``
references resolved from this process's environment, so secrets never sit in
the database and several instances sharing one database each use their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yarl

from sitewatch.checker.expectations import Expectations
from sitewatch.config.envsubst import resolve
from sitewatch.config.models import Website


@dataclass(frozen=True, slots=True)
class Target:
    website_id: int
    key: str
    url: yarl.URL
    method: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float
    interval: float
    retry_interval: float | None
    follow_redirects: bool
    verify_tls: bool
    expect: Expectations

    @classmethod
    def of(cls, website: Website, website_id: int = 0) -> Target:
        return cls(
            website_id=website_id,
            key=website.ident,
            url=yarl.URL(website.url, encoded="%" in website.url),
            method=website.method,
            headers=dict(website.headers),
            body=website.body.encode() if website.body is not None else None,
            timeout=website.timeout,
            interval=website.interval,
            retry_interval=website.retry_interval,
            follow_redirects=website.follow_redirects,
            verify_tls=website.verify_tls,
            expect=Expectations.of(website),
        )


def target_from_spec(website_id: int, stored: dict[str, Any], environ: Mapping[str, str]) -> Target:
    """``ValidationError`` or ``EnvError`` when the stored spec no longer validates here."""
    return Target.of(Website.model_validate(resolve(stored, environ)), website_id)
