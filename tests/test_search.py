"""Full-text search (docket.search over docket.catalogue.fulltext): Arabic, Kurdish (Sorani and
Kurmanji) and accented Latin are found however they were typed; what is typed is literal, never
syntax; only the case's own text is matched; the index follows every write, and a locker from
before the index gets one filled from what it held. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, sign_in, take
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import inspect, select, text

from docket import incidents, review, search
from docket.catalogue import fulltext, schema
from docket.locker import Locker
from docket.scope import Scope

ARABIC_NOTE = "كَتَبَ الطّالِبُ الدَّرْسَ في المَدرسة رقم ٧٣٩١"
SORANI_NOTE = "هەڵبژاردنی ئازاد لە کوردستان و ڕۆژی نوێ"
KURMANJI_NOTE = "Şerê li Kobanî û aştî"


# هەڵبژاردن as a Persian keyboard types it: heh and a zero-width non-joiner for ae
_TYPED_WITH_ZWNJ = "\u0647\u0647\u200c\u06b5\u0628\u0698\u0627\u0631\u062f\u0646"


def _case(locker: Locker, name: str) -> tuple[Scope, list[str]]:
    with locker.engine.connect() as conn:
        case_id = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name))
        found = int(case_id.scalar_one())
        items = conn.execute(
            select(schema.case_items.c.item_sha256).where(schema.case_items.c.case_id == found)
        )
        return Scope(found, name), [str(i) for i in items.scalars()]


def _find(locker: Locker, case: str, query: str, admin: bool = False) -> list[str]:
    view, items = _case(locker, case)
    with locker.engine.connect() as conn:
        return search.find(conn, items, query, Scope(view.case_id, case, admin))


@pytest.fixture
def notes(locker: Locker, tmp_path: Path) -> dict[str, str]:
    """One picture per language, each with its note, in case "Hawler"."""
    found = {}
    for seed, (key, note) in enumerate(
        [("arabic", ARABIC_NOTE), ("sorani", SORANI_NOTE), ("kurmanji", KURMANJI_NOTE)], 1
    ):
        summary = take(locker, photo(tmp_path / key, "p.jpg", seed), case="Hawler", note=note)
        found[key] = str(summary.outcomes[0].sha256)
    return found


TYPED = [
    ("كتب", "arabic"),  # written without harakat
    ("كَتَبَ", "arabic"),  # and with them
    ("الطالب", "arabic"),  # shadda and kasra dropped
    ("طالب", "arabic"),  # without the article
    ("الدّرس", "arabic"),
    ("كــتــب", "arabic"),  # tatweel
    ("المدرسه", "arabic"),  # heh for teh marbuta
    ("مدرسة", "arabic"),
    ("في", "arabic"),
    ("هەڵبژاردن", "sorani"),  # the beginning of a word
    ("کوردستان", "sorani"),
    ("كوردستان", "sorani"),  # Arabic kaf typed for keheh
    ("ئازاد", "sorani"),
    ("ڕۆژی", "sorani"),
    ("نوێ", "sorani"),
    ("لە", "sorani"),
    ("له\u200c", "sorani"),  # heh and ZWNJ, as older keyboards type ae
    ("7391", "arabic"),  # Arabic-Indic digits are digits
    ("\u06f7\u06f3\u06f9\u06f1", "arabic"),  # and so are the extended ones
    ("7392", None),
    ("şerê", "kurmanji"),
    ("sere", "kurmanji"),  # without the cedilla and circumflex
    ("KOBANI", "kurmanji"),
    ("Aştî", "kurmanji"),
]


def test_arabic_and_kurdish_text_is_found_however_it_is_typed(
    locker: Locker, notes: dict[str, str]
) -> None:
    wrong = {
        query: found
        for query, key in TYPED
        if (found := _find(locker, "Hawler", query)) != ([] if key is None else [notes[key]])
    }
    assert wrong == {}


def test_words_are_made_alike_the_same_way_for_index_and_query() -> None:
    assert fulltext.words("أَحْمَد") == fulltext.words("احمد") == ["احمد"]
    assert fulltext.words("Café São-Paulo") == ["cafe", "sao", "paulo"]
    assert fulltext.words("ي ى ك ٣") == ["ی", "ی", "ک", "3"]
    assert fulltext.words("هەڵبژاردن") == ["هەڵبژاردن"]  # Sorani letters stay
    assert fulltext.body(["الكتاب"]).split() == ["الکتاب", "کتاب"]
    assert fulltext.words('%_\\"*:') == []


SYNTAX = [
    '"',
    "*",
    "%",
    "_",
    "\\",
    ":*",
    "&",
    "|",
    "!",
    "<->",
    "'",
    "qalpha OR qzzz",
    "qalpha AND qzzz",
    "qalpha NOT qzzz",
    "NEAR(qalpha qbeta)",
    "'qalpha' | 'qzzz'",
    "qalpha:* | qzzz:*",
    "{body}: qalpha",
    "body:qalpha",
    "qal%ha",
    "q_lpha",
    '"qalpha" OR "qzzz"',
]


def test_search_syntax_typed_by_a_person_is_text(locker: Locker, tmp_path: Path) -> None:
    """FTS5 and tsquery operators and LIKE wildcards are text: each query with words would find
    the note if its operator worked, each one alone is a syntax error of FTS5 or tsquery or a
    wildcard matching everything; none finds anything, and none is an error."""
    take(locker, photo(tmp_path / "in"), case="Hawler", note="qalpha qbeta")
    assert _find(locker, "Hawler", "qalpha qbeta") != []
    found = {query: hits for query in SYNTAX if (hits := _find(locker, "Hawler", query))}
    assert found == {}
    assert _find(locker, "Hawler", "qal%") == _find(locker, "Hawler", "qal")  # a beginning


def test_operators_typed_as_words_are_found_as_words(locker: Locker, tmp_path: Path) -> None:
    sha = take(locker, photo(tmp_path / "in"), case="Hawler", note='say "NEAR" AND OR * not')
    found = str(sha.outcomes[0].sha256)
    assert _find(locker, "Hawler", "near and or") == [found]
    assert _find(locker, "Hawler", '"near"*') == [found]  # the quotes and star are punctuation
    assert _find(locker, "Hawler", "qalpha OR near") == []  # every term must match


def test_a_term_with_punctuation_is_its_words_side_by_side(locker: Locker, tmp_path: Path) -> None:
    sha = take(locker, photo(tmp_path / "in"), case="Hawler", note="harbour-watch W-1, day 3")
    found = str(sha.outcomes[0].sha256)
    for query in ("harbour-watch", "harb", "harbour watch", "w-1", "W 1", "watch w-", "day 3"):
        assert _find(locker, "Hawler", query) == [found], query
    for query in ("watch-harbour", "harb%watch", "harb_ur", "w-2", "arbour", "1-w"):
        assert _find(locker, "Hawler", query) == [], query


def test_only_the_case_own_text_is_found(locker: Locker, tmp_path: Path) -> None:
    """The same bytes in two cases: each case finds them by its own words only; an admin
    looking through one case finds that case's words, never the other's."""
    picture = photo(tmp_path / "qyellow-folder", "qyellow-name.jpg")
    sha = str(
        take(locker, picture, case="South", source="qyellow-source", note="qyellow-note")
        .outcomes[0]
        .sha256
    )
    take(locker, photo(tmp_path / "qgreen", "qgreen.jpg"), case="North", note="qgreen-note")
    south, _ = _case(locker, "South")
    with locker.engine.begin() as conn:
        review.add_tag(conn, "tester", sha, "qyellow-tag", south)
        note = review.Annotation("note", "qyellow-annotation")
        review.annotate(conn, "tester", sha, note, south)
        incident = incidents.Incident(
            "qyellow-title", "qyellow-description", place="qyellow-place", actors=("qyellow-actor",)
        )
        incidents.link(
            conn, "tester", incidents.record(conn, "tester", south.case_id or 0, incident), sha
        )
    words = ["folder", "name", "source", "note", "tag", "annotation", "title", "description"]
    words += ["place", "actor"]
    for word in words:
        assert _find(locker, "South", f"qyellow-{word}") == [sha], word
        assert _find(locker, "North", f"qyellow-{word}") == [], word
        assert _find(locker, "North", f"qyellow-{word}", admin=True) == [], word
    assert _find(locker, "North", "qgreen-note") != [] and _find(locker, "South", "qgreen") == []


def test_metadata_of_the_bytes_is_found_in_every_case_that_holds_them(
    locker: Locker, tmp_path: Path
) -> None:
    image = Image.new("RGB", (64, 48), (40, 90, 160))
    exif = Image.Exif()
    exif[0x010E] = "Zaxo bridge at dusk"  # ImageDescription
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    picture = tmp_path / "in" / "d.jpg"
    picture.parent.mkdir()
    picture.write_bytes(out.getvalue())
    sha = str(take(locker, picture, case="South").outcomes[0].sha256)
    assert _find(locker, "South", "zaxo bridge") == [sha]
    assert _find(locker, "South", "ImageDescription") == []  # the names of tags are not text
    take(locker, picture, case="North")
    assert _find(locker, "North", "dusk") == [sha]


def test_a_revised_incident_is_found_by_its_new_words_only(locker: Locker, tmp_path: Path) -> None:
    sha = str(take(locker, photo(tmp_path / "in"), case="Hawler").outcomes[0].sha256)
    view, _ = _case(locker, "Hawler")
    assert view.case_id is not None
    with locker.engine.begin() as conn:
        held = incidents.Incident("qold raid", violations=("arbitrary detention",))
        number = incidents.record(conn, "tester", view.case_id, held)
        incidents.link(conn, "tester", number, sha)
    assert _find(locker, "Hawler", "qold") == [sha]
    assert _find(locker, "Hawler", "arbitrary detention") == [sha]  # its violation types too
    with locker.engine.begin() as conn:
        incidents.revise(conn, "tester", number, incidents.Incident("qnew raid"))
    assert _find(locker, "Hawler", "qold") == [] and _find(locker, "Hawler", "qnew") == [sha]
    assert _find(locker, "Hawler", "detention") == []


def test_a_locker_from_before_the_index_is_searched_after_it_is_opened(
    locker: Locker, tmp_path: Path
) -> None:
    from test_migrate import downgrade

    sha = str(
        take(locker, photo(tmp_path / "in"), case="Hawler", note=ARABIC_NOTE).outcomes[0].sha256
    )
    view, _ = _case(locker, "Hawler")
    assert view.case_id is not None
    with locker.engine.begin() as conn:
        review.add_tag(conn, "tester", sha, "qupgrade-tag", view)
        incident = incidents.Incident(
            "qupgrade raid", actors=("قوات",), violations=("forced displacement",)
        )
        incidents.link(
            conn, "tester", incidents.record(conn, "tester", view.case_id, incident), sha
        )
        downgrade(conn, "0005")
        assert "search_entries" not in inspect(conn).get_table_names()
    path = locker.path
    locker.close()
    with Locker.open(path) as reopened:
        for query in ("طالب", "qupgrade-tag", "qupgrade", "قوات", "photo", "displacement"):
            assert _find(reopened, "Hawler", query) == [sha], query


def test_web_and_api_search_use_the_index(world: dict[str, Any], locker: Locker) -> None:
    client, north = world["client"], world["cases"]["North"]
    with locker.engine.begin() as conn:
        view = Scope(north, "North")
        review.add_tag(conn, "owner-1", world["north"], "هەڵبژاردن", view)
    sign_in(client, "viewer-1")
    answer = client.get(f"/api/cases/{north}/items", params={"q": _TYPED_WITH_ZWNJ})
    assert [row["sha256"] for row in answer.json()] == [world["north"]]
    page = client.get(f"/cases/{north}", params={"q": "هەڵبژ"})
    assert page.status_code == 200 and world["north"][:12] in page.text
    long = client.get(f"/api/cases/{north}/items", params={"q": "ab-" * 2_500})
    assert long.status_code == 200 and long.json() == []
    assert client.get(f"/api/cases/{north}/items", params={"q": "%"}).json() == []


def test_a_search_is_answered_by_the_full_text_index(locker: Locker, tmp_path: Path) -> None:
    """The match is the index's own expression (a differing one would scan every entry), and
    it drives the query: a case's entries are looked up by the matches, never all read."""
    take(locker, photo(tmp_path / "in"), case="Hawler", note="qindexed")
    view, _ = _case(locker, "Hawler")
    with locker.engine.connect() as conn, conn.begin():
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # a few rows would be scanned
        query = search.entries_matching(dialect, ["qindexed"], view)
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN" if dialect == "postgresql" else "EXPLAIN QUERY PLAN"
        plan = " ".join(str(row) for row in conn.execute(text(f"{explain} {compiled}")))
        assert len(conn.execute(query).all()) == 1
    if dialect == "postgresql":
        assert "ix_search_entries_body" in plan, plan
    else:
        assert "search_fts VIRTUAL TABLE INDEX" in plan and "PRIMARY KEY" in plan, plan
        assert "ix_search_entries_case_id" not in plan, plan


