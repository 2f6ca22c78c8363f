"""Saved searches: a person's named query of a case's item grid (docket.saved_searches). A
locker from before holds none.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "user_id", "name", name="uq_saved_search_name"),
    )
    op.create_index(op.f("ix_saved_searches_case_id"), "saved_searches", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_searches_case_id"), table_name="saved_searches")
    op.drop_table("saved_searches")
