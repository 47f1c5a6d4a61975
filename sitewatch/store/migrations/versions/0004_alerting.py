"""Alerting: maintenance windows, alert states, incidents, the outbox, delivery attempts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.types import JsonType, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _big_id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def _fk(
    name: str, table: str, *, primary_key: bool = False, nullable: bool = False
) -> sa.Column[int]:
    return sa.Column(
        name,
        sa.Integer(),
        sa.ForeignKey(f"{table}.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("spec", JsonType, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
    )
    op.create_table(
        "alert_states",
        _fk("website_id", "websites", primary_key=True),
        _fk("alert_id", "alerts", primary_key=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", UTCDateTime(), nullable=True),
        sa.Column("cause_kind", sa.String(32), nullable=True),
        sa.Column("cause_message", sa.Text(), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("last_sent_at", UTCDateTime(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("website_id", "websites", nullable=False),
        _fk("alert_id", "alerts", nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("cause_kind", sa.String(32), nullable=True),
        sa.Column("cause_message", sa.Text(), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_incidents_website_started", "incidents", ["website_id", "started_at"])
    op.create_table(
        "outbox",
        _big_id(),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        _fk("alert_id", "alerts", nullable=False),
        _fk("website_id", "websites", nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_pending", "outbox", ["status", "alert_id", "id"])
    op.create_table(
        "delivery_attempts",
        _big_id(),
        sa.Column(
            "outbox_id",
            sa.BigInteger(),
            sa.ForeignKey("outbox.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_delivery_attempts_outbox_id", "delivery_attempts", ["outbox_id"])


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("outbox")
    op.drop_table("incidents")
    op.drop_table("alert_states")
    op.drop_table("maintenance_windows")
