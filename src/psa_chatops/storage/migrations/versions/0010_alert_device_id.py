"""security alerts: the vendor's device id (isolation)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("security_alerts") as batch:
        batch.add_column(sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_alerts") as batch:
        batch.drop_column("device_id")
