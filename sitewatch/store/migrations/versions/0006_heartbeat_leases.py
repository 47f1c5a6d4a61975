"""Leases last as long as their holder's heartbeat: no expiry per lease row.

Renewing a lease was a rewrite of every lease row of an instance each
``SITEWATCH_LEASE_SECONDS / 3``; now it is the instance's heartbeat alone. A
lease row belongs to a live instance row (deleting the instance hands its
websites back).

Leases are soft state: the upgrade drops them, and the running instances claim
the websites again at their next heartbeat.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM website_leases")
    with op.batch_alter_table("website_leases") as batch:
        batch.drop_column("expires_at")
        batch.create_foreign_key(
            "fk_website_leases_holder_instances",
            "instances",
            ["holder"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM website_leases")
    with op.batch_alter_table("website_leases") as batch:
        batch.drop_constraint("fk_website_leases_holder_instances", type_="foreignkey")
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=False))
