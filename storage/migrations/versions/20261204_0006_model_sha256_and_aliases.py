"""model file hashes recorded in the database; article aliases (feed links of canonical pages)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from narrative_tracker.storage.models.base import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows get "": the first load of such a model records the hash of its metadata.json.
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_sha256", sa.String(length=64), nullable=False, server_default=""))
    op.create_table(
        "article_aliases",
        sa.Column("url_hash", sa.String(length=40), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_article_aliases_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("url_hash", name=op.f("pk_article_aliases")),
    )
    op.create_index(op.f("ix_article_aliases_article_id"), "article_aliases", ["article_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_article_aliases_article_id"), table_name="article_aliases")
    op.drop_table("article_aliases")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("model_sha256")
