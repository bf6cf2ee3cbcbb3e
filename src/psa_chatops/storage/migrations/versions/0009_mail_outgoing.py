"""outgoing mail: sent message ids

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import psa_chatops.storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_sent",
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ticket_number", sa.BigInteger(), nullable=True),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sent_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index(
        "ix_mail_sent_ticket_recipient", "mail_sent", ["ticket_number", "recipient", "sent_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_mail_sent_ticket_recipient", table_name="mail_sent")
    op.drop_table("mail_sent")
