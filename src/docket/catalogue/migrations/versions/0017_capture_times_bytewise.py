"""On PostgreSQL, metadata results by their capture time compared byte by byte (COLLATE "C"),
as the grid's date filter compares it (docket.item_filters): ix_results_capture_time (0013)
is ordered by the database's collation, which may set punctuation aside, so a range read
through it could leave out an item the filter keeps. SQLite compares bytes already, and its
filter reads 0013's index. Left out of the schema comparison like 0013's.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(
            "CREATE INDEX ix_results_capture_bytes ON results "
            "((jsonb_extract_path_text(data::jsonb, 'normalised', 'capture_time')) COLLATE \"C\","
            " item_sha256) WHERE step = 'metadata' AND status = 'ok'"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql("DROP INDEX ix_results_capture_bytes")
