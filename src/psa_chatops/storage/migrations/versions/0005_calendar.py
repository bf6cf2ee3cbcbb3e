"""calendar events and feeds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import psa_chatops.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_events",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("calendar", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("graph_event_id", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("synced_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "calendar"),
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_calendar_feeds_customer_id"), "calendar_feeds", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_feeds_customer_id"), table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
    op.drop_table("calendar_events")
