"""one active model at most

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ONE_ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    # Two first runs at once could both activate a model: keep the latest promoted one serving.
    connection = op.get_bind()
    active = connection.execute(
        sa.text(
            "SELECT version FROM model_versions WHERE status = 'active' "
            "ORDER BY promoted_at DESC, created_at DESC, version DESC"
        )
    ).scalars().all()
    for version in active[1:]:
        connection.execute(
            sa.text("UPDATE model_versions SET status = 'retired' WHERE version = :version"), {"version": version}
        )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_versions_one_active",
            ["status"],
            unique=True,
            sqlite_where=ONE_ACTIVE,
            postgresql_where=ONE_ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_model_versions_one_active", sqlite_where=ONE_ACTIVE, postgresql_where=ONE_ACTIVE)
