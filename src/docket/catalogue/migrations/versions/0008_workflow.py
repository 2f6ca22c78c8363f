"""Workflow: each item's status in a case, its assignee and the comment on each change
(statuses; docket.review). A locker from before holds no row, and every item in it is new.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statuses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_sha256", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=255), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["item_sha256"], ["items.sha256"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_statuses_item_sha256"), "statuses", ["item_sha256"], unique=False)
    op.create_index(op.f("ix_statuses_case_id"), "statuses", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_statuses_case_id"), table_name="statuses")
    op.drop_index(op.f("ix_statuses_item_sha256"), table_name="statuses")
    op.drop_table("statuses")
