"""Shared fixtures: a fresh locker in tmp_path, synthetic media, and a CLI runner."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from docket._samples import PhotoFacts, write_photo
from docket.cli import main
from docket.ingest.run import IngestOptions, IngestSummary, ingest
from docket.locker import Locker

FACTS = PhotoFacts("2024:03:01 12:34:56", "+03:00", 33.5043, 36.2842, 712.5)


POSTGRES_URL = os.environ.get("DOCKET_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@contextmanager
def fresh_database(backend: str) -> Iterator[str | None]:
    """None for the locker's own SQLite file, else the URL of a new, empty PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    assert POSTGRES_URL is not None
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"docket_test_{uuid.uuid4().hex}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def locker(tmp_path: Path, backend: str) -> Iterator[Locker]:
    """A new locker on each catalogue backend this machine can run (PostgreSQL in CI)."""
    with (
        fresh_database(backend) as url,
        Locker.create(tmp_path / "locker", actor="tester", database_url=url) as created,
    ):
        yield created


def take(locker: Locker, *paths: Path | bytes, **options: Any) -> IngestSummary:
    raw = [p if isinstance(p, bytes) else os.fsencode(p) for p in paths]
    return ingest(locker, raw, IngestOptions(collector="tester", **options))


def photo(
    folder: Path, name: str = "photo.jpg", seed: int = 1, facts: PhotoFacts | None = FACTS
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_photo(folder / name, seed, facts)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str | Path) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def docket_command() -> list[str]:
    """The CLI as a separate process, for tests that must kill or race it."""
    return [sys.executable, "-m", "docket.cli"]
