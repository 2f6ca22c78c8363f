"""An index of case membership by item: "which cases hold this item" (every item page asks,
docket.scope) read the whole case_items table, whose key starts with the case (a million-item
case cost each item page a scan of a million rows).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_case_items_item_sha256"), "case_items", ["item_sha256"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_items_item_sha256"), table_name="case_items")
