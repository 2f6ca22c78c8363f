"""Search over what a person may read: the full-text index (docket.catalogue.fulltext) is
matched only through the case a view looks through (docket.scope), so no text of another case
is ever found, nor that another case exists or holds the same bytes.

A search is terms separated by spaces. An item is found when every term matches something of
it the case shows: a name or path of the case's acquisitions, their notes and source
pseudonyms, the case's tags and annotations of it, an incident of the case it is linked to,
or its metadata (a fact of the bytes, shared). A term's words match in order, side by side,
the last by its beginning ("harb" finds "harbour"); words are made alike first, so Arabic is
found with or without harakat and tatweel, and Latin with or without accents.

Everything typed is literal: quotes, `*`, `%`, `_`, `\\`, `:`, `&`, `|`, `!`, NEAR, AND and
OR are text. Punctuation only separates words and matches nothing by itself ("harb%note" is
the words "harb" then "note", side by side, never a wildcard); a search of punctuation alone
finds nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, Select, func, or_, select

from docket.catalogue import fulltext, schema
from docket.scope import Scope

MAX_TERMS = 16
MAX_WORDS = 16  # words of one term that must stand side by side


def terms(text: str) -> list[list[str]]:
    """The terms of a search, each the list of its words; terms without a word are dropped."""
    found = (fulltext.words(term)[:MAX_WORDS] for term in text.split()[:MAX_TERMS])
    return [term for term in found if term]


def find(conn: Connection, items: list[str], text: str, scope: Scope) -> list[str]:
    """The items of `items` (the case's, in their order) that every term of `text` finds in
    what `scope` shows."""
    found = matching(conn, text, scope)
    return [item for item in items if item in found]


def matching(conn: Connection, text: str, scope: Scope) -> set[str]:
    """Every item that every term of `text` finds in what `scope` shows (read from the
    matches, never from a case's item list; items of other cases may be among them, found
    by their metadata: the caller keeps its case's)."""
    found: set[str] | None = None
    for term in terms(text):
        matched = _matching(conn, term, scope)
        found = matched if found is None else found & matched
        if not found:
            return set()
    return found or set()


def entries_matching(dialect: str, term: list[str], scope: Scope) -> Select[str, int, str | None]:
    """(kind, ref, item) of the index entries `term` matches that `scope` shows: its cases'
    own, and the metadata of any item (a fact of the bytes; `find` keeps the case's items)."""
    entries = schema.search_entries
    # The case is compared as an expression, not by its index: the match drives the query
    # (a case's every entry is never read to find the few that match).
    shown = [0 if case is None else case for case in scope.cases]  # 0: no case (ids from 1)
    return select(entries.c.kind, entries.c.ref, entries.c.item_sha256).where(
        fulltext.matches(dialect, term),
        or_(func.coalesce(entries.c.case_id, 0).in_(shown), entries.c.kind == "metadata"),
    )


def _matching(conn: Connection, term: list[str], scope: Scope) -> set[str]:
    rows = conn.execute(entries_matching(conn.dialect.name, term, scope)).all()
    found = {str(item) for _, _, item in rows if item is not None}
    incidents = [int(ref) for kind, ref, _ in rows if kind == "incident"]
    if incidents:
        links = schema.incident_links
        linked = select(links.c.item_sha256).where(links.c.incident_id.in_(incidents))
        found.update(str(item) for item in conn.execute(linked).scalars())
    return found


def find_in_locker(conn: Connection, items: list[str], text: str, case: str | None) -> list[str]:
    """For the locker's holder (the command line), who sees every case: the items of `items`
    that `text` finds through the named case, else through any one case or in records of no
    case."""
    cases = conn.execute(select(schema.cases.c.id, schema.cases.c.name)).all()
    views = [Scope(int(i), str(n), True) for i, n in cases if case is None or n == case]
    if case is None:
        views.append(Scope(None, None, True))
    found = {item for view in views for item in find(conn, items, text, view)}
    return [item for item in items if item in found]
