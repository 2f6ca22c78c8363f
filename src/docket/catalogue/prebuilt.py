"""Statements built once per dialect, their values bound at run time, with a list of values
(a page's items) bound as one parameter: an array on PostgreSQL, a JSON array read by
json_each on SQLite.

Pages of the web app run the same few statements on every request, and the database answers
each in a tenth of a millisecond or two, while building one with SQLAlchemy and rendering an
IN (...) of a hundred values cost several times that. One parameter also has no length limit,
so a list needs no cutting into chunks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from sqlalchemy import Boolean, ColumnElement, Connection, Text, and_, any_, bindparam, func, or_
from sqlalchemy import select as _select
from sqlalchemy.dialects.postgresql import ARRAY

Built = TypeVar("Built")

LISTED = "listed"  # the parameter `listed` binds by default


def listed(dialect: str, column: ColumnElement[str], name: str = LISTED) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` (give them with `values`)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(Text)))
    each = func.json_each(bindparam(name)).table_valued("value")
    return column.in_(_select(each.c.value))


def values(dialect: str, given: Collection[str]) -> Any:
    """`given` as the one parameter `listed` reads."""
    return list(given) if dialect == "postgresql" else json.dumps(list(given))


def in_view(column: ColumnElement[Any]) -> ColumnElement[bool]:
    """`column` (a case id) is the bound `case`, or NULL when `uncased` is bound true: the
    rows a docket.scope.Scope shows (give them with `view`). Compared as an expression, which
    no index serves: without statistics SQLite's planner would otherwise read the whole case
    through its index instead of the listed items' own rows."""
    return or_(
        unindexed(column) == bindparam("case"),
        and_(bindparam("uncased", type_=Boolean), unindexed(column).is_(None)),
    )


def unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column` as an expression no index serves (see `in_view`)."""
    return column + 0


def view(case_id: int | None, cases: Collection[int | None]) -> dict[str, Any]:
    """The parameters of `in_view` for a scope's case and the case ids it shows."""
    return {"case": case_id, "uncased": None in cases}


_BUILT: dict[tuple[Callable[[str], Any], str], Any] = {}
_BUILDING = threading.Lock()


def statements(conn: Connection, build: Callable[[str], Built]) -> Built:
    """What `build` makes for the connection's dialect, made once per process."""
    key = (build, conn.dialect.name)
    with _BUILDING:
        if key not in _BUILT:
            _BUILT[key] = build(conn.dialect.name)
        return _BUILT[key]  # type: ignore[no-any-return]
