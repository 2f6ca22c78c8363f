"""Each case's custody events in a table of their own (case_events: the case, the event's log
position, its action and its actor), one row for every event of every item the case holds,
kept by the database itself, and indexed by case and action (the audit of one kind) and by
case and actor (the audit of one person's work).

A case's latest activity and its audit were found by walking the log back from its newest
event and asking of each whether the case holds its item (or, below 10,000 items, by gathering
every event of every item the case holds and sorting them). A large case that had been quiet
while other cases worked walked all of their events: through a million-item case behind
200,000 events of another, its dashboard took seconds. Now the case's own rows are read newest
first, and nothing of another case is touched.

Kept by triggers rather than by docket's code: an event of an item reaches every case holding
the item, and an item that joins a case brings all its events, whichever code writes the row
and in whichever order, with no statement more for the writer to send (the custody log's
append is the hottest write there is). `docket verify` recomputes the table from the log and
the memberships. Rows are never removed but with the membership that made them.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OF_EVENT = (
    "INSERT INTO case_events (case_id, event_seq, action, actor)"
    " SELECT case_id, NEW.seq, NEW.action, NEW.actor FROM case_items"
    " WHERE item_sha256 = NEW.item_sha256"
)
OF_MEMBERSHIP = (
    "INSERT INTO case_events (case_id, event_seq, action, actor)"
    " SELECT NEW.case_id, seq, action, actor FROM events WHERE item_sha256 = NEW.item_sha256"
)
MEMBERSHIP_GONE = (
    "DELETE FROM case_events WHERE case_id = OLD.case_id"
    " AND event_seq IN (SELECT seq FROM events WHERE item_sha256 = OLD.item_sha256)"
)
# (trigger, table, when, what it runs). An event of no item (a checkpoint, a member added)
# fires nothing: on PostgreSQL not even the function's call.
TRIGGERS = (
    ("case_events_of_event", "events", "AFTER INSERT", OF_EVENT),
    ("case_events_of_membership", "case_items", "AFTER INSERT", OF_MEMBERSHIP),
    ("case_events_membership_gone", "case_items", "AFTER DELETE", MEMBERSHIP_GONE),
)


def _create_triggers(dialect: str) -> None:
    bind = op.get_bind()
    for name, table, when, body in TRIGGERS:
        condition = "WHEN (NEW.item_sha256 IS NOT NULL)" if table == "events" else ""
        if dialect == "sqlite":
            bind.exec_driver_sql(
                f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW {condition}"
                f" BEGIN {body}; END"
            )
        else:
            bind.exec_driver_sql(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body}; RETURN NULL; END $$"
            )
            bind.exec_driver_sql(
                f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW {condition}"
                f" EXECUTE FUNCTION {name}()"
            )


def upgrade() -> None:
    op.create_table(
        "case_events",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "event_seq"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO case_events (case_id, event_seq, action, actor)"
        " SELECT case_items.case_id, events.seq, events.action, events.actor FROM case_items"
        " JOIN events ON events.item_sha256 = case_items.item_sha256"
    )
    op.create_index("ix_case_events_case_action", "case_events", ["case_id", "action", "event_seq"])
    op.create_index("ix_case_events_case_actor", "case_events", ["case_id", "actor", "event_seq"])
    _create_triggers(op.get_bind().dialect.name)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, _when, _body in TRIGGERS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER {name}")
        else:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_index("ix_case_events_case_actor", table_name="case_events")
    op.drop_index("ix_case_events_case_action", table_name="case_events")
    op.drop_table("case_events")
