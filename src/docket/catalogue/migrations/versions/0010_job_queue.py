"""The job queue (docket.jobs), on PostgreSQL only: procrastinate's own schema, as its
SchemaManager gives it, and the table that keeps each failed attempt's reason. A SQLite
catalogue has no queue (its jobs run in-process), so nothing changes there.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # As SchemaManager.apply_schema does: the driver reads % as a parameter's mark.
    bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    op.create_table(  # docket.jobs.failures, as it was made here
        "job_failures",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.String(length=40), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_failures_job_id", "job_failures", ["job_id"])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.drop_table("job_failures")
    bind.exec_driver_sql(
        "DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
        "procrastinate_workers CASCADE"
    )
    functions = bind.exec_driver_sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n "
        "ON n.oid = p.pronamespace WHERE n.nspname = current_schema() "
        "AND p.proname LIKE 'procrastinate\\_%%'"
    ).scalars()
    for function in list(functions):
        bind.exec_driver_sql(f"DROP FUNCTION {function} CASCADE")
    bind.exec_driver_sql(
        "DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_event_type, "
        "procrastinate_job_status"
    )
