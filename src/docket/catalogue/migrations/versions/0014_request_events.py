"""Partial indexes of the two kinds of event a job looks up by its request: `package.exported`
(docket.jobs.export: made already? and the requester's download) and `capture.made`
(docket.jobs.capture: captured already?). Each lookup read every event of the log, over a
million rows on a large locker; now it reads only the events of its kind. An append pays for
them only when it is one of these two.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

KINDS = {"ix_events_package_exported": "package.exported", "ix_events_capture_made": "capture.made"}


def upgrade() -> None:
    for name, action in KINDS.items():
        where = sa.text(f"action = '{action}'")
        op.create_index(name, "events", ["seq"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name in KINDS:
        op.drop_index(name, table_name="events")
