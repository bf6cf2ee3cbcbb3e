"""mail intake: mailboxes, processed messages, attachments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import psa_chatops.storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=998), nullable=False),
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ticket_number", sa.BigInteger(), nullable=True),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("rate_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("quote", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("received_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_key"),
    )
    op.create_index("ix_mail_messages_rate", "mail_messages", ["rate_key", "received_at"])
    op.create_index(op.f("ix_mail_messages_ticket_number"), "mail_messages", ["ticket_number"], unique=False)
    op.create_table(
        "mail_cursors",
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("cursor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("mailbox"),
    )
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_number", sa.BigInteger(), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=998), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_id", sqlmodel.sql.sqltypes.AutoString(length=998), nullable=True),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("refused", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ticket_attachments_ticket_number"), "ticket_attachments", ["ticket_number"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_attachments_ticket_number"), table_name="ticket_attachments")
    op.drop_table("ticket_attachments")
    op.drop_table("mail_cursors")
    op.drop_index(op.f("ix_mail_messages_ticket_number"), table_name="mail_messages")
    op.drop_index("ix_mail_messages_rate", table_name="mail_messages")
    op.drop_table("mail_messages")
