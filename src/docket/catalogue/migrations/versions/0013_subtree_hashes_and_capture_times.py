"""Reads by the page for an event's proof and a case's timeline (issue 16).

- subtree_hashes: the hashes of complete subtrees of the custody log's Merkle tree (aligned
  runs of 2**level leaves), a cache filled as proofs ask for them (docket.custody.subtrees),
  so that a proof reads O(log n) of them and a few hundred leaves instead of every leaf. A
  complete subtree never changes once the log holds all of its leaves.
- ix_results_capture_time: metadata results by the capture time inside them (an index on
  that expression, different in each dialect), so the timeline reads a case's items day by
  day in capture order (docket.timeline). Left out of the schema comparison, like the
  full-text index (docket.catalogue.schema.declared).
- ix_acquisitions_item_case: an item's arrivals in one case, which every list naming items
  asks for each item it names (queries.list_items); SQLite answered it by the case's index,
  reading every arrival of the case once per item named.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

CAPTURE_TIME = {
    "sqlite": "json_extract(data, '$.normalised.capture_time')",
    "postgresql": "(jsonb_extract_path_text(data::jsonb, 'normalised', 'capture_time'))",
}


def upgrade() -> None:
    op.create_table(
        "subtree_hashes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "position"),
    )
    op.create_index(
        "ix_acquisitions_item_case", "acquisitions", ["item_sha256", "case_id"], unique=False
    )
    bind = op.get_bind()
    bind.exec_driver_sql(
        f"CREATE INDEX ix_results_capture_time ON results "
        f"({CAPTURE_TIME[bind.dialect.name]}, item_sha256) "
        "WHERE step = 'metadata' AND status = 'ok'"
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP INDEX ix_results_capture_time")
    op.drop_index("ix_acquisitions_item_case", table_name="acquisitions")
    op.drop_table("subtree_hashes")
