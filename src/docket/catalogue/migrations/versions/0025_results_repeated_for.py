"""results.repeated_for: the case whose arrival a result was recorded again for
(docket.case_analysis). A case that receives bytes analysed before it gets the analysis again
as its own events; those are shown to that case alone, never to the cases that had the
analysis first, which would learn from them that another case received the bytes.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("results", sa.Column("repeated_for", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Not a batch copy of the table: it would lose the expression indexes of 0013 and 0016.
    op.drop_column("results", "repeated_for")
