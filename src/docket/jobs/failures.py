"""Why a job failed: each failed attempt's reason, kept beside the queue in the catalogue's
database (procrastinate records that a job failed, not why). PostgreSQL only, like the queue;
the table has its own metadata, created by migration 0010 where the queue is."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from docket import clock

metadata = MetaData()

failures = Table(
    "job_failures",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("failed_at", String(40), nullable=False),
    Column("worker", String(255), nullable=False),
    Column("reason", Text, nullable=False),
)


def record(conn: Connection, job_id: int, attempt: int, worker: str, reason: str) -> None:
    conn.execute(
        insert(failures).values(
            job_id=job_id, attempt=attempt, failed_at=clock.now(), worker=worker, reason=reason
        )
    )


def latest(conn: Connection, job_ids: Iterable[int]) -> dict[int, str]:
    """The reason each of `job_ids` last failed, for those that ever did."""
    rows = conn.execute(
        select(failures.c.job_id, failures.c.reason)
        .where(failures.c.job_id.in_(list(job_ids)))
        .order_by(failures.c.id)
    )
    return {int(job_id): reason for job_id, reason in rows}
