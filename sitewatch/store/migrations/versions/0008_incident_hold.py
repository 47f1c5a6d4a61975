"""Incidents say why their DOWN was held; the incident timeline reads by start
and finds each incident's notifications; websites sort by name naturally.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.store.natural import natural_key

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("websites") as batch:
        batch.add_column(sa.Column("sort_key", sa.Text(), nullable=False, server_default=""))
    websites = sa.table(
        "websites", sa.column("id", sa.Integer), sa.column("name"), sa.column("sort_key")
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(websites.c.id, websites.c.name)).all()
    if rows:
        conn.execute(
            websites.update()
            .where(websites.c.id == sa.bindparam("row_id"))
            .values(sort_key=sa.bindparam("new_key")),
            [{"row_id": r[0], "new_key": natural_key(r[1])} for r in rows],
        )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("held_reason", sa.Text(), nullable=True))
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"], unique=False)
    op.create_index("ix_outbox_incident", "outbox", ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("websites") as batch:
        batch.drop_column("sort_key")
    op.drop_index("ix_outbox_incident", table_name="outbox")
    op.drop_index("ix_incidents_started_at", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("held_reason")
