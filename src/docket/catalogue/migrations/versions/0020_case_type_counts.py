"""How many items of each media type each case holds (case_type_counts), kept by the database
itself: a case's dashboard counts its items by kind, and its grid's total, from a row a type.

Counted from the case's index of types (0015), a million-item case cost 70 ms of one core
for every dashboard view, twice (its total, then by type): at twenty people looking, the
dashboard answered 21 times a second. Kept by triggers on the memberships, as case_events
(0019) is, so that every writer of a membership is counted whatever it is. Every transaction
that adds a membership has appended to the custody log first, and so holds the log's head:
the count's row, taken after it, adds no lock order of its own. `docket verify` counts
again and compares.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _add(sign: str, row: str) -> str:
    return (
        "INSERT INTO case_type_counts (case_id, media_type, items)"
        f" VALUES ({row}.case_id, {row}.media_type, {sign}1)"
        " ON CONFLICT (case_id, media_type)"
        f" DO UPDATE SET items = case_type_counts.items {sign} 1"
    )


# (trigger, when, what it runs)
TRIGGERS = (
    ("case_type_counts_added", "AFTER INSERT", _add("+", "NEW")),
    ("case_type_counts_removed", "AFTER DELETE", _add("-", "OLD")),
    ("case_type_counts_changed", "AFTER UPDATE OF case_id, media_type", None),
)


def upgrade() -> None:
    op.create_table(
        "case_type_counts",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "media_type"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO case_type_counts (case_id, media_type, items)"
        " SELECT case_id, media_type, count(*) FROM case_items GROUP BY case_id, media_type"
    )
    bind = op.get_bind()
    for name, when, body in TRIGGERS:
        run = f"{_add('-', 'OLD')}; {_add('+', 'NEW')}" if body is None else body
        if bind.dialect.name == "sqlite":
            bind.exec_driver_sql(
                f"CREATE TRIGGER {name} {when} ON case_items FOR EACH ROW BEGIN {run}; END"
            )
        else:
            bind.exec_driver_sql(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {run}; RETURN NULL; END $$"
            )
            bind.exec_driver_sql(
                f"CREATE TRIGGER {name} {when} ON case_items FOR EACH ROW EXECUTE FUNCTION {name}()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, _when, _body in TRIGGERS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER {name}")
        else:
            op.execute(f"DROP TRIGGER {name} ON case_items")
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("case_type_counts")
