"""Bringing a locker's catalogue to the schema this version of docket expects (Alembic).

A catalogue made before migrations existed has the baseline tables and no version row: it is
stamped at the baseline, then upgraded. The check runs in a read transaction, so opening an
up-to-date locker never waits for a writer; an upgrade runs in one write transaction (SQLite's
BEGIN IMMEDIATE, a PostgreSQL advisory lock), so two processes never upgrade at once, and it is
logged as a custody event, so the log says when the catalogue's shape changed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, insert, inspect, select, text

from docket.catalogue import schema
from docket.catalogue.database import reading
from docket.custody import log
from docket.errors import DocketError

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
BASELINE_TABLES = ("items", "acquisitions", "events", "checkpoints", "log_head")
_UPGRADE_LOCK = 0x646F636B  # any fixed number; "dock"


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    found = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert found is not None
    return found


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


class NewerCatalogueError(DocketError):
    """The catalogue was migrated by a newer docket than this one."""


def _known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory(str(MIGRATIONS)).get_revision(revision)
    except CommandError as exc:
        raise NewerCatalogueError(
            f"the catalogue has schema {revision}, made by a newer docket; upgrade docket"
        ) from exc


def check_current(engine: Engine) -> None:
    """For a read-only open: the catalogue must already have the newest schema (no writes)."""
    with reading(engine) as conn:
        found = current(conn)
    if found is None:
        raise DocketError("the catalogue is empty: it holds no custody log to verify")
    if found != head():
        _known(found)
        raise DocketError(
            f"the catalogue has schema {found}, older than this docket's {head()}; open the "
            "locker once where it can be written (any command but verify) to upgrade it"
        )


def upgrade(engine: Engine, actor: str) -> tuple[str | None, str] | None:
    """Upgrade to the newest schema; (from, to) when something changed, None when current."""
    with reading(engine) as conn:
        found = current(conn)
        if found == head():
            return None
        _known(found)
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        config = _config(conn)
        before = current(conn)
        if before is None and set(BASELINE_TABLES) <= set(inspect(conn).get_table_names()):
            command.stamp(config, BASELINE)
            before = BASELINE
        if before == head():  # another process upgraded it while we waited
            return None
        command.upgrade(config, "head")
        if conn.execute(select(schema.log_head.c.id)).first() is None:
            conn.execute(insert(schema.log_head).values(id=1, size=0))
        elif before is not None:
            log.append(conn, actor, "catalogue.migrated", details={"from": before, "to": head()})
        return before, head()
