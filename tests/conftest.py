"""Shared fixtures: a fresh locker in tmp_path, synthetic media, a CLI runner, a small full
disk (tmpfs), and an S3-compatible server (moto, an emulator, or a real endpoint)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
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
from docket.catalogue import identity, schema
from docket.cli import main
from docket.ingest.run import IngestOptions, IngestSummary, ingest
from docket.locker import CONFIG_NAME, Locker
from docket.web.app import create_app

if TYPE_CHECKING:
    import s3_server  # imported by the fixtures that start a server: boto3 and moto are slow

FACTS = PhotoFacts("2024:03:01 12:34:56", "+03:00", 33.5043, 36.2842, 712.5)


POSTGRES_URL = os.environ.get("DOCKET_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


def _admin_sql(statement: str) -> None:
    """One statement on the test PostgreSQL server outside a transaction (CREATE/DROP DATABASE)."""
    assert POSTGRES_URL is not None
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _database_url(name: str) -> str:
    assert POSTGRES_URL is not None
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


class DatabaseDropper:
    """Drops the tests' PostgreSQL databases in the background, BATCH at a time, all at once.
    DROP DATABASE makes PostgreSQL checkpoint and waits for it, and that checkpoint writes out
    every other database's changes: one at a time, drops cost 0.5-1.9 s each here (fsync on, a
    loaded machine); twelve at once 0.2-0.6 s in all, sharing checkpoints and never writing
    out each other's files. No test waits for a drop (each name is unique, never used again);
    `finish`, at the session's end, drops the rest, waits for all and reports any failure."""

    BATCH = 16

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._pool = ThreadPoolExecutor(self.BATCH, thread_name_prefix="drop-database")
        self._drops: list[Future[None]] = []

    def drop(self, name: str) -> None:
        self._pending.append(name)
        if len(self._pending) >= self.BATCH:
            self._start()

    def _start(self) -> None:
        for name in self._pending:
            self._drops.append(self._pool.submit(_admin_sql, f"DROP DATABASE {name} WITH (FORCE)"))
        self._pending = []

    def finish(self) -> None:
        self._start()
        failures = [str(exc) for drop in self._drops if (exc := drop.exception()) is not None]
        self._drops = []
        assert not failures, f"test databases not dropped: {failures}"


DROPPER = DatabaseDropper()


@pytest.fixture(scope="session", autouse=True)
def drop_databases_at_last() -> Iterator[None]:
    """Waits, at the end of the session, for the databases the tests left to DROPPER (set up
    before any other session fixture, so torn down after them)."""
    yield
    DROPPER.finish()


@contextmanager
def fresh_database(backend: str) -> Iterator[str | None]:
    """None for the locker's own SQLite file, else the URL of a new, empty PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    name = f"docket_test_{uuid.uuid4().hex}"
    _admin_sql(f"CREATE DATABASE {name}")
    try:
        yield _database_url(name)
    finally:
        DROPPER.drop(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def locker(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, world_templates: WorldTemplates
) -> Iterator[Locker]:
    """A new locker on each catalogue backend this machine can run (PostgreSQL in CI): the
    test's own copy of a locker built once per worker (WorldTemplates), empty or, for a test
    that uses `world` (or a layer on it), that world's. Copies made in one worker share the
    template's locker id, keys and creation event; a locker the test makes itself never does."""
    with world_templates.copy(backend, world_layer(request) or "empty", tmp_path) as copied:
        yield copied


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


def unshare_works(*namespaces: str) -> bool:
    """Whether this machine lets an unprivileged process make these namespaces (`unshare`
    options, with a user namespace mapping it to root): containers and CI may forbid it."""
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", *namespaces, "true"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


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
    _patient_browser_pages()


# A generous cap on each browser step (a load, a click, a wait), not a timing check: on a
# loaded CI machine (three workers, several browsers) a fresh browser's first page load once
# took more than Playwright's default 30 s, and the test failed on the sign-in page.
BROWSER_STEP_MS = 120_000


