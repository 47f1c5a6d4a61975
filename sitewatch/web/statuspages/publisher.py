"""The published pages as the store holds them, read at most every two seconds,
and each page's view: what ``view.build`` needs, gathered with a few queries.

Days already sealed into the daily rollup never change, so they are kept per
page until the next day is sealed; a render reads only the current statuses and
the open days' hourly rollups. Every instance reads the same rows, so every
instance serves the same pages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from sitewatch.config.models import AnyWindow, stored_windows
from sitewatch.config.pages import IncidentNote, StatusPage
from sitewatch.store import catalog, publishing
from sitewatch.store import status as status_store
from sitewatch.store import uptime as uptime_store
from sitewatch.store.engine import DatabaseError, Engine
from sitewatch.store.status import StatusFilter
from sitewatch.store.uptime import SealedDays
from sitewatch.web.cache import Encoded, ResponseCache
from sitewatch.web.statuspages import view

log = logging.getLogger("sitewatch.web")
P = TypeVar("P", StatusPage, IncidentNote)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Published:
    """Every page and note, parsed, with the maintenance windows they announce."""

    pages: dict[str, tuple[StatusPage, str, str | None]]  # key -> (page, spec hash, logo type)
    by_slug: dict[str, str]
    by_domain: dict[str, str]
    notes: tuple[tuple[str, IncidentNote], ...]
    windows: tuple[AnyWindow, ...]

    def listed(self) -> list[StatusPage]:
        found = [p for p, _, _ in self.pages.values() if p.listed]
        return sorted(found, key=lambda p: (p.title.lower(), p.key))


@dataclass
class Publisher:
    engine: Engine
    ttl: float = 2.0
    # Rendered answers (pages, feeds, data, badges), each computed once per ttl.
    responses: ResponseCache[Encoded | None] = field(
        default_factory=lambda: ResponseCache[Encoded | None](ttl=2.0)
    )
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    _published: tuple[float, Published] | None = None
    _flight: asyncio.Future[Published] | None = None
    _parsed: dict[str, StatusPage | IncidentNote] = field(default_factory=dict)
    # (page key, spec hash, first day, sealed-through) -> website id -> its sealed days
    _sealed: dict[tuple[str, str, datetime, datetime], dict[int, SealedDays]] = field(
        default_factory=dict
    )

    async def published(self) -> Published:
        held = self._published
        if held is not None and held[0] > self.clock():
            return held[1]
        if self._flight is not None:
            return await asyncio.shield(self._flight)
        future: asyncio.Future[Published] = asyncio.get_running_loop().create_future()
        self._flight = future
        try:
            found = await self._load()
        except DatabaseError as exc:
            if held is None:
                future.set_exception(exc)
                future.exception()
                raise
            log.warning("could not read the status pages: serving the last ones read")
            future.set_result(held[1])
            return held[1]
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            self._flight = None
        future.set_result(found)
        self._published = (self.clock() + self.ttl, found)
        return found

    async def _load(self) -> Published:
        async with self.engine.connect() as conn:
            pages = await publishing.pages(conn)
            notes = await publishing.notes(conn)
            windows = await catalog.maintenance_specs(conn)
        parsed: dict[str, StatusPage | IncidentNote] = {}
        out: dict[str, tuple[StatusPage, str, str | None]] = {}
        for record in pages:
            page = self._parse(StatusPage, record.key, record.spec, record.spec_hash)
            if page is not None:
                parsed[record.spec_hash] = page
                out[record.key] = (page, record.spec_hash, record.logo_type)
        found_notes: list[tuple[str, IncidentNote]] = []
        for n in notes:
            note = self._parse(IncidentNote, n.key, n.spec, n.spec_hash)
            if note is not None:
                parsed[n.spec_hash] = note
                found_notes.append((n.key, note))
        self._parsed = parsed
        found_windows, refused = stored_windows(windows)
        for name, why in refused:
            log.error("stored maintenance window %r does not validate, left out: %s", name, why)
        return Published(
            pages=out,
            by_slug={p.slug: key for key, (p, _, _) in out.items()},
            by_domain={p.domain: key for key, (p, _, _) in out.items() if p.domain},
            notes=tuple(found_notes),
            windows=found_windows,
        )

    def _parse(self, model: type[P], key: str, spec: dict[str, Any], digest: str) -> P | None:
        """A stored spec, validated once per hash. One that no longer validates (a
        row an older version wrote) is left out and logged, never a failed page."""
        known = self._parsed.get(digest)
        if isinstance(known, model):
            return known
        try:
            return model.model_validate(spec)
        except ValidationError as exc:
            log.error("stored %s %r does not validate, left out: %s", model.__name__, key, exc)
            return None

    def forget(self) -> None:
        """The config changed: read the pages again at the next request."""
        self._published = None
        self.responses.clear()

    async def publishes(self, key: str, tags: Iterable[str]) -> bool:
        """Is website ``key`` (with ``tags``) on any status page?"""
        tagged = set(tags)
        for page, _, _ in (await self.published()).pages.values():
            keys, wanted = view.members(page)
            if key in keys or not wanted.isdisjoint(tagged):
                return True
        return False

    async def has_logo(self, key: str) -> bool:
        held = (await self.published()).pages.get(key)
        return held is not None and held[2] is not None

    async def member_ids(self, key: str) -> frozenset[int] | None:
        """The ids of the websites a page shows now (what its live stream follows)."""
        held = (await self.published()).pages.get(key)
        if held is None:
            return None
        async with self.engine.connect() as conn:
            found = await status_store.current_status(
                conn, where=StatusFilter(members=view.members(held[0]))
            )
        return frozenset(s.website_id for s in found)

    async def view(self, key: str) -> view.PageView | None:
        published = await self.published()
        held = published.pages.get(key)
        if held is None:
            return None
        page, spec_hash, _ = held
        now = self.now()
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        first = today - (page.history_days - 1) * DAY
        async with self.engine.connect() as conn:
            statuses = await status_store.current_status(
                conn, where=StatusFilter(members=view.members(page))
            )
            ids = [s.website_id for s in statuses]
            sealed = max(await uptime_store.sealed_through(conn, now) or first, first)
            cache_key = (key, spec_hash, first, sealed)
            past = self._sealed.get(cache_key)
            if past is None or not set(ids) <= past.keys():  # a website joined the page
                past = await uptime_store.sealed_days(conn, ids, since=first, until=sealed)
                for website_id in ids:
                    past.setdefault(website_id, view.NO_DAYS)
                if len(self._sealed) > 64:
                    self._sealed.clear()
                self._sealed[cache_key] = past
            recent = await uptime_store.open_days(conn, ids, since=sealed)
        return view.build(page, statuses, published.windows, published.notes, past, recent, now)
