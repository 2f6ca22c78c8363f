"""What the job tests share: PostgreSQL only (SQLite has no queue), the queue's jobs, a
custody action's events, and `docket` run as a command on the locker (a worker is a process
of its own)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import docket_command
from sqlalchemy import select

from docket.catalogue import schema
from docket.jobs import queue
from docket.locker import Locker


def postgresql_only(locker: Locker) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")


def jobs(locker: Locker) -> list[queue.Job]:
    with locker.engine.connect() as conn:
        return queue.jobs(conn)


def logged(locker: Locker, action: str) -> list[tuple[str, dict[str, Any]]]:
    """(actor, details) of each `action` event, oldest first."""
    e = schema.events.c
    with locker.engine.connect() as conn:
        rows = conn.execute(
            select(e.actor, e.details).where(e.action == action).order_by(e.seq)
        ).all()
    return [(str(actor), json.loads(details)) for actor, details in rows]


def docket(locker: Locker, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*docket_command(), *args, "--locker", str(locker.path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=cwd,
    )