def test_cli_ls_search_uses_the_index_through_the_named_case(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    picture = photo(tmp_path / "in")
    sha = str(take(locker, picture, case="South", note="مَدرسة qcli").outcomes[0].sha256)
    take(locker, picture, case="North", note="harbour")

    def listed(*args: str) -> list[str]:
        answer = cli("ls", "--locker", locker.path, "--json", *args)
        assert answer.code == 0, answer.err
        return [row["sha256"] for row in answer.json()]

    assert listed("--case", "South", "--search", "مدرسه") == [sha]
    assert listed("--case", "North", "--search", "مدرسه") == []  # South's note, not North's
    assert listed("--case", "North", "--search", "harb") == [sha]
    assert listed("--search", "qcli") == [sha]  # the holder, through any case
    assert listed("--search", "qcli harbour") == []  # every word through one case
    assert listed("--search", '"*%') == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(written=st.text(max_size=80), typed=st.text(max_size=80))
@example(written="\u13a0", typed="")  # Cherokee: folded to a capital, which PostgreSQL lowers
def test_any_text_indexed_is_found_by_its_words_and_any_query_is_answered(
    locker: Locker, written: str, typed: str
) -> None:
    """Hypothesis writes the text and types the query (any Unicode: marks, controls, NUL,
    scripts mixed): every word of what was written finds it, and no query is an error."""
    item = "e" * 64
    with locker.engine.connect() as conn:
        transaction = conn.begin()
        try:
            case_id = int(
                conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM cases")).scalar_one()
            )
            fulltext.put(conn, "annotation", 1, case_id, item, [written])
            view = Scope(case_id, "Fuzz")
            for word in fulltext.words(written):
                assert search.find(conn, [item], word, view) == [item], word
            assert search.find(conn, [item], written, view) == (
                [item] if search.terms(written) else []
            )
            assert search.find(conn, [item], typed, view) in ([], [item])
            assert search.find(conn, [item], typed, Scope(case_id + 1, "Other")) == []
        finally:
            transaction.rollback()


def test_a_text_too_long_for_a_tsvector_is_indexed_up_to_its_cap(locker: Locker) -> None:
    """1.6 MB of distinct words (PostgreSQL refuses a tsvector over 1 MB): the row is still
    written, its beginning found, what lies past the cap not."""
    written = [f"q{n:06}" for n in range(200_000)]
    item = "f" * 64
    with locker.engine.connect() as conn:
        transaction = conn.begin()
        try:
            fulltext.put(conn, "annotation", 1, 1, item, [" ".join(written)])
            view = Scope(1, "Long")
            assert search.find(conn, [item], written[0], view) == [item]
            assert search.find(conn, [item], written[-1], view) == []
        finally:
            transaction.rollback()
