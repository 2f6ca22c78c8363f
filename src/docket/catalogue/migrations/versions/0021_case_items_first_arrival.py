"""Each membership names its item's first arrival in the case (case_items.first_acquisition:
the id of the earliest acquisition of the item into the case), indexed by case and that id,
so a case's grid is its own index read in order.

The grid lists a case's items in the order they first arrived in it. It walked the case's
acquisitions and asked of each whether an earlier one of the same item in the same case
existed: three index lookups by SHA-256 an arrival, in random order in a catalogue of
millions. A page 100 deep tested 9,900 arrivals before its first item (29 ms of CPU at a
million items); a filter read each item's first arrival the same way. A membership is added
in the transaction of its item's first arrival into the case (docket.catalogue.records), and
acquisitions are never changed or removed, so the id is written once and stays true.
`docket verify` finds it again from the acquisitions and compares.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_items", sa.Column("first_acquisition", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE case_items SET first_acquisition = ("
        " SELECT min(acquisitions.id) FROM acquisitions"
        " WHERE acquisitions.item_sha256 = case_items.item_sha256"
        " AND acquisitions.case_id = case_items.case_id)"
    )
    op.create_index(
        "ix_case_items_case_arrival",
        "case_items",
        ["case_id", "first_acquisition", "item_sha256"],
    )


def downgrade() -> None:
    op.drop_index("ix_case_items_case_arrival", table_name="case_items")
    op.execute("ALTER TABLE case_items DROP COLUMN first_acquisition")
