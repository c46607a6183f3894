"""telegram posts: views and forwarded-from on articles

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("views", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("views_granularity", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("forwarded_from_channel", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("forwarded_from_url", sa.Text(), nullable=True))
        batch_op.create_index("ix_articles_forwarded_from_url", ["forwarded_from_url"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_forwarded_from_url")
        batch_op.drop_column("forwarded_from_url")
        batch_op.drop_column("forwarded_from_channel")
        batch_op.drop_column("views_granularity")
        batch_op.drop_column("views")
