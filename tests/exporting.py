"""The package a web export answered with, on either catalogue: SQLite makes it in the request;
PostgreSQL queues a job (docket.jobs.export), which is run here as a worker would run it, and
the package is then fetched from its link by the person who asked."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from docket.jobs import export as export_job
from docket.jobs import queue
from docket.locker import Locker


def package_of(client: TestClient, locker: Locker, answer: Any) -> bytes:
    if answer.status_code == 200:
        return bytes(answer.content)
    assert answer.status_code == 202, answer.text
    asked = answer.json()
    with locker.engine.connect() as conn:
        [job] = [j for j in queue.jobs(conn) if j.id == asked["job"]]
    assert export_job.export_request(locker, job.args) is not None
    fetched = client.get(asked["package"])
    assert fetched.status_code == 200, fetched.text
    return bytes(fetched.content)
