"""The schema of what sitewatch publishes: status pages (status-pages.yaml) and
incident notes (Markdown files in incidents/ with a YAML front matter).

A status page names what it shows and nothing else: its groups list websites
by key or by tag, and a visitor sees only those. An incident note is written by
people, in a pull request, during an outage; its key is its file's name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sitewatch.config.models import StrictModel
from sitewatch.config.types import KEY_PATTERN, Key, Tag, check_key, one_or_many

IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = (
    "investigating",
    "identified",
    "monitoring",
    "resolved",
)
Impact = Literal["minor", "major", "critical"]

LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}
MAX_LOGO_BYTES = 512 << 10

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
DOMAIN_PATTERN = _DOMAIN.pattern


def _check_domain(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(host):
        raise PydanticCustomError(
            "domain",
            "a domain is a host name such as status.example.com: no scheme, port or path "
            "(got {got})",
            {"got": repr(value)},
        )
    return host


def _check_logo(value: str) -> str:
    suffix = "." + value.rsplit(".", 1)[-1].lower() if "." in value else ""
    if suffix not in LOGO_TYPES:
        raise PydanticCustomError(
            "logo",
            "a logo is an image file beside the config ({kinds}) (got {got})",
            {"kinds": ", ".join(LOGO_TYPES), "got": repr(value)},
        )
    parts = value.split("/")
    if value.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in value:
        raise PydanticCustomError(
            "logo",
            "give the logo's path inside the config folder, such as logo.svg or "
            "assets/logo.png (got {got})",
            {"got": repr(value)},
        )
    return value


Domain = Annotated[
    str, AfterValidator(_check_domain), WithJsonSchema({"type": "string", "format": "hostname"})
]
LogoPath = Annotated[str, AfterValidator(_check_logo), WithJsonSchema({"type": "string"})]
Keys = Annotated[
    list[Key],
    one_or_many(),
    AfterValidator(lambda v: list(dict.fromkeys(v))),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": KEY_PATTERN},
                {"type": "array", "items": {"type": "string", "pattern": KEY_PATTERN}},
            ]
        }
    ),
]
Tags = Annotated[list[Tag], one_or_many(), AfterValidator(lambda v: list(dict.fromkeys(v)))]
Names = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    one_or_many(),
    AfterValidator(lambda v: list(dict.fromkeys(v))),
]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class StatusGroup(StrictModel):
    """A section of a status page: the websites listed, then those with a tag."""

    name: str = Field(min_length=1, max_length=100, description="The section's heading.")
    websites: Keys = Field(default_factory=list, description="Website keys, in this order.")
    tags: Tags = Field(
        default_factory=list,
        description="Websites with any of these tags (after those listed), by name.",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> StatusGroup:
        if not self.websites and not self.tags:
            raise PydanticCustomError(
                "group_empty", "a group lists websites: (keys) or tags: (or both)"
            )
        return self


class StatusPage(StrictModel):
    """One public status page (an entry of ``status_pages:``)."""

    key: Key = Field(description="Stable identifier; the API and the dashboard use it.")
    title: str = Field(min_length=1, max_length=200, description="The page's heading.")
    description: str = Field("", max_length=2000, description="A line under the title.")
    slug: Key = Field(
        "",
        description="Served at /status/{slug}; defaults to the key.",
        json_schema_extra=_no_default,
    )
    domain: Domain | None = Field(
        None,
        description="A host name that serves this page at / (behind your TLS proxy); "
        "add it to SITEWATCH_ALLOWED_HOSTS if you set that.",
    )
    logo: LogoPath | None = Field(
        None, description="An image file in the config folder (svg, png, jpg, webp, gif)."
    )
    groups: list[StatusGroup] = Field(min_length=1, description="The page's sections.")
    show_response_times: bool = Field(True, description="Show each website's response time.")
    show_urls: bool = Field(False, description="Show each website's URL.")
    history_days: int = Field(90, ge=1, le=365, description="Days of daily uptime bars.")
    listed: bool = Field(True, description="Listed at /status (an unlisted page is still public).")

    @model_validator(mode="before")
    @classmethod
    def _no_slug(cls, data: Any) -> Any:
        if isinstance(data, dict) and "slug" in data and data["slug"] is None:
            return {k: v for k, v in data.items() if k != "slug"}
        return data

    @model_validator(mode="after")
    def _derive(self) -> StatusPage:
        if not self.slug:
            object.__setattr__(self, "slug", self.key)
        seen: set[str] = set()
        for i, group in enumerate(self.groups):
            if group.name in seen:
                raise PydanticCustomError(
                    "group_name",
                    "two groups are named {name} (group {index}): give each its own name",
                    {"name": repr(group.name), "index": i + 1},
                )
            seen.add(group.name)
        return self


class StatusPagesFile(StrictModel):
    """status-pages.yaml (and every status-pages.d/*.yaml fragment)."""

    status_pages: list[StatusPage] = Field(default_factory=list, description="Public status pages.")


class IncidentUpdate(StrictModel):
    """One update of an incident, as posted during the outage."""

    at: AwareDatetime = Field(description="When, with an offset: 2026-12-03T10:15:00Z.")
    status: IncidentStatus = Field(description="investigating, identified, monitoring, resolved.")
    message: str = Field(min_length=1, max_length=20000, description="Markdown.")

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class IncidentNote(StrictModel):
    """The front matter of an incident note (incidents/*.md); the Markdown below it
    is the incident's first description."""

    title: str = Field(min_length=1, max_length=200, description="What visitors read first.")
    status: IncidentStatus = Field(description="investigating, identified, monitoring, resolved.")
    impact: Impact = Field(
        "minor",
        description="While open, the page shows at least: minor -> degraded, major -> "
        "partial outage, critical -> major outage.",
    )
    started: AwareDatetime = Field(description="When it began, with an offset.")
    resolved: AwareDatetime | None = Field(
        None, description="When it ended; defaults to the resolving update's time."
    )
    websites: Keys = Field(default_factory=list, description="Affected websites (keys).")
    groups: Names = Field(default_factory=list, description="Affected groups (by name).")
    pages: Keys = Field(
        default_factory=list,
        description="Only on these status pages (default: every page showing an affected "
        "website or group).",
    )
    updates: list[IncidentUpdate] = Field(default_factory=list, description="Newest last.")
    body: str = Field(
        "",
        max_length=100000,
        description="The Markdown below the front matter (not written in it).",
    )

    @field_validator("started", "resolved")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> IncidentNote:
        if not self.websites and not self.groups and not self.pages:
            raise PydanticCustomError(
                "affected",
                "say what is affected: websites: (keys), groups: (names) or pages: (keys)",
            )
        for i, update in enumerate(self.updates):
            if update.at < self.started:
                raise PydanticCustomError(
                    "update_time",
                    "update {index} ({at}) is before started: ({started})",
                    {
                        "index": i + 1,
                        "at": update.at.isoformat(),
                        "started": self.started.isoformat(),
                    },
                )
        if self.status == "resolved" and self.resolved is None:
            ends = [u.at for u in self.updates if u.status == "resolved"]
            if not ends:
                raise PydanticCustomError(
                    "resolved",
                    "a resolved incident needs resolved: (when it ended) or an update with "
                    "status: resolved",
                )
            object.__setattr__(self, "resolved", max(ends))
        if self.status != "resolved" and self.resolved is not None:
            raise PydanticCustomError(
                "resolved", "resolved: is set but status: is {status}", {"status": self.status}
            )
        if self.resolved is not None and self.resolved < self.started:
            raise PydanticCustomError("resolved", "resolved: is before started:")
        return self

    @property
    def open(self) -> bool:
        return self.status != "resolved"

    def last_update(self) -> datetime:
        times = [self.started, *(u.at for u in self.updates)]
        if self.resolved is not None:
            times.append(self.resolved)
        return max(t.astimezone(UTC) for t in times)


def note_key(relpath: str) -> str:
    """``incidents/2026-12-03-db.md`` -> ``2026-12-03-db`` (checked like every key)."""
    name = relpath.rsplit("/", 1)[-1]
    stem = name[: -len(".md")] if name.endswith(".md") else name
    return check_key(stem)


def split_front_matter(text: str) -> tuple[str, str, int] | str:
    """An incident note -> (front matter padded to keep its line numbers, body,
    the body's first line), or why it is not one."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != "---":
        return "an incident note starts with a front matter: a line '---', YAML, a line '---'"
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") in ("---", "..."):
            front = "\n" + "".join(lines[1:i])
            return front, "".join(lines[i + 1 :]).strip("\n"), i + 2
    return "the front matter is not closed: end it with a line '---'"
