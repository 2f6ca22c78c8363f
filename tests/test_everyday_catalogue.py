"""A locker knows its own catalogue (issue 18): docket.json records its kind and identity, never
its password, and a locker is never opened on an empty SQLite file or on another database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_URL, fresh_database, photo, take
from sqlalchemy import make_url

from docket.errors import CatalogueMismatchError
from docket.locker import Locker

needs_postgres = pytest.mark.skipif(POSTGRES_URL is None, reason="needs DOCKET_TEST_POSTGRES_URL")
SECRET = "s3cret-Vx9"  # the test server trusts every local user, so any password opens it


@pytest.fixture
def server_url() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, with a password in it."""
    with fresh_database("postgresql") as url:
        assert url is not None
        yield make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def config_text(locker: Path) -> str:
    return (locker / "docket.json").read_text()


@needs_postgres
def test_docket_json_names_the_server_catalogue_without_its_password(
    tmp_path: Path, server_url: str
) -> None:
    Locker.create(tmp_path / "locker", actor="tester", database_url=server_url).close()
    recorded = json.loads(config_text(tmp_path / "locker"))["database"]
    assert SECRET not in config_text(tmp_path / "locker")
    assert make_url(recorded).get_backend_name() == "postgresql"
    assert make_url(recorded).database == make_url(server_url).database


@needs_postgres
def test_init_with_the_variable_records_postgresql_and_refuses_without_it(
    cli: Any, tmp_path: Path, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    locker = tmp_path / "locker"
    monkeypatch.setenv("DOCKET_DATABASE_URL", server_url)
    assert cli("init", locker).code == 0
    assert cli("ingest", "--locker", locker, photo(tmp_path / "in")).code == 0
    assert not (locker / "catalogue.sqlite").exists()
    assert len(cli("ls", "--locker", locker, "--json").json()) == 1
    monkeypatch.delenv("DOCKET_DATABASE_URL")
    refused = cli("ls", "--locker", locker)
    assert refused.code == 1 and refused.out == ""
    assert refused.err.count("\n") == 1 and "set DOCKET_DATABASE_URL" in refused.err
    assert SECRET not in refused.err
    assert not (locker / "catalogue.sqlite").exists()


@needs_postgres
def test_a_url_to_another_database_is_refused(
    tmp_path: Path, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Locker.create(tmp_path / "a", actor="tester", database_url=server_url) as first:
        take(first, photo(tmp_path / "in"))
    with fresh_database("postgresql") as other_url:
        assert other_url is not None
        with Locker.create(tmp_path / "b", actor="tester", database_url=other_url) as other:
            other_id = other.locker_id
        monkeypatch.setenv("DOCKET_DATABASE_URL", other_url)
        with pytest.raises(CatalogueMismatchError, match=f"another locker \\({other_id}\\)"):
            Locker.open(tmp_path / "a")
    with fresh_database("postgresql") as empty_url:
        assert empty_url is not None
        monkeypatch.setenv("DOCKET_DATABASE_URL", empty_url)
        with pytest.raises(CatalogueMismatchError, match="holds no Docket catalogue"):
            Locker.open(tmp_path / "a")
    monkeypatch.setenv("DOCKET_DATABASE_URL", server_url)
    with Locker.open(tmp_path / "a") as again, again.engine.connect() as conn:
        assert conn.dialect.name == "postgresql"


def test_a_variable_of_another_kind_is_refused_before_connecting(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locker = tmp_path / "locker"
    assert cli("init", locker).code == 0
    monkeypatch.setenv("DOCKET_DATABASE_URL", "postgresql+psycopg://someone@/elsewhere?host=/nx")
    refused = cli("ls", "--locker", locker)
    assert refused.code == 1
    assert "DOCKET_DATABASE_URL names a postgresql database" in refused.err
    assert "catalogue is sqlite" in refused.err and refused.err.count("\n") == 1


def test_a_sqlite_catalogue_of_another_locker_is_refused(cli: Any, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert cli("init", tmp_path / name).code == 0
    (tmp_path / "a" / "catalogue.sqlite").write_bytes(
        (tmp_path / "b" / "catalogue.sqlite").read_bytes()
    )
    refused = cli("ls", "--locker", tmp_path / "a")
    assert refused.code == 1 and "the catalogue of another locker" in refused.err
