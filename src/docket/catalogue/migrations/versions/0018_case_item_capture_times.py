"""Each case's items with their capture time beside them (case_items.capture_time: that of the
item's latest successful metadata result, kept by docket.catalogue.records), indexed by case
and capture time, so a case's timeline reads its own items day by day. Through the metadata
results' index (0013) a page also read every other case's item captured between its first and
last day: a small case whose days came after a big case's paid for the big case's items.
On PostgreSQL the index compares bytes (COLLATE "C"), as SQLite does and the grid's date filter
does (0017). Left out of the schema comparison, like 0013's.

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
INDEX = {
    "sqlite": "CREATE INDEX ix_case_items_case_captured ON case_items "
    "(case_id, capture_time, item_sha256)",
    "postgresql": "CREATE INDEX ix_case_items_case_captured ON case_items "
    '(case_id, capture_time COLLATE "C", item_sha256)',
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


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP INDEX ix_case_items_case_captured")
    op.execute("ALTER TABLE case_items DROP COLUMN capture_time")
