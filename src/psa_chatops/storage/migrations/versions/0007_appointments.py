"""on-site appointments

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import psa_chatops.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("ticket_number", sa.BigInteger(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("technician_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("starts_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_number", "appointment_id"),
    )
    op.create_index(op.f("ix_appointments_customer_id"), "appointments", ["customer_id"], unique=False)
    op.create_index(op.f("ix_appointments_starts_at"), "appointments", ["starts_at"], unique=False)
    op.create_index("ix_appointments_technician_starts", "appointments", ["technician_id", "starts_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_appointments_technician_starts", table_name="appointments")
    op.drop_index(op.f("ix_appointments_starts_at"), table_name="appointments")
    op.drop_index(op.f("ix_appointments_customer_id"), table_name="appointments")
    op.drop_table("appointments")
