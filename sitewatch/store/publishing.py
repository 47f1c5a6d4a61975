"""Status pages and incident notes as the database holds them.

The reconciler replaces each set whole when any entry changed (there are few,
and nothing refers to them by id); the web layer reads them from here, so every
instance sharing the database serves the same last good pages, even one whose
own config folder is broken or absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.tables import incident_notes, status_pages


@dataclass(frozen=True, slots=True)
class PageRecord:
    key: str
    spec: dict[str, Any]
    spec_hash: str
    logo_type: str | None  # None: no logo


@dataclass(frozen=True, slots=True)
class NoteRecord:
    key: str
    spec: dict[str, Any]
    spec_hash: str


async def hashes(conn: AsyncConnection, table: Table) -> dict[str, str]:
    result = await conn.execute(select(table.c.key, table.c.spec_hash))
    return {str(key): str(digest) for key, digest in result}


async def page_hashes(conn: AsyncConnection) -> dict[str, str]:
    return await hashes(conn, status_pages)


async def note_hashes(conn: AsyncConnection) -> dict[str, str]:
    return await hashes(conn, incident_notes)


async def _replace(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    await conn.execute(delete(table))
    if rows:
        await conn.execute(insert(table), list(rows))


async def replace_pages(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows: key, spec, spec_hash, source_file, logo (bytes or None), logo_type."""
    await _replace(conn, status_pages, rows)


async def replace_notes(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows: key, spec, spec_hash, source_file."""
    await _replace(conn, incident_notes, rows)


async def pages(conn: AsyncConnection) -> list[PageRecord]:
    result = await conn.execute(
        select(
            status_pages.c.key,
            status_pages.c.spec,
            status_pages.c.spec_hash,
            status_pages.c.logo_type,
        ).order_by(status_pages.c.key)
    )
    return [PageRecord(key, spec, digest, logo_type) for key, spec, digest, logo_type in result]


async def logo(conn: AsyncConnection, key: str) -> tuple[str, bytes] | None:
    """A page's logo: (content type, bytes), or None."""
    result = await conn.execute(
        select(status_pages.c.logo_type, status_pages.c.logo).where(status_pages.c.key == key)
    )
    row = result.first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return str(row[0]), bytes(row[1])


async def notes(conn: AsyncConnection) -> list[NoteRecord]:
    result = await conn.execute(
        select(incident_notes.c.key, incident_notes.c.spec, incident_notes.c.spec_hash).order_by(
            incident_notes.c.key
        )
    )
    return [NoteRecord(key, spec, digest) for key, spec, digest in result]
