"""A case's indexes of positions and capture times carry each membership's first arrival
(case_items.first_acquisition, migration 0021), so the grid's GPS and date filters read a
page from the index alone.

The GPS index is ordered by first arrival after the position: the case's items with a
position are read in the grid's own order, a page at a time, however many there are (it was
counted first, to choose between its index and a walk of the whole case). The capture-time
index carries the first arrival after its own keys (the timeline's order is unchanged): a
day's items are read and sorted without a lookup of each membership's row (1,370 lookups,
1.6 ms of a page at a million items).

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

POSITION = ["case_id", "has_position", "first_acquisition", "item_sha256"]
CAPTURED = {  # on PostgreSQL byte by byte, as 0018 made it
    "sqlite": "(case_id, capture_time, item_sha256{})",
    "postgresql": '(case_id, capture_time COLLATE "C", item_sha256{})',
}


def _captured(columns: str) -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("DROP INDEX ix_case_items_case_captured")
    made = CAPTURED[bind.dialect.name].format(columns)
    bind.exec_driver_sql(f"CREATE INDEX ix_case_items_case_captured ON case_items {made}")


def upgrade() -> None:
    op.drop_index("ix_case_items_case_position", table_name="case_items")
    op.create_index("ix_case_items_case_position", "case_items", POSITION)
    _captured(", first_acquisition")


def downgrade() -> None:
    op.drop_index("ix_case_items_case_position", table_name="case_items")
    op.create_index(
        "ix_case_items_case_position", "case_items", ["case_id", "has_position", "item_sha256"]
    )
    _captured("")
