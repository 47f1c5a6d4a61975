"""Initial schema: websites, alerts, their bindings, check history, reconcile runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.types import JsonType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "websites",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("tags", JsonType, nullable=False),
        sa.Column("spec", JsonType, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("spec", JsonType, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "website_alerts",
        sa.Column(
            "website_id",
            sa.Integer(),
            sa.ForeignKey("websites.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "alert_id",
            sa.Integer(),
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_website_alerts_alert_id", "website_alerts", ["alert_id"])
    op.create_table(
        "check_histories",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "website_id",
            sa.Integer(),
            sa.ForeignKey("websites.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_time_ms", sa.Float(), nullable=True),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
    )
    op.create_index("ix_check_histories_checked_at", "check_histories", ["checked_at"])
    op.create_index(
        "ix_check_histories_website_checked", "check_histories", ["website_id", "checked_at"]
    )
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("restored", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("errors", JsonType, nullable=False),
        sa.Column("warnings", JsonType, nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
    )
    op.create_index("ix_reconcile_runs_started_at", "reconcile_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("reconcile_runs")
    op.drop_table("check_histories")
    op.drop_table("website_alerts")
    op.drop_table("alerts")
    op.drop_table("websites")
