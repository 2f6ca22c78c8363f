"""Collection fields: where the collector got a file (url_of_origin) and when they got it
(collected_at, ISO 8601 with the collector's offset), on each acquisition.

Both columns are nullable: arrivals recorded before this revision said neither, and their
custody events, which are never rewritten, say neither either.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("acquisitions", sa.Column("url_of_origin", sa.Text(), nullable=True))
    op.add_column("acquisitions", sa.Column("collected_at", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acquisitions") as batch:
        batch.drop_column("collected_at")
        batch.drop_column("url_of_origin")
