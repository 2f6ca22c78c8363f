"""The custody log's append runs on the driver's connection (docket.catalogue.driver_sql) and
still behaves as a SQLAlchemy statement would: in the caller's transaction, begun if need be,
and its errors SQLAlchemy's."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from docket.catalogue import schema
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify


def test_an_append_on_a_connection_not_yet_in_a_transaction_waits_for_its_commit(
    locker: Locker,
) -> None:
    with locker.engine.connect() as conn:
        before = log.size(conn)
    with locker.engine.connect() as conn:
        log.append(conn, "tester", "test.dropped")
        assert conn.in_transaction()
    # closed without a commit: the driver did not commit the append on its own
    with locker.engine.connect() as conn:
        log.append(conn, "tester", "test.kept")
        conn.commit()
    with locker.engine.connect() as conn:
        assert [e.action for e in log.events(conn)][before:] == ["test.kept"]
    assert verify(locker).ok


def test_a_driver_error_in_an_append_is_sqlalchemys_and_rolls_back_with_its_transaction(
    locker: Locker,
) -> None:
    with locker.engine.connect() as conn:
        size = log.size(conn)
    with pytest.raises(IntegrityError, match="events"), locker.engine.begin() as conn:
        conn.execute(  # the next sequence number taken, without the head knowing
            insert(schema.events).values(
                seq=size, time="t", actor="a", action="b", details="{}", leaf_hash="00"
            )
        )
        log.append(conn, "tester", "test.clash")
    with locker.engine.connect() as conn:
        assert log.size(conn) == size
        assert log.get(conn, size) is None


def test_appends_through_connections_taking_turns_stay_dense(locker: Locker) -> None:
    """On PostgreSQL a connection first tries the number after its own last append: a number
    someone else took since must not be used."""
    with locker.engine.connect() as first, locker.engine.connect() as second:
        made = []
        for n in range(3):
            for conn in (first, first, second):
                made.append(log.append(conn, "tester", "test.turns", details={"n": n}))
                conn.commit()
    with locker.engine.connect() as conn:
        found = list(log.events(conn))
    assert [e.seq for e in found] == list(range(len(found)))
    assert found[-len(made) :] == made
    assert [e.time for e in found] == sorted(e.time for e in found)
    assert verify(locker).ok
