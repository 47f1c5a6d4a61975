"""The database tables (SQLModel). Alembic migrations in ``migrations/`` create them.

Websites and alerts mirror the YAML by ``key``: the reconciler owns these rows.
A website removed from the YAML is *archived* (``archived_at`` set), never
dropped, so its history survives and putting the key back restores it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlmodel import Field, SQLModel

from sitewatch.store.types import JsonType, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class WebsiteRow(SQLModel, table=True):
    __tablename__ = "websites"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    # natural_key(name): "Site 2" sorts before "Site 10" in SQL (store/natural.py)
    sort_key: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    url: str = Field(sa_column=Column(Text, nullable=False))
    # The check's type: http, tcp, tls, dns, icmp or heartbeat.
    type: str = Field(
        default="http", sa_column=Column(String(16), nullable=False, server_default="http")
    )
    active: bool = True
    interval_seconds: float
    tags: list[str] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(sa_column=Column(Text, nullable=False))
    archived_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    type: str = Field(max_length=32)
    enabled: bool = True
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(sa_column=Column(Text, nullable=False))
    archived_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WebsiteAlertRow(SQLModel, table=True):
    """Which alert applies to which website (from either side of the YAML)."""

    __tablename__ = "website_alerts"

    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), primary_key=True)
    )
    alert_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class CheckHistoryRow(SQLModel, table=True):
    """One check of one website (the seed's ``check_histories``)."""

    __tablename__ = "check_histories"
    __table_args__ = (Index("ix_check_histories_website_checked", "website_id", "checked_at"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), nullable=False)
    )
    checked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ok: bool
    status_code: int | None = None
    response_time_ms: float | None = None  # total, request start to last body byte
    error_kind: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    first_byte_ms: float | None = None
    size_bytes: int | None = None
    final_url: str | None = Field(default=None, sa_column=Column(Text))
    cert_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # What the check's type found beyond these columns (JSON text; None for HTTP).
    details: str | None = Field(default=None, sa_column=Column(Text))


class WebsiteStatusRow(SQLModel, table=True):
    """The latest check of each website: what lists and the scheduler read."""

    __tablename__ = "website_status"

    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), primary_key=True)
    )
    state: str = Field(max_length=16)  # up | down (of the last check; alerts add thresholds)
    state_since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    streak: int = 1  # consecutive checks with the current state
    last_checked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_status_code: int | None = None
    last_response_ms: float | None = None
    last_error_kind: str | None = Field(default=None, max_length=32)
    last_error_message: str | None = Field(default=None, sa_column=Column(Text))
    cert_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_details: str | None = Field(default=None, sa_column=Column(Text))


class _Rollup(SQLModel):
    """Counts and response-time figures of one website over one bucket.

    ``checks``, ``failures``, ``timed``, ``sum_ms`` and ``max_ms`` grow with every
    batch of results; ``p95_ms`` is filled once the bucket is over (it needs the
    raw rows of the whole bucket).
    """

    # No sa_column here: each table built from this base needs columns of its own.
    website_id: int = Field(foreign_key="websites.id", ondelete="CASCADE", primary_key=True)
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    checks: int = 0
    failures: int = 0
    timed: int = 0  # checks with a response time
    sum_ms: float = 0.0
    max_ms: float | None = None
    p95_ms: float | None = None


class HourlyRollupRow(_Rollup, table=True):
    __tablename__ = "rollups_hourly"
    __table_args__ = (Index("ix_rollups_hourly_bucket", "bucket"),)


class DailyRollupRow(_Rollup, table=True):
    __tablename__ = "rollups_daily"
    __table_args__ = (Index("ix_rollups_daily_bucket", "bucket"),)


