"""task queue: tasks, workers, domain pace

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import narrative_tracker.storage.models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC = narrative_tracker.storage.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "queue_tasks",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("enqueued_at", UTC(timezone=True), nullable=False),
        sa.Column("started_at", UTC(timezone=True), nullable=True),
        sa.Column("finished_at", UTC(timezone=True), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_queue_tasks")),
    )
    with op.batch_alter_table("queue_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_queue_tasks_batch", ["batch"], unique=False)
        batch_op.create_index("ix_queue_tasks_status_finished", ["status", "finished_at"], unique=False)
    op.create_table(
        "queue_workers",
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(length=200), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC(timezone=True), nullable=False),
        sa.Column("heartbeat_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_queue_workers")),
    )
    op.create_table(
        "domain_pace",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("next_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_domain_pace")),
    )


def downgrade() -> None:
    op.drop_table("domain_pace")
    op.drop_table("queue_workers")
    with op.batch_alter_table("queue_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_tasks_status_finished")
        batch_op.drop_index("ix_queue_tasks_batch")
    op.drop_table("queue_tasks")
