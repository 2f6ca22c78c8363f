"""The full-text index of what people record (search_entries): words made alike in Python, so
that SQLite and PostgreSQL index and match exactly the same words.

Each entry is one row's text (an acquisition's path, name in its container, note and source
pseudonym; a tag; an annotation; an incident's title, description, place, actors and violations; the
values of an item's ExifTool metadata) with the case it belongs to (none for metadata, a fact
of the bytes). It is written in the transaction that writes the row, and replaced when an
incident is revised. SQLite matches with an FTS5 table over the entries (unicode61,
remove_diacritics 2), PostgreSQL with a GIN index on to_tsvector('simple', body); both made
by migration 0006. Neither stems: a word is found by itself or by its beginning.

Words are made alike before indexing and before matching (`words`), because neither
database knows Arabic script: compatibility decomposition, then every combining mark dropped
(Arabic harakat, shadda, sukun, superscript alef, the hamza and madda over alef, waw and yeh;
Latin accents, so Kurmanji "şer" is "ser"), tatweel and invisible format characters (ZWNJ,
bidi marks) dropped, the letters keyboards type differently unified (Arabic yeh and alef
maksura as Persian/Kurdish yeh, Arabic kaf as keheh, teh marbuta and heh doachashmee as heh,
heh before a ZWNJ as Sorani ae), Arabic-Indic digits as ASCII digits, then case folded.
Sorani's own letters (ae, oe, and yeh, lam and reh with a small v) have no decomposition and
stay as they are. A word that starts with the Arabic article (ال, وال) is also indexed
without it, so "كتاب" finds "الكتاب".

Which entries a person may match is not decided here but by docket.search, through
docket.scope.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, TextClause, delete, insert, text

from docket.catalogue import schema

MAX_WORD = 100  # characters of a word that are indexed and matched
MAX_BODY = 100_000  # characters of an entry that are indexed (what follows is not found)
_WORD = re.compile(r"[^\W_]+")
_LETTERS = str.maketrans(
    {
        "\u064a": "\u06cc",  # yeh -> Farsi/Kurdish yeh
        "\u0649": "\u06cc",  # alef maksura
        "\u0643": "\u06a9",  # kaf -> keheh
        "\u0629": "\u0647",  # teh marbuta -> heh
        "\u06be": "\u0647",  # heh doachashmee -> heh
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # extended Arabic-Indic digits
    }
)
_ARTICLES = ("\u0648\u0627\u0644", "\u0627\u0644")  # وال, ال


def normalise(value: str) -> str:
    """Text as it is indexed and matched (see the module docstring)."""
    value = value.replace("\u0647\u200c", "\u06d5")  # heh + ZWNJ is Sorani ae
    decomposed = unicodedata.normalize("NFKD", value)
    kept = "".join(
        c
        for c in decomposed
        if unicodedata.category(c) not in ("Mn", "Me", "Cf") and c != "\u0640"  # tatweel
    )
    # Then lower case: case folding leaves some letters capital (Cherokee folds to its
    # capitals), and PostgreSQL's to_tsvector lowers the indexed words while a query's words
    # go in as they are, so a capital there was never found.
    return unicodedata.normalize("NFC", kept).translate(_LETTERS).casefold().lower()


def words(value: str) -> list[str]:
    """The words of `value`, made alike; punctuation and symbols only separate them."""
    return [w[:MAX_WORD] for w in _WORD.findall(normalise(value))]


def body(texts: Iterable[str | None]) -> str:
    """An entry's indexed text: the words of `texts` in order, then the article-less forms;
    at most MAX_BODY characters (PostgreSQL refuses a tsvector over 1 MB)."""
    found = [w for t in texts if t for w in words(t)]
    seen = set(found)
    bare = [b for w in found if (b := _without_article(w)) and b not in seen]
    return " ".join(found + list(dict.fromkeys(bare)))[:MAX_BODY]


def _without_article(word: str) -> str:
    for article in _ARTICLES:
        if word.startswith(article) and len(word) - len(article) >= 2:
            return word[len(article) :]
    return ""


def metadata_texts(data: Any) -> list[str]:
    """The values (never the names) of an ExifTool record, strings and numbers."""
    if isinstance(data, dict):
        return [t for v in data.values() for t in metadata_texts(v)]
    if isinstance(data, list):
        return [t for v in data for t in metadata_texts(v)]
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return [str(data)]
    return []


def put(
    conn: Connection,
    kind: str,
    ref: int,
    case_id: int | None,
    item: str | None,
    texts: Iterable[str | None],
) -> None:
    """Index (or index again) one row's text: any entry of the same kind and row is replaced."""
    entries = schema.search_entries
    conn.execute(delete(entries).where(entries.c.kind == kind, entries.c.ref == ref))
    conn.execute(
        insert(entries).values(
            kind=kind, ref=ref, case_id=case_id, item_sha256=item, body=body(texts)
        )
    )


def put_metadata(conn: Connection, result_id: int, item: str, data_text: str) -> None:
    put(conn, "metadata", result_id, None, item, metadata_texts(json.loads(data_text)))


def matches(dialect: str, term: list[str]) -> TextClause:
    """The condition that an entry of search_entries matches `term` (the words of one term of
    a search): its words next to each other, the last one found by its beginning. Each word
    goes in quoted, so nothing in it is syntax; the whole expression is a bound parameter."""
    if dialect == "postgresql":
        quoted = ("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in term)
        return text(
            "to_tsvector('simple'::regconfig, search_entries.body) @@ CAST(:q AS tsquery)"
        ).bindparams(q=" <-> ".join(quoted) + ":*")
    phrase = '"' + " ".join(w.replace('"', '""') for w in term) + '" *'
    return text(
        "search_entries.id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH :q)"
    ).bindparams(q=phrase)
