"""Sliding uptime totals per website, so the uptime of every website reads one row each.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WINDOWS = (("24h", 24), ("7d", 168), ("30d", 720))
SUMS = ("checks", "failures", "timed", "sum_ms")


def upgrade() -> None:
    columns = [
        sa.Column(
            "website_id",
            sa.Integer(),
            sa.ForeignKey("websites.id", ondelete="CASCADE"),
            primary_key=True,
        )
    ]
    for suffix, _hours in WINDOWS:
        for name in SUMS:
            type_: Any = sa.Float() if name == "sum_ms" else sa.Integer()
            columns.append(sa.Column(f"{name}_{suffix}", type_, nullable=False))
    # Housekeeping starts the totals from the rollups the first time it runs.
    op.create_table("uptime_totals", *columns)


def downgrade() -> None:
    op.drop_table("uptime_totals")
