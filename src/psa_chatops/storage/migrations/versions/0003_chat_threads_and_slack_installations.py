"""chat threads and slack installations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import psa_chatops.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_threads",
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("ticket_number", sa.BigInteger(), nullable=False),
        sa.Column("root_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("rendered_version", sa.Integer(), nullable=False),
        sa.Column("created_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination", "ticket_number"),
    )
    op.create_table(
        "slack_installations",
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("enterprise_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("team_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("app_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("bot_user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("bot_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("bot_token_encrypted", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("bot_scopes", sa.JSON(), nullable=False),
        sa.Column("installer_user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("installed_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )


def downgrade() -> None:
    op.drop_table("slack_installations")
    op.drop_table("chat_threads")
