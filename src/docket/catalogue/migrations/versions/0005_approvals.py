"""Approvals: the copy of an item a person approved for publication, per case.

A new table only; a locker upgraded from 0004 has no approvals, so its publication exports
refuse every item until someone approves a copy (`docket approve`).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_sha256", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("derivative_sha256", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_faces", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["item_sha256"], ["items.sha256"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_approvals_item_sha256"), "approvals", ["item_sha256"], unique=False)
    op.create_index(op.f("ix_approvals_case_id"), "approvals", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_approvals_case_id"), table_name="approvals")
    op.drop_index(op.f("ix_approvals_item_sha256"), table_name="approvals")
    op.drop_table("approvals")