def _patient_browser_pages() -> None:
    """Every page and context a test opens gets BROWSER_STEP_MS as its default timeout."""
    from playwright.sync_api import Browser

    def patient(open_one: Callable[..., Any]) -> Callable[..., Any]:
        def opened(self: Browser, *args: Any, **kwargs: Any) -> Any:
            made = open_one(self, *args, **kwargs)
            made.set_default_timeout(BROWSER_STEP_MS)
            return made

        return opened

    for name in ("new_page", "new_context"):
        setattr(Browser, name, patient(getattr(Browser, name)))


# The web app's world: shared by the in-process web tests.
PASSWORD = "correct horse battery"
ROLES = ["owner", "investigator", "reviewer", "viewer"]


def build_world(locker: Locker, folder: Path) -> dict[str, Any]:
    """Two cases, an item in each (from `folder`'s north.jpg and south.jpg), an admin, one
    member per role in case North, an outsider: what `world` describes, without its client."""
    north = folder / "north.jpg"
    north.write_bytes(jpeg(sample("chelsea")))
    south = folder / "south.jpg"
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
    return {"north": north_item, "south": south_item, "cases": cases, "users": users}


@dataclass(frozen=True)
class Layer:
    """What a fixture adds to a built locker (`base`: "world", "empty" or another layer), given
    the base's facts, and returns as facts. A test that uses the fixture gets a copy of a
    locker built once with it (see `world_layer`); the builder's files are made in the folder
    it is given, and copied with the locker, so facts name them relative to that folder."""

    build: Callable[[Locker, Path, dict[str, Any]], dict[str, Any]]
    base: str = "world"


# By the fixture's name (test_case_walls: `walls`).
LAYERS: dict[str, Layer] = {}


def layer_chain(layer: str | None) -> list[str]:
    """`layer`, its base, that one's base, and so on down to "world" or "empty"."""
    chain = []
    while layer is not None:
        chain.append(layer)
        layer = LAYERS[layer].base if layer in LAYERS else None
    return chain


def world_layer(request: pytest.FixtureRequest) -> str | None:
    """Which built locker a test's locker copies: "world", or the deepest layer the test uses,
    or none. Tests marked `real_argon2` build their own: their people need the product's
    hashes."""
    if request.node.get_closest_marker("real_argon2") is not None:
        return None
    used = [name for name in LAYERS if _layer_fixture(request, name)]
    if used:
        deepest = max(used, key=lambda name: len(layer_chain(name)))
        if not set(used) <= set(layer_chain(deepest)):
            raise RuntimeError(f"layers {used} are not built one on another")
        return deepest
    return "world" if "world" in request.fixturenames else None


def _layer_fixture(request: pytest.FixtureRequest, name: str) -> bool:
    """Whether the test uses the layer fixture `name`: the fixture it gets by that name is the
    one defined beside the layer's builder (another module may have a fixture of that name,
    such as test_jobs_uploads' own `package`)."""
    if name not in request.fixturenames:
        return False
    definitions = request._fixturemanager.getfixturedefs(name, request.node) or ()
    return bool(definitions) and definitions[-1].func.__module__ == LAYERS[name].build.__module__


def built_with(request: pytest.FixtureRequest, layer: str) -> bool:
    """Whether the test's locker is a copy of one built with `layer` (else the fixture builds
    its part in the test's own locker)."""
    return layer in layer_chain(world_layer(request))


def layer_facts(request: pytest.FixtureRequest, layer: str, base: dict[str, Any]) -> dict[str, Any]:
    """A layer fixture's facts over `base` (its base fixture's): those of the built locker the
    test's locker copies, or, for a test that builds its own, what the layer adds to it now.
    The fixture must ask for `locker` (or a fixture that does), so that its tests run on
    each backend."""
    if built_with(request, layer):
        templates: WorldTemplates = request.getfixturevalue("world_templates")
        built = templates.template(request.getfixturevalue("backend"), layer).facts
        return {**copy.deepcopy(built), **base}
    locker: Locker = request.getfixturevalue("locker")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return {**base, **LAYERS[layer].build(locker, tmp_path, base)}


