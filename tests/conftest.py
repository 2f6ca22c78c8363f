"""Shared fixtures: a fresh locker in tmp_path, synthetic media, a CLI runner, a small full
disk (tmpfs), and an S3-compatible server (moto, an emulator, or a real endpoint)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import argon2
import pytest
from fastapi.testclient import TestClient
from media import jpeg, sample
from sqlalchemy import create_engine, make_url, select, text
from web_site import Site, make_site, serve

from docket import access, accounts
from docket._samples import PhotoFacts, write_photo
from docket.catalogue import schema
from docket.cli import main
from docket.ingest.run import IngestOptions, IngestSummary, ingest
from docket.locker import Locker
from docket.web.app import create_app

if TYPE_CHECKING:
    import s3_server  # imported by the fixtures that start a server: boto3 and moto are slow

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


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs: a real full disk (skipped where one cannot be mounted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[s3_server.Endpoint]:
    """moto, an emulator of S3, in server mode on loopback: one per test module."""
    import s3_server

    with s3_server.moto() as endpoint:
        yield endpoint


@pytest.fixture(params=["moto", "real"])
def endpoint(
    request: pytest.FixtureRequest, moto_endpoint: s3_server.Endpoint
) -> s3_server.Endpoint:
    """Each S3 test runs on moto, and again on the real endpoint DOCKET_TEST_S3_URL names
    (skipped without one)."""
    import s3_server

    if request.param == "moto":
        return moto_endpoint
    real = s3_server.real()
    if real is None:
        pytest.skip(f"no real S3 endpoint: set {s3_server.REAL_URL_VARIABLE} to run against one")
    return real


@pytest.fixture(autouse=True)
def cheap_sign_in(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Argon2 at its lowest cost for the people tests make and sign in (RFC 9106's costs
    ~0.2-0.4 s a hash here: a world makes six, and every sign-in checks one), except in tests
    marked `real_argon2`, whose subject is sign-in's Argon2 work itself."""
    accounts.dummy_hash.cache_clear()  # made with whichever hasher the test uses
    if request.node.get_closest_marker("real_argon2") is None:
        cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        monkeypatch.setattr(accounts, "_HASHER", cheap)
    yield
    accounts.dummy_hash.cache_clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_argon2: sign-in's Argon2 at the product's cost")


# The web app's world: shared by the in-process web tests.
PASSWORD = "correct horse battery"
ROLES = ["owner", "investigator", "reviewer", "viewer"]


@pytest.fixture
def world(locker: Locker, tmp_path: Path) -> dict[str, Any]:
    """Two cases, an item in each, an admin, one member per role in case North, an outsider."""
    north = tmp_path / "north.jpg"
    north.write_bytes(jpeg(sample("chelsea")))
    south = tmp_path / "south.jpg"
    south.write_bytes(jpeg(sample("coffee")))
    north_item = take(locker, north, case="North").outcomes[0].sha256
    south_item = take(locker, south, case="South").outcomes[0].sha256
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
        users = {
            role: accounts.create_user(conn, "setup", f"{role}-1", PASSWORD, "member")
            for role in [*ROLES, "outsider"]
        }
        cases = dict(conn.execute(select(schema.cases.c.name, schema.cases.c.id)).all())
        for role in ROLES:
            access.add_member(conn, admin, cases["North"], users[role], role)
    return {
        "north": north_item,
        "south": south_item,
        "cases": cases,
        "users": users,
        "client": TestClient(create_app(locker)),
    }


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    answer = client.post(
        "/login", data={"name": name, "password": password}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The test web site's files (tests/web_site.py), made once per test module."""
    return make_site(tmp_path_factory.mktemp("site"))


@pytest.fixture
def site(made: Site) -> Iterator[Site]:
    """The test web site served on loopback, fresh for each test."""
    with serve(made.fresh()) as served:
        yield served
