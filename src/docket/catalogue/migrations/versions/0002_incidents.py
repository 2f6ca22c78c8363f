"""Incidents, their links to items and annotations, and the violation vocabulary.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "violation_types",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_from", sa.String(length=40), nullable=True),
        sa.Column("occurred_to", sa.String(length=40), nullable=True),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("violations", sa.Text(), nullable=False),
        sa.Column("actors", sa.Text(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_incidents_case_id"), "incidents", ["case_id"], unique=False)
    op.create_table(
        "incident_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("item_sha256", sa.String(length=64), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_sha256"],
            ["items.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_incident_links_incident_id"), "incident_links", ["incident_id"], unique=False
    )
    op.create_index(
        op.f("ix_incident_links_item_sha256"), "incident_links", ["item_sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_links_item_sha256"), table_name="incident_links")
    op.drop_index(op.f("ix_incident_links_incident_id"), table_name="incident_links")
    op.drop_table("incident_links")
    op.drop_index(op.f("ix_incidents_case_id"), table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("violation_types")