class UptimeTotalsRow(SQLModel, table=True):
    """Each website's sums over the sliding 24 h, 7 d and 30 d windows that end at
    the last sealed hour.

    Sealing an hour adds that hour's rollup and subtracts the hour that left each
    window, so reading the uptime of every website touches one row per website
    plus the few hourly rows at the edges of the windows -- not 720 per website.
    """

    __tablename__ = "uptime_totals"

    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), primary_key=True)
    )
    checks_24h: int = 0
    failures_24h: int = 0
    timed_24h: int = 0
    sum_ms_24h: float = 0.0
    checks_7d: int = 0
    failures_7d: int = 0
    timed_7d: int = 0
    sum_ms_7d: float = 0.0
    checks_30d: int = 0
    failures_30d: int = 0
    timed_30d: int = 0
    sum_ms_30d: float = 0.0


class MaintenanceWindowRow(SQLModel, table=True):
    """A maintenance window from alerts.yaml (the reconciler replaces them as a set)."""

    __tablename__ = "maintenance_windows"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(sa_column=Column(Text, nullable=False))


class StatusPageRow(SQLModel, table=True):
    """A status page from status-pages.yaml, with its logo's bytes (replaced as a set)."""

    __tablename__ = "status_pages"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(sa_column=Column(Text, nullable=False))
    logo: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    logo_type: str | None = Field(default=None, max_length=32)


class IncidentNoteRow(SQLModel, table=True):
    """An incident note from incidents/*.md (replaced as a set)."""

    __tablename__ = "incident_notes"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    spec: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(sa_column=Column(Text, nullable=False))


class AlertStateRow(SQLModel, table=True):
    """Where each (website, alert) pair stands in the state machine; survives restarts."""

    __tablename__ = "alert_states"

    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), primary_key=True)
    )
    alert_id: int = Field(
        sa_column=Column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    )
    status: str = Field(max_length=8)  # up | down
    failures: int = 0
    successes: int = 0
    first_failure_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cause_kind: str | None = Field(default=None, max_length=32)
    cause_message: str | None = Field(default=None, sa_column=Column(Text))
    notified: bool = False
    last_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    incident_id: int | None = None
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class IncidentRow(SQLModel, table=True):
    """An outage of one website as one alert saw it: first failure to recovery."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_website_started", "website_id", "started_at"),
        Index("ix_incidents_started_at", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), nullable=False)
    )
    alert_id: int = Field(
        sa_column=Column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False)
    )
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    confirmed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cause_kind: str | None = Field(default=None, max_length=32)
    cause_message: str | None = Field(default=None, sa_column=Column(Text))
    notified: bool = False  # its DOWN went out
    # Why its DOWN was held when it was confirmed (the connectivity guard's reason
    # or a maintenance window); the DOWN goes out at the next check after the hold.
    held_reason: str | None = Field(default=None, sa_column=Column(Text))


class OutboxRow(SQLModel, table=True):
    """A notification to deliver, written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "alert_id", "id"),
        Index("ix_outbox_incident", "incident_id"),  # an incident's notifications
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    event_id: str = Field(max_length=36, unique=True)
    alert_id: int = Field(
        sa_column=Column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False)
    )
    website_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), nullable=True),
    )
    incident_id: int | None = None
    kind: str = Field(max_length=16)  # down | reminder | up | test
    payload: dict[str, Any] = Field(sa_column=Column(JsonType, nullable=False))
    status: str = Field(max_length=16)  # pending | delivered | failed
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # Targets that have it (a channel with several, such as Apprise's URLs): ids
    # made from the stored ${VAR} text, never a resolved URL.
    sent_to: list[str] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))


