"""Two partial indexes of analysis results, so that a grid filter only a few items pass is
driven by the items that may pass it rather than by walking a case of a million items
(docket.web.case_routes `Filters._driving`):

- ix_results_gps: metadata results that give a position (has GPS);
- ix_results_proposed_flag: successful classifications, by the flag they propose.

Each is on an expression that differs by dialect, like ix_results_capture_time (0013), and is
left out of the schema comparison the same way (docket.catalogue.schema.EXPRESSION_INDEXES).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

LATITUDE = {
    "sqlite": "json_extract(data, '$.normalised.gps_latitude')",
    "postgresql": "(jsonb_extract_path_text(data::jsonb, 'normalised', 'gps_latitude'))",
}
PROPOSED_FLAG = {
    "sqlite": "json_extract(data, '$.flag')",
    "postgresql": "(jsonb_extract_path_text(data::jsonb, 'flag'))",
}


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    bind.exec_driver_sql(
        "CREATE INDEX ix_results_gps ON results (item_sha256) "
        f"WHERE step = 'metadata' AND {LATITUDE[dialect]} IS NOT NULL"
    )
    bind.exec_driver_sql(
        f"CREATE INDEX ix_results_proposed_flag ON results ({PROPOSED_FLAG[dialect]}, "
        "item_sha256) WHERE step = 'classify' AND status = 'ok'"
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP INDEX ix_results_proposed_flag")
    op.get_bind().exec_driver_sql("DROP INDEX ix_results_gps")
