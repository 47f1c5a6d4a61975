"""SQLite's result writes bypass SQLAlchemy's per-row parameter handling
(``dialects/sqlite.py``, ``Many``): they must send the driver exactly what
SQLAlchemy would, for any row. Compared here with what SQLAlchemy hands the
sqlite3 cursor (its ``before_cursor_execute`` event), for generated rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sitewatch.store import tables
from sitewatch.store.dialects import sqlite as dialect
from sitewatch.store.results import HISTORY_FIELDS
from sitewatch.store.windows import SUMS

zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)
ids = st.integers(min_value=1, max_value=2**62)
counts = st.integers(min_value=0, max_value=2**31)
millis = st.floats(allow_nan=False, allow_infinity=False, width=64)
texts = st.text(max_size=40)

HISTORY_FIELD_VALUES = {
    "website_id": ids,
    "checked_at": moments,
    "ok": st.booleans(),
    "status_code": st.none() | st.integers(min_value=100, max_value=599),
    "response_time_ms": st.none() | millis,
    "error_kind": st.none() | texts,
    "error_message": st.none() | texts,
    "dns_ms": st.none() | millis,
    "connect_ms": st.none() | millis | st.integers(min_value=0, max_value=10**6),
    "tls_ms": st.none() | millis,
    "first_byte_ms": st.none() | millis,
    "size_bytes": st.none() | counts,
    "final_url": st.none() | texts,
    "cert_expires_at": st.none() | moments,
    "details": st.none() | texts,
}
history_rows = st.fixed_dictionaries(HISTORY_FIELD_VALUES)
status_rows = st.fixed_dictionaries(
    {
        "website_id": ids,
        "state": st.sampled_from(["up", "down", "unknown"]),
        "state_since": moments,
        "streak": counts,
        "last_checked_at": moments,
        "last_status_code": st.none() | st.integers(min_value=100, max_value=599),
        "last_response_ms": st.none() | millis,
        "last_error_kind": st.none() | texts,
        "last_error_message": st.none() | texts,
        "cert_expires_at": st.none() | moments,
        "last_details": st.none() | texts,
    }
)
rollup_rows = st.fixed_dictionaries(
    {
        "website_id": ids,
        "bucket": moments,
        "checks": counts,
        "failures": counts,
        "timed": counts,
        "sum_ms": millis | counts,
        "max_ms": st.none() | millis,
    }
)
total_rows = st.fixed_dictionaries(
    {"website_id": ids, **{n: millis if n == "sum_ms" else counts for n in SUMS}}
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """SQLAlchemy on the plain sqlite3 driver, which receives exactly what the
    aiosqlite adapter passes on."""
    engine = sqlalchemy.create_engine("sqlite://")
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


def sent_by_sqlalchemy(engine: Engine, statement: Any, rows: list[dict[str, Any]]) -> Any:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            conn.execute(statement, rows)
            trans.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(sql, params)] = seen
    return sql, [list(p) for p in params] if len(rows) > 1 else [list(params)]


STATEMENTS = {
    "history": (tables.history.insert, st.lists(history_rows, min_size=1, max_size=4)),
    "status": (
        dialect._status_upsert,
        st.lists(status_rows, min_size=1, max_size=4, unique_by=lambda r: r["website_id"]),
    ),
    "rollups": (dialect._rollup_upsert, st.lists(rollup_rows, min_size=1, max_size=4)),
    "totals": (dialect._add_to_every_window, st.lists(total_rows, min_size=1, max_size=4)),
}


def test_history_rows_carry_every_column_the_writer_sends() -> None:
    assert set(HISTORY_FIELD_VALUES) == set(HISTORY_FIELDS)


@pytest.mark.parametrize("which", sorted(STATEMENTS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_rows_go_to_the_driver_as_sqlalchemy_sends_them(
    engine: Engine, which: str, data: st.DataObject
) -> None:
    build, rows_of = STATEMENTS[which]
    rows: list[dict[str, Any]] = data.draw(rows_of)
    many = dialect._many(which)
    sql, params = sent_by_sqlalchemy(engine, build(), rows)
    assert many.sql == sql
    assert many.params(rows) == params
