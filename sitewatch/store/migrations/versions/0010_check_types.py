"""Check types beyond HTTP: what each result found (details), heartbeat pings, and
the server's own secrets.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns, or a constant default: PostgreSQL adds them without a rewrite.
    with op.batch_alter_table("websites") as batch:
        batch.add_column(
            sa.Column("type", sa.String(length=16), nullable=False, server_default="http")
        )
    # TCP checks came before this column: the only type besides http so far.
    op.execute("UPDATE websites SET type = 'tcp' WHERE url LIKE 'tcp://%'")
    with op.batch_alter_table("check_histories") as batch:
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
    with op.batch_alter_table("website_status") as batch:
        batch.add_column(sa.Column("last_details", sa.Text(), nullable=True))
    op.create_table(
        "heartbeat_pings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("website_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["website_id"], ["websites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_heartbeat_pings_at", "heartbeat_pings", ["at"])
    op.create_index("ix_heartbeat_pings_website_at", "heartbeat_pings", ["website_id", "at"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_index("ix_heartbeat_pings_website_at", table_name="heartbeat_pings")
    op.drop_index("ix_heartbeat_pings_at", table_name="heartbeat_pings")
    op.drop_table("heartbeat_pings")
    with op.batch_alter_table("website_status") as batch:
        batch.drop_column("last_details")
    with op.batch_alter_table("check_histories") as batch:
        batch.drop_column("details")
    with op.batch_alter_table("websites") as batch:
        batch.drop_column("type")
