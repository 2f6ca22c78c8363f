"""Acquisitions, flags, tags and annotations belong to a case (the scope rule, docket.scope).

An acquisition's case is read from the custody event that recorded it. Flag, tag and annotation
rows written before this migration carry no case. A row of an item that exactly one case
holds goes to that case; a row of an item held by several cases (or by none) cannot be given
to one without guessing, so it keeps no case: members of a case never see it, admins do.

Revision ID: 0003
Revises: 0002
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("flags", "tags", "annotations")


def _add_case_id(table: str) -> None:
    # ADD COLUMN, not a batch copy: SQLite cannot drop a table other rows refer to
    # (annotations linked to incidents); its ADD COLUMN takes the reference inline.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN case_id INTEGER REFERENCES cases (id)")
    else:
        op.add_column(table, sa.Column("case_id", sa.Integer(), nullable=True))
        op.create_foreign_key(f"fk_{table}_case_id", table, "cases", ["case_id"], ["id"])
    op.create_index(f"ix_{table}_case_id", table, ["case_id"], unique=False)


def upgrade() -> None:
    _add_case_id("acquisitions")
    conn = op.get_bind()
    cases: dict[str, int] = {
        str(n): int(i) for n, i in conn.execute(sa.text("SELECT name, id FROM cases"))
    }
    arrivals = conn.execute(
        sa.text(
            "SELECT acquisitions.id, events.details FROM acquisitions"
            " JOIN events ON events.seq = acquisitions.event_seq"
        )
    ).all()
    for acquisition, details in arrivals:
        case = json.loads(details).get("acquisition", {}).get("case")
        if case in cases:
            conn.execute(
                sa.text("UPDATE acquisitions SET case_id = :case WHERE id = :id"),
                {"case": cases[case], "id": acquisition},
            )
    for table in TABLES:
        _add_case_id(table)
        op.execute(
            f"UPDATE {table} SET case_id = (SELECT MIN(case_id) FROM case_items"
            f" WHERE case_items.item_sha256 = {table}.item_sha256)"
            f" WHERE (SELECT COUNT(*) FROM case_items"
            f" WHERE case_items.item_sha256 = {table}.item_sha256) = 1"
        )


def downgrade() -> None:
    for table in (*TABLES, "acquisitions"):
        op.drop_index(f"ix_{table}_case_id", table_name=table)
        if op.get_bind().dialect.name == "sqlite":
            with op.batch_alter_table(table) as batch:
                batch.drop_column("case_id")
        else:
            op.drop_constraint(f"fk_{table}_case_id", table, type_="foreignkey")
            op.drop_column(table, "case_id")
