"""Opening the catalogue database with the durability settings evidence needs."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select

from docket.catalogue import schema


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, synchronous=FULL and BEGIN IMMEDIATE writes."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 120})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's begin() emit BEGIN itself (see the pysqlite transaction recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=120000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: two ingests then queue instead of failing mid-way.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_schema(engine: Engine) -> None:
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        if conn.execute(select(schema.log_head.c.id)).first() is None:
            conn.execute(insert(schema.log_head).values(id=1, size=0))
