"""Bringing a locker's catalogue to the schema this version of docket expects (Alembic).

A catalogue made before migrations existed has the baseline tables and no version row: it is
stamped at the baseline, then upgraded. The check runs in a read transaction, so opening an
up-to-date locker never waits for a writer; an upgrade runs in one write transaction (SQLite's
BEGIN IMMEDIATE, a PostgreSQL advisory lock), so two processes never upgrade at once, and it is
logged as a custody event, so the log says when the catalogue's shape changed.

Alembic takes a fifth of a second to import, so opening a catalogue already at the newest
schema does not use it: the version row is read with one query and compared with the
migration that no other follows, read from the migration files' `revision` lines
(`_newest_file`). Anything else (no version row, an older or unknown schema, files that
cannot be read that way) goes through Alembic as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

from docket.catalogue import schema
from docket.catalogue.database import reading
from docket.custody import log
from docket.errors import DocketError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
BASELINE_TABLES = ("items", "acquisitions", "events", "checkpoints", "log_head")
_UPGRADE_LOCK = 0x646F636B  # any fixed number; "dock"
_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=\n]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def _newest_file() -> str | None:
    """The revision no other migration file names as its down_revision, when there is exactly
    one; None when that cannot be told from the files (then Alembic decides)."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for file in (MIGRATIONS / "versions").glob("*.py"):
        for kind, value in _REVISION_LINE.findall(file.read_text()):
            names = _QUOTED.findall(value)
            if kind == "revision":
                if len(names) != 1:
                    return None
                revisions.add(names[0])
            else:
                followed.update(names)
    newest = revisions - followed
    return newest.pop() if len(newest) == 1 else None


def _is_newest(conn: Connection) -> bool:
    """Whether the catalogue is at the newest schema, told without Alembic (False: ask it)."""
    if not inspect(conn).has_table("alembic_version"):
        return False
    held = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return len(held) == 1 and held[0] == _newest_file()


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    from alembic.script import ScriptDirectory

    found = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert found is not None
    return found


def current(conn: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


class NewerCatalogueError(DocketError):
    """The catalogue was migrated by a newer docket than this one."""


class DamagedResultsError(DocketError):
    """Analysis results that are not JSON stop an upgrade whose indexes read them."""


# Migrations up to this one read analysis results' JSON in the database (0013, 0016-0018
# index or copy fields of it); a result made invalid after it was written fails them.
_READS_RESULTS = "0018"
_NAMED = 3
# PostgreSQL 15 has no JSON test (IS JSON is 16's): a cast that fails is caught, per row.
_PG_IS_JSON = """
CREATE FUNCTION pg_temp.docket_is_json(value text) RETURNS boolean AS $$
BEGIN
    PERFORM value::jsonb;
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END $$ LANGUAGE plpgsql
"""


def _damaged_results(engine: Engine) -> list[tuple[str, str]]:
    """(item, step) of every analysis result whose value is not JSON, in row order."""
    with engine.connect() as conn, conn.begin():
        if not inspect(conn).has_table("results"):
            return []
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(_PG_IS_JSON)
            test = "NOT pg_temp.docket_is_json(data)"
        else:
            test = "NOT json_valid(data)"
        rows = conn.exec_driver_sql(
            f"SELECT item_sha256, step FROM results WHERE {test} ORDER BY id"
        )
        return [(item, step) for item, step in rows]


def _refuse_damaged(engine: Engine, before: str | None) -> None:
    """After an upgrade failed: when damaged results are why, say so (the upgrade changed
    nothing: it ran in one transaction); otherwise the caller raises the database's error."""
    damaged = _damaged_results(engine)
    if not damaged:
        return
    named = ", ".join(f"the {step} result of item {item[:16]}" for item, step in damaged[:_NAMED])
    more = f" and {len(damaged) - _NAMED} more" if len(damaged) > _NAMED else ""
    many = len(damaged) > 1
    count = f"{len(damaged)} analysis result{'s are' if many else ' is'}"
    raise DamagedResultsError(
        f"the catalogue cannot be upgraded from schema {before} to {head()}: {count} not "
        f"JSON ({named}{more}), changed after docket wrote {'them' if many else 'it'}; "
        "nothing was upgraded. Restore the locker from a copy made before the damage "
        "(docket restore COPY NEW-FOLDER; docs/how-to/copies.md)"
    )


def _known(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory(str(MIGRATIONS)).get_revision(revision)
    except CommandError as exc:
        raise NewerCatalogueError(
            f"the catalogue has schema {revision}, made by a newer docket; upgrade docket"
        ) from exc


def check_current(engine: Engine) -> None:
    """For a read-only open: the catalogue must already have the newest schema (no writes)."""
    with reading(engine) as conn:
        if _is_newest(conn):
            return
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
        if _is_newest(conn):
            return None
        found = current(conn)
        if found == head():
            return None
        _known(found)
    try:
        return _upgrade_in_one_transaction(engine, actor)
    except DBAPIError:
        if found is None or found <= _READS_RESULTS:
            _refuse_damaged(engine, found)  # the transaction was rolled back: nothing changed
        raise


def _upgrade_in_one_transaction(engine: Engine, actor: str) -> tuple[str | None, str] | None:
    from alembic import command

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
