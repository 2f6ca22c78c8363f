"""Full-text search: search_entries (docket.catalogue.fulltext) and each dialect's match index
over it, filled from the rows a locker already holds.

SQLite gets an FTS5 table that takes its text from search_entries (external content), kept in
step by triggers; PostgreSQL a GIN index on to_tsvector('simple', body). The entries of
existing acquisitions, tags, annotations, incidents and metadata results are written here with
the same words the code writes for new rows, so an upgraded locker finds what it held.

Revision ID: 0006
Revises: 0005
"""

import json

import sqlalchemy as sa
from alembic import op

from docket.catalogue import fulltext

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='search_entries',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_fts_insert AFTER INSERT ON search_entries BEGIN"
    " INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER search_fts_delete AFTER DELETE ON search_entries BEGIN"
    " INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER search_fts_update AFTER UPDATE ON search_entries BEGIN"
    " INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    " INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
)
_POSTGRESQL = (
    "CREATE INDEX ix_search_entries_body ON search_entries"
    " USING gin (to_tsvector('simple'::regconfig, body))",
)

# (kind, the rows' select: ref, case_id, item, then the texts)
_BACKFILL = (
    (
        "acquisition",
        "SELECT a.id, a.case_id, a.item_sha256, a.original_path, a.path_in_container, a.note,"
        " s.pseudonym FROM acquisitions a LEFT JOIN sources s ON s.id = a.source_id",
    ),
    ("tag", "SELECT id, case_id, item_sha256, tag FROM tags"),
    ("annotation", "SELECT id, case_id, item_sha256, text FROM annotations"),
    (
        "incident",
        "SELECT id, case_id, NULL, title, description, place, actors, violations FROM incidents",
    ),
)


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("item_sha256", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_search_entries_case_id", "search_entries", ["case_id"], unique=False)
    op.create_index(
        "ix_search_entries_item_sha256", "search_entries", ["item_sha256"], unique=False
    )
    op.create_index("ix_search_entries_kind_ref", "search_entries", ["kind", "ref"], unique=False)
    conn = op.get_bind()
    for statement in _SQLITE if conn.dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)
    insert = sa.text(
        "INSERT INTO search_entries (kind, ref, case_id, item_sha256, body)"
        " VALUES (:kind, :ref, :case_id, :item, :body)"
    )
    for kind, rows in _BACKFILL:
        for ref, case_id, item, *texts in conn.execute(sa.text(rows)):
            if kind == "incident":  # actors and violations are JSON lists
                texts = [*texts[:-2], *json.loads(texts[-2]), *json.loads(texts[-1])]
            values = {"kind": kind, "ref": ref, "case_id": case_id, "item": item}
            conn.execute(insert, {**values, "body": fulltext.body(texts)})
    results = sa.text(
        "SELECT id, item_sha256, data FROM results WHERE step = 'metadata' AND status = 'ok'"
    )
    for ref, item, data in conn.execute(results):
        texts = fulltext.metadata_texts(json.loads(data))
        values = {"kind": "metadata", "ref": ref, "case_id": None, "item": item}
        conn.execute(insert, {**values, "body": fulltext.body(texts)})


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER search_fts_{trigger}")
        op.execute("DROP TABLE search_fts")
    else:
        op.drop_index("ix_search_entries_body", table_name="search_entries")
    op.drop_index("ix_search_entries_kind_ref", table_name="search_entries")
    op.drop_index("ix_search_entries_item_sha256", table_name="search_entries")
    op.drop_index("ix_search_entries_case_id", table_name="search_entries")
    op.drop_table("search_entries")
