"""security alerts, vendor account mappings and poller cursors

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import psa_chatops.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# --- alerts core: security_alerts, vendor_account_mappings, alert_severity_overrides, api_keys.signing_secret ---


def _upgrade_alerts_core() -> None:
    op.create_table(
        "security_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("alert_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ticket_number", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("customer_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("vendor_account", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("asset_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("affected_asset", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("threat_type", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("first_seen", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("classification", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("correlation_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "alert_id", name="uq_security_alerts_provider_alert"),
    )
    op.create_index("ix_security_alerts_correlation", "security_alerts", ["correlation_key", "last_seen"])
    op.create_index(op.f("ix_security_alerts_customer_id"), "security_alerts", ["customer_id"], unique=False)
    op.create_index(op.f("ix_security_alerts_last_seen"), "security_alerts", ["last_seen"], unique=False)
    op.create_index(op.f("ix_security_alerts_status"), "security_alerts", ["status"], unique=False)
    op.create_index(op.f("ix_security_alerts_ticket_number"), "security_alerts", ["ticket_number"], unique=False)
    op.create_table(
        "vendor_account_mappings",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("provider", "account"),
    )
    op.create_index(
        op.f("ix_vendor_account_mappings_customer_id"), "vendor_account_mappings", ["customer_id"], unique=False
    )
    op.create_table(
        "alert_severity_overrides",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("updated_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id", "severity"),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("signing_secret", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def _downgrade_alerts_core() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("signing_secret")
    op.drop_table("alert_severity_overrides")
    op.drop_index(op.f("ix_vendor_account_mappings_customer_id"), table_name="vendor_account_mappings")
    op.drop_table("vendor_account_mappings")
    op.drop_index(op.f("ix_security_alerts_ticket_number"), table_name="security_alerts")
    op.drop_index(op.f("ix_security_alerts_status"), table_name="security_alerts")
    op.drop_index(op.f("ix_security_alerts_last_seen"), table_name="security_alerts")
    op.drop_index(op.f("ix_security_alerts_customer_id"), table_name="security_alerts")
    op.drop_index("ix_security_alerts_correlation", table_name="security_alerts")
    op.drop_table("security_alerts")


# --- end of alerts core ---


# --- vendor pollers: alert_poll_cursors ---


def _upgrade_poll_cursors() -> None:
    op.create_table(
        "alert_poll_cursors",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cursor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", psa_chatops.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )


def _downgrade_poll_cursors() -> None:
    op.drop_table("alert_poll_cursors")


# --- end of vendor pollers ---


def upgrade() -> None:
    _upgrade_alerts_core()
    _upgrade_poll_cursors()


def downgrade() -> None:
    _downgrade_poll_cursors()
    _downgrade_alerts_core()
