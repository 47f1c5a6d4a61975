"""Cluster: instances and their heartbeats, website leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("websites", sa.Integer(), nullable=False),
        sa.Column("checks_total", sa.Integer(), nullable=False),
    )
    op.create_index("ix_instances_heartbeat_at", "instances", ["heartbeat_at"])
    op.create_table(
        "website_leases",
        sa.Column(
            "website_id",
            sa.Integer(),
            sa.ForeignKey("websites.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_website_leases_holder", "website_leases", ["holder"])


def downgrade() -> None:
    op.drop_table("website_leases")
    op.drop_table("instances")
