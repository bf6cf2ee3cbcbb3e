"""ticket_events: drop the index on aggregate_id alone

The unique (aggregate_id, version) key already serves every lookup by aggregate_id (its leading column); the second
index only cost a B-tree insert per event, which an alert storm writes thousands of per second.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_index("ix_ticket_events_aggregate_id")


def downgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.create_index("ix_ticket_events_aggregate_id", ["aggregate_id"], unique=False)
