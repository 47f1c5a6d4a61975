"""Checks: timing breakdown in the history, website status, hourly and daily rollups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_HISTORY_COLUMNS = (
    ("dns_ms", sa.Float),
    ("connect_ms", sa.Float),
    ("tls_ms", sa.Float),
    ("first_byte_ms", sa.Float),
    ("size_bytes", sa.Integer),
    ("final_url", sa.Text),
    ("cert_expires_at", UTCDateTime),
)


def _website_fk() -> sa.Column[int]:
    return sa.Column(
        "website_id",
        sa.Integer(),
        sa.ForeignKey("websites.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("check_histories") as batch:
        for name, type_ in _HISTORY_COLUMNS:
            batch.add_column(sa.Column(name, type_(), nullable=True))
    op.create_table(
        "website_status",
        _website_fk(),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", UTCDateTime(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("last_checked_at", UTCDateTime(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_response_ms", sa.Float(), nullable=True),
        sa.Column("last_error_kind", sa.String(32), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("cert_expires_at", UTCDateTime(), nullable=True),
    )
    for period in ("hourly", "daily"):
        op.create_table(
            f"rollups_{period}",
            _website_fk(),
            sa.Column("bucket", UTCDateTime(), primary_key=True),
            sa.Column("checks", sa.Integer(), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("timed", sa.Integer(), nullable=False),
            sa.Column("sum_ms", sa.Float(), nullable=False),
            sa.Column("max_ms", sa.Float(), nullable=True),
            sa.Column("p95_ms", sa.Float(), nullable=True),
        )
        op.create_index(f"ix_rollups_{period}_bucket", f"rollups_{period}", ["bucket"])
    op.create_table(
        "housekeeping",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("housekeeping")
    for period in ("daily", "hourly"):
        op.drop_index(f"ix_rollups_{period}_bucket", f"rollups_{period}")
        op.drop_table(f"rollups_{period}")
    op.drop_table("website_status")
    with op.batch_alter_table("check_histories") as batch:
        for name, _ in reversed(_HISTORY_COLUMNS):
            batch.drop_column(name)