class DeliveryAttemptRow(SQLModel, table=True):
    """One try to deliver an outbox row, and what came of it."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    outbox_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ok: bool
    duration_ms: float
    detail: str = Field(sa_column=Column(Text, nullable=False))


class HousekeepingRow(SQLModel, table=True):
    """Progress marks of background jobs (e.g. the last hour whose rollups are sealed)."""

    __tablename__ = "housekeeping"

    name: str = Field(max_length=64, primary_key=True)
    value: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ReconcileRunRow(SQLModel, table=True):
    """One attempt to apply a config revision, successful or not."""

    __tablename__ = "reconcile_runs"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    finished_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    trigger: str = Field(max_length=32)
    status: str = Field(max_length=16)  # applied | unchanged | failed | refused
    revision: str | None = Field(default=None, max_length=64)
    git_commit: str | None = Field(default=None, max_length=64)
    created: int = 0
    updated: int = 0
    deleted: int = 0
    restored: int = 0
    unchanged: int = 0
    errors: list[str] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    duration_seconds: float = 0.0


class RevokedSessionRow(SQLModel, table=True):
    """A dashboard session ended by logout before its cookie expires (every instance
    refuses it); rows go once the cookie would have expired anyway."""

    __tablename__ = "revoked_sessions"

    sid: str = Field(max_length=64, primary_key=True)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class InstanceRow(SQLModel, table=True):
    """A running ``sitewatch serve`` sharing this database: its heartbeat and share."""

    __tablename__ = "instances"

    id: str = Field(max_length=64, primary_key=True)  # host:pid:random, new at each start
    role: str = Field(max_length=16)  # all | web | checker
    version: str = Field(max_length=32)
    host: str = Field(max_length=255)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    websites: int = 0  # how many websites it checks (holds leases for)
    checks_total: int = 0


class WebsiteLeaseRow(SQLModel, table=True):
    """Which instance checks a website: valid while the holder's heartbeat is."""

    __tablename__ = "website_leases"

    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), primary_key=True)
    )
    holder: str = Field(
        sa_column=Column(
            String(64), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class HeartbeatPingRow(SQLModel, table=True):
    """A ping of a heartbeat check, from whichever instance received it."""

    __tablename__ = "heartbeat_pings"
    __table_args__ = (Index("ix_heartbeat_pings_website_at", "website_id", "at"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    website_id: int = Field(
        sa_column=Column(Integer, ForeignKey("websites.id", ondelete="CASCADE"), nullable=False)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    kind: str = Field(max_length=16)  # success | start | fail | log
    exit_status: int | None = None
    duration_ms: float | None = None  # a success or fail after a start: the run's length
    body: str | None = Field(default=None, sa_column=Column(Text))  # the first few KiB
    source: str | None = Field(default=None, max_length=64)  # the client's address
    user_agent: str | None = Field(default=None, max_length=200)


class ServerSecretRow(SQLModel, table=True):
    """Secrets sitewatch makes for itself, shared by every instance (the key that
    derives heartbeat ping URLs)."""

    __tablename__ = "server_secrets"

    name: str = Field(max_length=64, primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


metadata = SQLModel.metadata


def _table(row: type[SQLModel]) -> Table:
    table = row.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# The tables as SQLAlchemy Core objects: what every query in the store is written with.
websites = _table(WebsiteRow)
alerts = _table(AlertRow)
website_alerts = _table(WebsiteAlertRow)
history = _table(CheckHistoryRow)
status = _table(WebsiteStatusRow)
hourly = _table(HourlyRollupRow)
daily = _table(DailyRollupRow)
totals = _table(UptimeTotalsRow)
maintenance_windows = _table(MaintenanceWindowRow)
status_pages = _table(StatusPageRow)
incident_notes = _table(IncidentNoteRow)
alert_states = _table(AlertStateRow)
incidents = _table(IncidentRow)
outbox = _table(OutboxRow)
delivery_attempts = _table(DeliveryAttemptRow)
housekeeping = _table(HousekeepingRow)
reconcile_runs = _table(ReconcileRunRow)
revoked_sessions = _table(RevokedSessionRow)
instances = _table(InstanceRow)
website_leases = _table(WebsiteLeaseRow)
heartbeat_pings = _table(HeartbeatPingRow)
server_secrets = _table(ServerSecretRow)


def in_config(table: Table) -> ColumnElement[bool]:
    """The one definition of "not deleted": a website or alert still in the YAML
    (removing it from the YAML archives the row, so its history stays)."""
    return table.c.archived_at.is_(None)


def archived(table: Table) -> ColumnElement[bool]:
    """The rows of websites or alerts removed from the YAML."""
    return table.c.archived_at.is_not(None)
