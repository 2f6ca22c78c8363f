"""A partial index of `profile.bound` events (docket.capture.profiles): which case a kept
browser profile belongs to is looked up on every capture in one and on every capture form, and
must not read the whole log to find the few events of its kind.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

NAME, ACTION = "ix_events_profile_bound", "profile.bound"


def upgrade() -> None:
    where = sa.text(f"action = '{ACTION}'")
    op.create_index(NAME, "events", ["seq"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index(NAME, table_name="events")
