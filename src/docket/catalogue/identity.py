"""Which catalogue belongs to a locker, decided before anything is read or written in it.

docket.json names the catalogue by its URL with the password withheld (`***`): its kind
(SQLite, PostgreSQL) and identity (host, database, user) are on record, a secret never is. A
server catalogue whose password was withheld opens only with DOCKET_DATABASE_URL, and a
DOCKET_DATABASE_URL of another kind than the one on record is refused: a locker never falls
back to a new, empty SQLite file, nor opens its neighbour's database. Once connected, the
database must hold this locker's own custody log (its `locker.created` event names the
locker), so a URL to a different database is refused before any migration runs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import Connection, inspect, make_url, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from docket.catalogue import schema
from docket.errors import CatalogueMismatchError

ENV = "DOCKET_DATABASE_URL"
WITHHELD = "***"


def _parse(url: str, where: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise CatalogueMismatchError(f"{where}: not a database URL ({exc})") from None


def kind(url: str) -> str:
    return _parse(url, "catalogue").get_backend_name()


def recorded(url: str) -> str:
    """What docket.json keeps of a catalogue's URL: everything but its password."""
    parsed = _parse(url, "catalogue")
    if parsed.password is None:
        return url
    return parsed.set(password=WITHHELD).render_as_string(hide_password=False)


def shown(url: str) -> str:
    """A URL as messages name it: never with its password."""
    return _parse(url, "catalogue").render_as_string(hide_password=True)


def choose(on_record: str, where: str) -> str:
    """The URL to open: DOCKET_DATABASE_URL when set (it must be of the kind on record),
    else the one on record (which must not need the withheld password)."""
    given = os.environ.get(ENV)
    record = _parse(on_record, where)
    if given:
        if kind(given) != record.get_backend_name():
            raise CatalogueMismatchError(
                f"{where}: {ENV} names a {kind(given)} database, but this locker's catalogue "
                f"is {record.get_backend_name()} ({shown(on_record)}); unset {ENV}, or, for a "
                f"locker an older docket made with {ENV}, put that URL (password as {WITHHELD}) "
                'in docket.json\'s "database"'
            )
        return given
    if record.password == WITHHELD:
        raise CatalogueMismatchError(
            f"{where}: this locker's catalogue is {shown(on_record)} and its password is not "
            f"kept in docket.json; set {ENV} to its URL with the password"
        )
    return on_record


def owner(conn: Connection) -> str | None:
    """The locker_id of the locker whose custody log this database holds, if any."""
    if not inspect(conn).has_table("events"):
        return None
    details = conn.execute(
        select(schema.events.c.details)
        .where(schema.events.c.action == "locker.created")
        .order_by(schema.events.c.seq)
        .limit(1)
    ).scalar()
    if details is None:
        return None
    found: Any = json.loads(details).get("locker_id")
    return None if found is None else str(found)


def check_owner(conn: Connection, url: str, on_record: str, locker_id: str, where: str) -> None:
    """Refuse a server database that holds no catalogue, or another locker's. The database on
    record in docket.json holding none is the locker's own loss, reported by the locker
    (CatalogueLostError: restore from a copy), as is a missing SQLite file."""
    held = owner(conn)
    if held == locker_id:
        return
    if held is None and (kind(url) == "sqlite" or recorded(url) == on_record):
        return
    what = "no Docket catalogue" if held is None else f"the catalogue of another locker ({held})"
    raise CatalogueMismatchError(
        f"{where}: {shown(url)} holds {what}, not this locker's ({locker_id}); "
        f"check {ENV}; nothing was read or written"
    )