@dataclass(frozen=True)
class WorldTemplate:
    """A world built once: its folder (locker/ and the files ingested), its PostgreSQL
    database (None for SQLite, whose catalogue is inside locker/), and what it returns."""

    folder: Path
    database: str | None
    facts: dict[str, Any]


class WorldTemplates:
    """Each world (and layer), and the "empty" locker, built once per backend per worker, at
    first use; each test gets a copy of its folder and, on PostgreSQL, a database cloned from
    its database (CREATE DATABASE ... TEMPLATE), so it may change its locker freely. Building a
    world (two ingests, six people) costs seconds; making an empty locker 0.1-0.5 s on SQLite,
    0.3-2 s on PostgreSQL (a database, its migrations, its drop), against 0.01-0.03 s and
    0.15-0.25 s for a copy (measured at load averages 2-10)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[tuple[str, str], WorldTemplate] = {}
        self.databases: list[str] = []

    def template(self, backend: str, layer: str = "world") -> WorldTemplate:
        if (backend, layer) not in self.built:
            folder = self.root / f"{backend}-{layer}"
            if layer in ("empty", "world"):
                folder.mkdir()
                database = None if backend == "sqlite" else self._database(kept=True)
                with Locker.create(
                    folder / "locker", actor="tester", database_url=database
                ) as made:
                    facts = build_world(made, folder) if layer == "world" else {}
            else:
                base = self.template(backend, LAYERS[layer].base)
                database = self._clone(base, folder, kept=True)
                with Locker.open(folder / "locker", database_url=database) as made:
                    facts = {**base.facts, **LAYERS[layer].build(made, folder, base.facts)}
            # Closed: SQLite's journal is folded in, and PostgreSQL clones only a database
            # with no open connections.
            self.built[backend, layer] = WorldTemplate(folder, database, facts)
        return self.built[backend, layer]

    @contextmanager
    def copy(self, backend: str, layer: str, tmp_path: Path) -> Iterator[Locker]:
        database = self._clone(self.template(backend, layer), tmp_path)
        try:
            with Locker.open(tmp_path / "locker", database_url=database) as copied:
                yield copied
        finally:
            if database is not None:
                DROPPER.drop(str(make_url(database).database))

    def _clone(self, made: WorldTemplate, folder: Path, kept: bool = False) -> str | None:
        """`made`'s files copied into `folder`; on PostgreSQL, the URL of a copy of its
        database, which the copy's docket.json names."""
        shutil.copytree(made.folder, folder, dirs_exist_ok=True)
        if made.database is None:
            return None
        url = self._database(made.database, kept)
        config = json.loads((folder / "locker" / CONFIG_NAME).read_text())
        config["database"] = identity.recorded(url)
        (folder / "locker" / CONFIG_NAME).write_text(json.dumps(config, indent=2))
        return url

    def _database(self, template: str | None = None, kept: bool = False) -> str:
        """A new PostgreSQL database, empty or a copy of `template`'s; `kept` ones (templates)
        are dropped when the session ends."""
        name = f"docket_test_{uuid.uuid4().hex}"
        like = "" if template is None else f" TEMPLATE {make_url(template).database}"
        _admin_sql(f"CREATE DATABASE {name}{like}")
        if kept:
            self.databases.append(name)
        return _database_url(name)

    def drop(self) -> None:
        for name in self.databases:
            DROPPER.drop(name)


@pytest.fixture(scope="session")
def world_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldTemplates]:
    templates = WorldTemplates(tmp_path_factory.mktemp("worlds"))
    yield templates
    templates.drop()


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    locker: Locker,
    tmp_path: Path,
    backend: str,
    world_templates: WorldTemplates,
) -> dict[str, Any]:
    """Two cases, an item in each, an admin, one member per role in case North, an outsider,
    and a web client; in a copy of one built world (see `locker`) unless the test builds its
    own (`world_layer`)."""
    if not built_with(request, "world"):
        facts = build_world(locker, tmp_path)
    else:
        facts = copy.deepcopy(world_templates.template(backend).facts)
    return {**facts, "client": TestClient(create_app(locker))}


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
