"""Catalogue migrations (Alembic): they build exactly the tables the code declares, and a locker
made before a migration is brought up to date when opened, with the change logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from conftest import photo, take
from sqlalchemy import Connection, create_engine, func, inspect, select, text, update

from docket.catalogue import migrate, schema
from docket.locker import Locker
from docket.verify import verify

AFTER_BASELINE = ("incident_links", "incidents", "violation_types")


def downgrade(conn: Connection, revision: str) -> None:
    """Take a catalogue back to an older schema (to make lockers of older releases)."""
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


def test_migrations_build_the_declared_schema(locker: Locker) -> None:
    with locker.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": schema.declared})
        differences = compare_metadata(context, schema.metadata)
        assert differences == []
        assert migrate.current(conn) == migrate.head()


def test_a_locker_from_before_migrations_is_upgraded_when_opened(
    locker: Locker, tmp_path: Path
) -> None:
    sha = take(locker, photo(tmp_path / "in"), case="North").outcomes[0].sha256
    with locker.engine.connect() as conn, conn.begin():  # back to the first release's catalogue
        downgrade(conn, migrate.BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
    path = locker.path
    locker.close()
    with Locker.open(path) as reopened, reopened.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert set(AFTER_BASELINE) <= tables
        actions = list(conn.execute(select(schema.events.c.action, schema.events.c.details)))
        assert actions[-1][0] == "catalogue.migrated" and '"from":"0001"' in actions[-1][1]
        assert conn.execute(select(schema.items.c.sha256)).scalar_one() == sha
    with Locker.open(path) as again:
        assert verify(again, quick=True).ok
        with again.engine.connect() as conn:  # opening a current locker changes nothing
            migrated = conn.execute(
                select(schema.events.c.seq).where(schema.events.c.action == "catalogue.migrated")
            ).all()
        assert len(migrated) == 1


def test_an_upgrade_stopped_by_damaged_results_names_them_and_changes_nothing(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """Migrations 0013-0018 index fields of the metadata results' JSON: a result made invalid
    before the upgrade stopped it with the database's own words ("malformed JSON")."""
    sha = take(locker, photo(tmp_path / "in"), case="North").outcomes[0].sha256
    assert sha is not None
    with locker.engine.connect() as conn, conn.begin():  # a catalogue of an older release
        downgrade(conn, "0012")
        conn.execute(
            update(schema.results).where(schema.results.c.step == "metadata").values(data="{x")
        )
        events = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
    path = locker.path
    locker.close()
    result = cli("ls", "--locker", path)
    assert result.code != 0 and "Traceback" not in result.err
    assert result.err.strip() == (
        f"docket: {path}: the catalogue cannot be upgraded from schema 0012 to "
        f"{migrate.head()}: 1 analysis result is not JSON (the metadata result of item "
        f"{sha[:16]}), changed after docket wrote it; nothing was upgraded. Restore the "
        "locker from a copy made before the damage (docket restore COPY NEW-FOLDER; "
        "docs/how-to/copies.md)"
    )
    engine = create_engine(locker.engine.url)
    with engine.connect() as conn:  # the failed upgrade left nothing behind
        assert migrate.current(conn) == "0012"
        assert conn.execute(select(func.count()).select_from(schema.events)).scalar_one() == (
            events
        )
    engine.dispose()


def test_a_catalogue_from_a_newer_docket_is_refused_with_a_reason(locker: Locker) -> None:
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    locker.close()
    with pytest.raises(migrate.NewerCatalogueError, match="newer docket"):
        Locker.open(locker.path)
