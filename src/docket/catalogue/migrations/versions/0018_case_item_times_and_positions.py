"""Each case's items with their capture time beside them (case_items.capture_time: that of the
item's latest successful metadata result, kept by docket.catalogue.records), indexed by case
and capture time, so a case's timeline reads its own items day by day. Through the metadata
results' index (0013) a page also read every other case's item captured between its first and
last day: a small case whose days came after a big case's paid for the big case's items.
On PostgreSQL the index compares bytes (COLLATE "C"), as SQLite does and the grid's date filter
does (0017). Left out of the schema comparison, like 0013's.

And whether the item's latest metadata result (of any status) gives a position
(case_items.has_position), indexed by case: the grid's GPS filter is driven by the case's own
items that have one. Through the results it was driven by every item of any case whose
metadata ever gave one: a big case with few photos placed, beside another case of many, was
walked whole.

The results' indexes that only those reads used are dropped: 0013's and 0017's by capture
time, 0016's of metadata that gives a position (every metadata result paid for them).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

MOST = 64  # docket.catalogue.schema.CAPTURE_TIME_MOST, as it was when this was written
# The normalised capture time of a result, and whether it is text (docket.catalogue.records
# .capture_time_of keeps text of at most MOST characters).
CAPTURE_TIME = {
    "sqlite": "json_extract(results.data, '$.normalised.capture_time')",
    "postgresql": "jsonb_extract_path_text(results.data::jsonb, 'normalised', 'capture_time')",
}
IS_TEXT = {
    "sqlite": "json_type(results.data, '$.normalised.capture_time') = 'text'",
    "postgresql": (
        "jsonb_typeof(results.data::jsonb -> 'normalised' -> 'capture_time') = 'string'"
    ),
}
HAS_POSITION = {  # of a results row: what docket.item_filters' GPS condition asks
    "sqlite": "json_extract(results.data, '$.normalised.gps_latitude') IS NOT NULL",
    "postgresql": "jsonb_extract_path_text(results.data::jsonb, 'normalised', 'gps_latitude')"
    " IS NOT NULL",
}
INDEX = {
    "sqlite": "CREATE INDEX ix_case_items_case_captured ON case_items "
    "(case_id, capture_time, item_sha256)",
    "postgresql": "CREATE INDEX ix_case_items_case_captured ON case_items "
    '(case_id, capture_time COLLATE "C", item_sha256)',
}


# The indexes dropped, as 0013, 0016 and 0017 made them (for the downgrade).
DROPPED = {
    "sqlite": (
        "CREATE INDEX ix_results_capture_time ON results "
        "(json_extract(data, '$.normalised.capture_time'), item_sha256) "
        "WHERE step = 'metadata' AND status = 'ok'",
        "CREATE INDEX ix_results_gps ON results (item_sha256) WHERE step = 'metadata' "
        "AND json_extract(data, '$.normalised.gps_latitude') IS NOT NULL",
    ),
    "postgresql": (
        "CREATE INDEX ix_results_capture_time ON results "
        "((jsonb_extract_path_text(data::jsonb, 'normalised', 'capture_time')), item_sha256) "
        "WHERE step = 'metadata' AND status = 'ok'",
        "CREATE INDEX ix_results_gps ON results (item_sha256) WHERE step = 'metadata' "
        "AND (jsonb_extract_path_text(data::jsonb, 'normalised', 'gps_latitude')) IS NOT NULL",
        "CREATE INDEX ix_results_capture_bytes ON results "
        "((jsonb_extract_path_text(data::jsonb, 'normalised', 'capture_time')) COLLATE \"C\","
        " item_sha256) WHERE step = 'metadata' AND status = 'ok'",
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("case_items", sa.Column("capture_time", sa.String(length=MOST), nullable=True))
    captured = CAPTURE_TIME[dialect]
    op.execute(
        "UPDATE case_items SET capture_time = ("
        f" SELECT CASE WHEN {IS_TEXT[dialect]} AND length({captured}) <= {MOST}"
        f" THEN {captured} END FROM results"
        " WHERE results.item_sha256 = case_items.item_sha256"
        " AND results.step = 'metadata' AND results.status = 'ok'"
        " ORDER BY results.id DESC LIMIT 1)"
    )
    bind.exec_driver_sql(INDEX[dialect])
    # Added NOT NULL with a default and filled in place, as 0015's column was.
    op.add_column(
        "case_items",
        sa.Column("has_position", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE case_items SET has_position = COALESCE(("
        f" SELECT {HAS_POSITION[dialect]} FROM results"
        " WHERE results.item_sha256 = case_items.item_sha256 AND results.step = 'metadata'"
        " ORDER BY results.id DESC LIMIT 1), false)"
    )
    op.create_index(
        "ix_case_items_case_position", "case_items", ["case_id", "has_position", "item_sha256"]
    )
    for made in DROPPED[dialect]:
        bind.exec_driver_sql(f"DROP INDEX {made.split()[2]}")


def downgrade() -> None:
    bind = op.get_bind()
    for made in DROPPED[bind.dialect.name]:
        bind.exec_driver_sql(made)
    op.drop_index("ix_case_items_case_position", table_name="case_items")
    op.execute("ALTER TABLE case_items DROP COLUMN has_position")
    op.get_bind().exec_driver_sql("DROP INDEX ix_case_items_case_captured")
    op.execute("ALTER TABLE case_items DROP COLUMN capture_time")
