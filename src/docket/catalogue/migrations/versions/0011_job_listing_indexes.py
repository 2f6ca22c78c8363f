"""Indexes for listing the job queue (docket.jobs), on PostgreSQL only, where migration 0010
made the queue: without them each listing reads every job the queue holds.

- `docket jobs --status S` (queue.jobs) takes the newest jobs in one status: (status, id).
- A case's captures and an item's redactions not made yet (capture.pending,
  redaction.pending) are found by task and the case in the job's arguments, among the jobs
  not finished (queued, running, failed): a partial index, which holds only those, newest
  first by id. The item's redactions are the few of its case's.

Named procrastinate_jobs_* so that docket's schema comparison leaves them with the queue's
tables (docket.catalogue.schema.declared). A SQLite catalogue has no queue: nothing changes.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = {
    "procrastinate_jobs_status_id_idx": "procrastinate_jobs (status, id)",
    "procrastinate_jobs_unfinished_case_idx": (
        "procrastinate_jobs (task_name, (args->>'case'), id) "
        "WHERE status IN ('todo', 'doing', 'failed')"
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name, definition in INDEXES.items():
        bind.exec_driver_sql(f"CREATE INDEX {name} ON {definition}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name in INDEXES:
        bind.exec_driver_sql(f"DROP INDEX {name}")
