"""Saved searches: a person's named query of a case's item grid (its text, tags, flag, status,
type, dates, group and GPS filters), kept for the case it was saved in.

Each belongs to one person and one case: it is listed to the case's readers with its owner's
name, only its owner deletes it, and it is found only through its own case (asked through
another case it is "not found"). Saving a name the person already uses in the case replaces
that search. The query is kept in one form: only the grid's own filters, no page.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Connection, delete, insert, select, update

from docket import access, clock
from docket.accounts import User
from docket.catalogue import schema
from docket.errors import DocketError, NotFoundError

# The grid's filters (docket.web.case_routes.Filters) that a saved search keeps, in order.
FIELDS = ("q", "type", "flag", "status", "since", "until", "cluster", "gps")
MAX_NAME = 120
MAX_QUERY = 2000


@dataclass(frozen=True)
class SavedSearch:
    id: int
    name: str
    query: str
    owner: str
    created_at: str


def canonical(query: str) -> str:
    """The query string as kept: the grid's filters only, in a fixed order, empty ones left
    out (a page number is not part of a search)."""
    if len(query) > MAX_QUERY:
        raise DocketError(f"a saved search's query is at most {MAX_QUERY} characters")
    given = dict(parse_qsl(query.lstrip("?"), keep_blank_values=False))
    kept = [(key, given[key]) for key in FIELDS if given.get(key, "").strip()]
    if not kept:
        raise DocketError("nothing to save: the search has no filter; narrow the grid first")
    return urlencode(kept)


def save(conn: Connection, user: User, case_id: int, name: str, query: str) -> int:
    """Save (or replace, by name) the person's search in the case; returns its id."""
    access.require_case(conn, user, case_id, "view")
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise DocketError(f"a saved search needs a name (1 to {MAX_NAME} characters)")
    kept = canonical(query)
    table = schema.saved_searches.c
    mine = (table.case_id == case_id, table.user_id == user.id, table.name == name)
    existing = conn.execute(select(table.id).where(*mine)).scalar()
    if existing is not None:
        conn.execute(update(schema.saved_searches).where(table.id == existing).values(query=kept))
        return int(existing)
    key = conn.execute(
        insert(schema.saved_searches).values(
            case_id=case_id, user_id=user.id, name=name, query=kept, created_at=clock.now()
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def of_case(conn: Connection, user: User, case_id: int) -> list[SavedSearch]:
    """The case's saved searches, by name (each with its owner), for a reader of the case."""
    access.require_case(conn, user, case_id, "view")
    table = schema.saved_searches.c
    rows = conn.execute(
        select(table.id, table.name, table.query, schema.users.c.name, table.created_at)
        .join(schema.users, schema.users.c.id == table.user_id)
        .where(table.case_id == case_id)
        .order_by(table.name, schema.users.c.name)
    )
    return [SavedSearch(int(i), str(n), str(q), str(o), str(t)) for i, n, q, o, t in rows]


def remove(conn: Connection, user: User, case_id: int, search_id: int) -> None:
    """Delete a saved search of the case; only its owner may."""
    access.require_case(conn, user, case_id, "view")
    table = schema.saved_searches.c
    owner = conn.execute(
        select(table.user_id).where(table.id == search_id, table.case_id == case_id)
    ).scalar()
    if owner is None:
        raise NotFoundError(f"case {case_id} has no saved search {search_id}")
    if int(owner) != user.id:
        raise access.ForbiddenError("only the person who saved a search deletes it")
    conn.execute(delete(schema.saved_searches).where(table.id == search_id))
