"""Case walls (docket.scope): bytes shared by case A ("North") and case B, with a marker
("zq7-mark-") planted in everything B's people recorded about them: the source's pseudonym,
the note, the path, a tag, an annotation, an incident (title and actor), a flag, a reveal and
an analysis step B's person ran (and B's name and its people's names). Nothing of it may reach
anyone of A, or anyone in no case, through any page, API route, search or export."""

from __future__ import annotations

import io
import itertools
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pypdf
import pytest
from conftest import LAYERS, PASSWORD, ROLES, Layer, layer_facts, sign_in, take
from exporting import package_of
from media import jpeg, sample
from sqlalchemy import select, update

from docket import access, accounts, incidents, review, saved_searches, scope
from docket.catalogue import records, schema
from docket.custody import log
from docket.disclose.check import check
from docket.disclose.package import export, items_of_case
from docket.errors import NotFoundError
from docket.jobs import export as export_job
from docket.locker import Locker
from docket.protect import flags
from docket.verify import verify

MARKER = re.compile(rb"zq7-mark-", re.IGNORECASE)
B = "Zq7-mark-case"


def build_walls(locker: Locker, folder: Path, _world: dict[str, Any]) -> dict[str, Any]:
    """Case B holding North's bytes under B's marked records (B's arrival first, so that "first
    of any case" answers would show B's), and bytes only B holds: added to a world."""
    shared_bytes = jpeg(sample("astronaut"))
    marked = folder / "zq7-mark-folder" / "zq7-mark-name.jpg"
    marked.parent.mkdir()
    marked.write_bytes(shared_bytes)
    b_opts = {
        "case": B,
        "source": "zq7-mark-source",
        "note": "zq7-mark-note",
        "collector": "zq7-mark-collector",
    }
    shared = _take_as(locker, marked, **b_opts).outcomes[0]
    own = folder / "harbour" / "harbour.jpg"
    own.parent.mkdir()
    own.write_bytes(shared_bytes)
    arrival = take(locker, own, case="North", source="W-1", note="harbour note")
    only_b = folder / "zq7-mark-only" / "zq7-mark-only.jpg"
    only_b.parent.mkdir()
    only_b.write_bytes(jpeg(sample("rocket")))
    b_item = _take_as(locker, only_b, **b_opts).outcomes[0].sha256
    sha = str(shared.sha256)
    with locker.engine.connect() as conn, conn.begin():
        b_id = int(conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == B)).one()[0])
        member = accounts.create_user(conn, "setup", "zq7-mark-member", PASSWORD, "member")
        admin = accounts.User(0, "ada", "admin")
        access.add_member(conn, admin, b_id, member, "owner")
        view = scope.Scope(b_id, B)
        review.add_tag(conn, "zq7-mark-member", sha, "zq7-mark-tag", view)
        note = review.annotate(
            conn, "zq7-mark-member", sha, review.Annotation("note", "zq7-mark-annot"), view
        )
        flags.flag(conn, "zq7-mark-member", sha, "clear", view)
        flags.reveal(conn, "zq7-mark-member", sha, "original (zq7-mark-)", view)
        incident = incidents.record(
            conn,
            "zq7-mark-member",
            b_id,
            incidents.Incident("zq7-mark-incident", actors=("zq7-mark-actor",)),
        )
        incidents.link(conn, "zq7-mark-member", incident, sha)
        incidents.link(conn, "zq7-mark-member", incident, sha, note)
        b_search = saved_searches.save(
            conn, member, b_id, "zq7-mark-walls-search", "q=zq7-mark-words"
        )
        # an export B's person asked for (queued on PostgreSQL; SQLite exports in the request)
        queued = export_job.defer_export(
            conn, b_id, "zq7-mark-member", None, "court", "zq7-mark-recipient", "en"
        )
        # a step B's person ran on the shared bytes (its event hidden from A: B's name)
        records.record_result(
            conn, "zq7-mark-member", sha, "zq7-mark-step", "1", None, error="zq7-mark-error"
        )
    return {
        "shared": sha,
        "b_item": b_item,
        "b_id": b_id,
        "b_incident": incident,
        "b_search": b_search,
        "b_export": "0" * 64 if queued is None else queued[1],
        "a_arrival": arrival.outcomes[0],
    }


LAYERS["walls"] = Layer(build_walls)


@pytest.fixture
def walls(request: pytest.FixtureRequest, world: dict[str, Any]) -> dict[str, Any]:
    """`world` with `build_walls`' case B; in a copy of walls built once (see conftest's
    `locker`) unless the test builds its own (`world_layer`)."""
    return layer_facts(request, "walls", world)


def _take_as(locker: Locker, path: Path, collector: str, **options: Any) -> Any:
    from docket.ingest.run import IngestOptions, ingest

    return ingest(locker, [os.fsencode(path)], IngestOptions(collector=collector, **options))


def _candidates(walls: dict[str, Any], locker: Locker) -> dict[str, list[Any]]:
    with locker.engine.connect() as conn, conn.begin():
        a_incident = incidents.record(
            conn, "owner-1", walls["cases"]["North"], incidents.Incident("harbour raid")
        )
        seqs = list(conn.execute(select(schema.events.c.seq)).scalars())
        links = list(conn.execute(select(schema.incident_links.c.id)).scalars())
        people = list(conn.execute(select(schema.users.c.id)).scalars())
    return {
        "case_id": [walls["cases"]["North"], walls["b_id"], walls["cases"]["South"]],
        "sha256": [walls["shared"], walls["b_item"], walls["north"]],
        "incident_id": [a_incident, walls["b_incident"]],
        "seq": seqs,
        "number": [0],
        "link_id": links,
        "user_id": people,
        "search_id": [walls["b_search"]],
        "request": [walls["b_export"]],
    }


def _get_routes(app: Any) -> set[str]:
    """Every GET path of the app: its OpenAPI description (pages included), and the routes
    declared on the app itself."""
    described = {p for p, ops in app.openapi()["paths"].items() if "get" in ops}
    declared = {
        str(getattr(r, "path", ""))
        for r in app.routes
        if "GET" in (getattr(r, "methods", None) or ())
    }
    return described | declared


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_no_get_route_shows_anything_of_case_b(
    walls: dict[str, Any], locker: Locker, role: str
) -> None:
    client = walls["client"]
    values = _candidates(walls, locker)
    sign_in(client, f"{role}-1")
    tried = 0
    for template in _get_routes(client.app):
        names = re.findall(r"{(\w+)}", template)
        unknown = set(names) - set(values)
        assert not unknown, f"{template}: give the test values for {unknown}"
        for combo in itertools.product(*(values[n] for n in names)):
            path = template
            for name, value in zip(names, combo, strict=True):
                path = path.replace(f"{{{name}}}", str(value))
            cases = ["", f"?case={walls['cases']['North']}", f"?case={walls['b_id']}"]
            for query in cases if "sha256" in names else [""]:
                answer = client.get(path + query, follow_redirects=False)
                tried += 1
                assert answer.status_code < 500, f"{path}{query}: {answer.status_code}"
                found = MARKER.search(answer.content)
                assert not found, (
                    f"{path}{query}: {answer.content[found.start() - 300 : found.end() + 60]!r}"
                )
    assert tried > 100


SEARCHES = [
    "zq7-mark-",
    "zq7",
    "mark",
    "zq7-mark-source",
    "zq7-mark-note",
    "zq7-mark-name",
    "zq7-mark-folder",
    "zq7-mark-only",
    "zq7-mark-tag",
    "zq7-mark-annot",
    "zq7-mark-incident",
    "zq7-mark-actor",
    "zq7-mark-case",
]


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_no_search_finds_anything_of_case_b(walls: dict[str, Any], role: str) -> None:
    client, north = walls["client"], walls["cases"]["North"]
    sign_in(client, f"{role}-1")
    for needle in SEARCHES:
        answer = client.get(f"/api/cases/{north}/items", params={"q": needle})
        assert answer.status_code == (200 if role != "outsider" else 404)
        if role != "outsider":
            assert answer.json() == [], needle
        page = client.get(f"/cases/{north}", params={"q": needle}).content
        assert not MARKER.search(page.replace(needle.encode(), b""))


def test_case_b_finds_its_own_marked_text(walls: dict[str, Any]) -> None:
    """The searches above can fail: in case B, each of them finds B's items."""
    client = walls["client"]
    sign_in(client, "zq7-mark-member")
    for needle in SEARCHES:
        if needle == "zq7-mark-case":  # the case's name is not text of its items
            continue
        answer = client.get(f"/api/cases/{walls['b_id']}/items", params={"q": needle})
        assert {row["sha256"] for row in answer.json()} & {walls["shared"], walls["b_item"]}, needle


def test_search_takes_wildcards_literally(walls: dict[str, Any]) -> None:
    client, north = walls["client"], walls["cases"]["North"]
    sign_in(client, "viewer-1")

    def found(needle: str) -> list[str]:
        answer = client.get(f"/api/cases/{north}/items", params={"q": needle})
        return [row["sha256"] for row in answer.json()]

    assert found("harbour note") == [walls["shared"]]  # A's own note is found
    assert found("harb_ur note") == [] and found("harb%note") == []
    assert found("zq7-mark-n_te") == [] and found("%") == [] and found("_") == []


def _package_files(package: Path) -> dict[str, bytes]:
    """Every file of a package as searchable bytes: a PDF with its text and every stream
    decompressed after it (a marker in a compressed page would otherwise go unseen)."""
    with zipfile.ZipFile(package) as bundle:
        files = {name: bundle.read(name) for name in bundle.namelist()}
    return {
        name: content + _pdf_text(content) if name.endswith(".pdf") else content
        for name, content in files.items()
    }


def _pdf_text(content: bytes) -> bytes:
    reader = pypdf.PdfReader(io.BytesIO(content))
    parts = [(page.extract_text() or "").encode() for page in reader.pages]
    parts.append(str(reader.metadata or {}).encode())
    numbers = {n for by_number in reader.xref.values() for n in by_number}
    for number in sorted(numbers | set(reader.xref_objStm)):
        found = reader.get_object(number)
        if isinstance(found, pypdf.generic.StreamObject):
            parts.append(found.get_data())
    return b"\n".join(parts)


@pytest.mark.parametrize("profile", ["court", "publication"])
def test_export_of_case_a_carries_no_acquisition_of_case_b(
    walls: dict[str, Any], locker: Locker, tmp_path: Path, profile: str
) -> None:
    client, north = walls["client"], walls["cases"]["North"]
    if profile == "publication":  # A publishes only copies A approved
        from docket.protect import approval

        for item in (walls["north"], walls["shared"]):
            copy = _strip_as(locker, item, "owner-1", "North")
            with locker.engine.begin() as conn:
                a_view = scope.Scope(north, "North")
                approval.approve(conn, "owner-1", item, copy, a_view, acknowledged_faces=1)
    csrf = sign_in(client, "owner-1")
    answer = client.post(f"/cases/{north}/export", data={"profile": profile, "csrf": csrf})
    package = tmp_path / "a.zip"
    package.write_bytes(package_of(client, locker, answer))
    files = _package_files(package)
    for name, content in files.items():
        assert not MARKER.search(name.encode()), name
        found = MARKER.search(content)
        assert not found, f"{name}: {content[found.start() - 300 : found.end() + 80]!r}"
    assert check(package).ok  # the proofs of the events it holds still verify
    if profile == "court":
        [metadata] = [c for n, c in files.items() if n.endswith(f"{walls['shared']}/metadata.json")]
        assert b"harbour note" in metadata and b"W-1" in metadata


def test_export_of_case_b_keeps_its_own_records(walls: dict[str, Any], locker: Locker) -> None:
    with locker.engine.connect() as conn:
        items = items_of_case(conn, B)
    package = locker.path.parent / "b.zip"
    export(locker, items, "court", package, "zq7-mark-member", case=B)
    files = _package_files(package)
    content = b"".join(files.values())
    assert b"zq7-mark-note" in content and b"harbour note" not in content
    assert check(package).ok
    # The PDF report is scanned, its text decompressed: B's marker is found in B's own report.
    [report] = [c for n, c in files.items() if n.endswith("report.pdf")]
    assert not MARKER.search(report[: report.index(b"%%EOF")])  # its streams are compressed
    assert b"zq7-mark-note" in report


def test_adding_bytes_another_case_holds_looks_like_adding_new_bytes(
    walls: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    assert walls["a_arrival"].status == "new"  # B held them first; A is not told
    again = tmp_path / "again" / "harbour.jpg"
    again.parent.mkdir()
    again.write_bytes(locker.store.path(walls["shared"]).read_bytes())
    assert take(locker, again, case="North").outcomes[0].status == "held"  # A held them now
    with locker.engine.connect() as conn:
        arrivals = [e for e in log.events(conn, walls["shared"]) if e.action == "item.acquired"]
    # A's own arrival says "new" too; the log keeps one item, first brought by B's arrival.
    assert [e.details["new"] for e in arrivals] == [True, True, False]
    with locker.engine.connect() as conn:
        first = conn.execute(
            select(schema.items.c.event_seq).where(schema.items.c.sha256 == walls["shared"])
        ).scalar_one()
    assert first == arrivals[0].seq


def test_grid_shows_the_case_own_name_count_and_first_arrival(
    walls: dict[str, Any], locker: Locker
) -> None:
    client, north = walls["client"], walls["cases"]["North"]
    sign_in(client, "viewer-1")
    [row] = [
        r for r in client.get(f"/api/cases/{north}/items").json() if r["sha256"] == walls["shared"]
    ]
    with locker.engine.connect() as conn:
        [a_arrival] = [
            e for e in log.events(conn, walls["shared"]) if e.seq == walls["a_arrival"].event
        ]
    assert row["name"].endswith("/harbour/harbour.jpg") and row["acquisitions"] == 1
    assert row["first_seen"] == a_arrival.time


def test_a_flag_of_case_b_leaves_the_item_blurred_in_case_a(
    walls: dict[str, Any], locker: Locker
) -> None:
    client, shared = walls["client"], walls["shared"]
    sign_in(client, "viewer-1")
    with locker.engine.connect() as conn:
        blobs = dict(
            conn.execute(
                select(schema.derivatives.c.kind, schema.derivatives.c.sha256).where(
                    schema.derivatives.c.item_sha256 == shared
                )
            ).all()
        )
    preview = client.get(f"/items/{shared}/safe-preview").content
    assert preview == locker.store.path(blobs["safe_preview"]).read_bytes()
    assert client.get(f"/api/items/{shared}").json()["flag"] == "unreviewed"
    csrf = sign_in(client, "reviewer-1")  # A clears it for A
    client.post(f"/items/{shared}/flag", data={"flag": "clear", "csrf": csrf})
    assert client.get(f"/items/{shared}/safe-preview").content == (
        locker.store.path(blobs["thumbnail"]).read_bytes()
    )
    with locker.engine.connect() as conn:
        north = scope.Scope(walls["cases"]["North"], "North")
        assert flags.current_flag(conn, shared, north) == "clear"
    assert verify(locker, quick=True).ok


def test_proof_of_another_case_event_names_no_item(walls: dict[str, Any], locker: Locker) -> None:
    client = walls["client"]
    sign_in(client, "owner-1")
    with locker.engine.connect() as conn:
        b_events = [
            e.seq
            for e in log.events(conn, walls["shared"])
            if e.action in ("item.tagged", "item.flagged", "item.revealed", "item.annotated")
        ]
    assert len(b_events) == 4
    for seq in b_events:
        answer = client.get(f"/api/events/{seq}/proof")
        assert answer.status_code == 404
        assert walls["shared"][:12] not in answer.text


def test_an_item_in_two_of_your_cases_asks_which(walls: dict[str, Any], locker: Locker) -> None:
    client, shared = walls["client"], walls["shared"]
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.User(0, "ada", "admin")
        access.add_member(conn, admin, walls["b_id"], walls["users"]["viewer"], "viewer")
    sign_in(client, "viewer-1")
    answer = client.get(f"/api/items/{shared}")
    assert answer.status_code == 400 and "?case=" in answer.json()["detail"]
    in_b = client.get(f"/api/items/{shared}", params={"case": walls["b_id"]}).json()
    assert in_b["tags"] == ["zq7-mark-tag"] and in_b["flag"] == "clear"
    in_a = client.get(f"/api/items/{shared}", params={"case": walls["cases"]["North"]}).json()
    assert in_a["tags"] == [] and in_a["flag"] == "unreviewed"


def test_cli_flag_needs_a_case_when_several_cases_hold_the_item(
    walls: dict[str, Any], locker: Locker, cli: Any
) -> None:
    shared = walls["shared"]
    answer = cli("flag", "--locker", locker.path, shared[:12], "graphic")
    assert answer.code == 1 and "give --case" in answer.err
    assert cli("flag", "--locker", locker.path, shared[:12], "graphic", "--case", "North").code == 0
    with locker.engine.connect() as conn:
        assert flags.current_flag(conn, shared, scope.Scope(walls["b_id"], B)) == "clear"


def test_verify_compares_the_case_of_each_review_row(walls: dict[str, Any], locker: Locker) -> None:
    assert verify(locker, quick=True).ok
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(update(schema.tags).values(case_id=walls["cases"]["North"]))
        conn.execute(update(schema.flags).values(case_id=walls["cases"]["North"]))
        conn.execute(update(schema.acquisitions).values(case_id=walls["cases"]["North"]))
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert any(p.startswith("tags row of item") and "differs" in p for p in found)
    assert any(p.startswith("flag of item") for p in found)
    assert any(p.startswith("acquisition") for p in found)


def test_rows_from_before_cases_of_a_shared_item_are_shown_to_admins_only(
    walls: dict[str, Any], locker: Locker
) -> None:
    """Migration 0003: legacy rows of an item one case holds go to it; of a shared item, to no
    case (members never see them, admins do)."""
    from test_migrate import downgrade

    north_only = walls["north"]
    with locker.engine.connect() as conn, conn.begin():
        view = scope.Scope(walls["cases"]["North"], "North")
        review.add_tag(conn, "owner-1", north_only, "harbour-tag", view)
        conn.execute(schema.incident_links.delete())  # (a batch copy cannot drop linked rows)
        downgrade(conn, "0002")
    path = locker.path
    locker.close()
    with Locker.open(path) as reopened, reopened.engine.connect() as conn:
        north = scope.Scope(walls["cases"]["North"], "North")
        assert review.tags_of(conn, north_only, north) == ["harbour-tag"]
        assert review.tags_of(conn, walls["shared"], north) == []
        admin_view = scope.Scope(walls["cases"]["North"], "North", admin=True)
        assert review.tags_of(conn, walls["shared"], admin_view) == ["zq7-mark-tag"]
        acquisitions = conn.execute(
            select(schema.acquisitions.c.note, schema.acquisitions.c.case_id)
        ).all()
        assert ("zq7-mark-note", walls["b_id"]) in acquisitions
        assert ("harbour note", walls["cases"]["North"]) in acquisitions


def test_cli_show_and_ls_of_a_case_hold_nothing_of_another(
    walls: dict[str, Any], locker: Locker, cli: Any
) -> None:
    shared = walls["shared"]
    shown = cli("show", "--locker", locker.path, shared[:12], "--case", "North", "--json")
    listed = cli("ls", "--locker", locker.path, "--case", "North", "--json")
    assert shown.code == 0 and listed.code == 0
    assert not MARKER.search(shown.out.encode()) and not MARKER.search(listed.out.encode())
    assert shown.json()["flag"] == "unreviewed"  # B's clear stays B's
    in_b = cli("show", "--locker", locker.path, shared[:12], "--case", B, "--json").json()
    assert in_b["flag"] == "clear" and in_b["acquisitions"][0]["note"] == "zq7-mark-note"


def test_uploading_bytes_only_case_b_holds_answers_new(
    walls: dict[str, Any], locker: Locker
) -> None:
    client, north = walls["client"], walls["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    b_bytes = locker.store.path(walls["b_item"]).read_bytes()
    answer = client.post(
        f"/cases/{north}/upload",
        data={"csrf": csrf},
        files=[("files", ("scan.jpg", b_bytes, "image/jpeg"))],
    )
    assert answer.status_code == 200, answer.text
    assert not MARKER.search(answer.content)
    [outcome] = answer.json()["outcomes"]
    assert (outcome["status"], outcome["sha256"]) == ("new", walls["b_item"])
    item = client.get(f"/api/items/{walls['b_item']}").content
    assert b"scan.jpg" in item and not MARKER.search(item)


def test_a_web_reveal_of_a_shared_item_belongs_to_the_case_it_was_revealed_in(
    walls: dict[str, Any], locker: Locker
) -> None:
    """Before, a web reveal of bytes several cases hold was recorded with no case: hidden
    from the revealer's own case (its trail lost the reveal) and shown only to admins."""
    client = walls["client"]
    north = walls["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    answer = client.post(
        f"/api/items/{walls['shared']}/reveal?case={north}", headers={"x-csrf-token": csrf}
    )
    assert answer.status_code == 200
    kept = client.post(
        f"/api/items/{walls['shared']}/keyframes/0/reveal?case={north}",
        headers={"x-csrf-token": csrf},
    )
    assert kept.status_code == 404  # a picture has no keyframes; the case was still checked
    with locker.engine.connect() as conn:
        reveals = [
            e for e in log.events(conn) if e.action == "item.revealed" and e.actor == "reviewer-1"
        ]
    assert [e.details["case"] for e in reveals] == ["North"]
    with locker.engine.connect() as conn:
        member = conn.execute(
            select(schema.users.c.id).where(schema.users.c.name == "zq7-mark-member")
        ).scalar_one()
        b_person = accounts.User(int(member), "zq7-mark-member", "member")
        b_view = scope.of_item(conn, b_person, walls["shared"], "view")
        assert scope.visible_events(conn, b_view, reveals) == []


def _strip_as(locker: Locker, item: str, actor: str, case: str) -> str:
    from docket.analyse.batch import run_step
    from docket.protect.steps import StripStep

    run = run_step(locker, item, "image/jpeg", StripStep(), actor, case)
    assert run.error is None, run.error
    with locker.engine.connect() as conn:
        return str(
            conn.execute(
                select(schema.derivatives.c.sha256)
                .where(
                    schema.derivatives.c.item_sha256 == item,
                    schema.derivatives.c.kind == "stripped",
                )
                .order_by(schema.derivatives.c.id.desc())
            ).first()[0]  # type: ignore[index]
        )


def test_publication_of_case_a_carries_nothing_of_case_b_approvals(
    walls: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    """B's person makes and approves a copy of the shared bytes; A makes and approves its own.
    A's publication package publishes A's copy and names nothing of B's work."""
    from docket.protect import approval

    shared, north = walls["shared"], walls["cases"]["North"]
    b_copy = _strip_as(locker, shared, "zq7-mark-member", B)
    with locker.engine.connect() as conn, conn.begin():
        approval.approve(
            conn,
            "zq7-mark-member",
            shared,
            b_copy,
            scope.Scope(walls["b_id"], B),
            note="zq7-mark-ok",
        )
        a_view = scope.Scope(north, "North")
        # B's copy is not offered to A (its making names B's person): A makes its own.
        with pytest.raises(NotFoundError) as refused:
            approval.approve(conn, "owner-1", shared, b_copy, a_view, acknowledged_faces=1)
        assert not MARKER.search(str(refused.value).encode())
    a_copy = _strip_as(locker, shared, "owner-1", "North")
    with locker.engine.connect() as conn, conn.begin():
        approval.approve(conn, "owner-1", shared, a_copy, a_view, acknowledged_faces=1)
    package = tmp_path / "press.zip"
    summary = export(locker, [shared], "publication", package, "owner-1", case="North")
    assert summary.items == [shared], summary.left_out
    files = _package_files(package)
    assert any(content.startswith(b"\xff\xd8") for content in files.values())
    for name, content in files.items():
        found = MARKER.search(content)
        assert not found, f"{name}: {content[found.start() - 200 : found.end() + 80]!r}"
    assert check(package).ok
    with locker.engine.connect() as conn:
        trail = [e for e in log.events(conn) if e.action.startswith("derivative.approv")]
        member = accounts.User(0, "owner-1", "member")
        owner_id = conn.execute(
            select(schema.users.c.id).where(schema.users.c.name == "owner-1")
        ).scalar_one()
        a_person = accounts.User(int(owner_id), member.name, "member")
        seen = scope.visible_events(conn, scope.of_item(conn, a_person, shared, "view"), trail)
    assert all(e.details.get("case") == "North" for e in seen)


def _admin_reads(locker: Locker) -> list[tuple[str, str, str]]:
    with locker.engine.connect() as conn:
        events = [e for e in log.events(conn) if e.action == "case.read_by_admin"]
    return [(e.actor, e.details["case"], e.details["request"]) for e in events]


def test_an_admin_entering_a_case_from_outside_is_logged_once_per_sign_in(
    walls: dict[str, Any], locker: Locker
) -> None:
    client, north, south = walls["client"], walls["cases"]["North"], walls["cases"]["South"]
    sign_in(client, "owner-1")  # a member: nothing to log
    client.get(f"/cases/{north}")
    assert _admin_reads(locker) == []
    sign_in(client, "ada")
    assert client.get("/").status_code == 200  # the list of cases enters none
    assert _admin_reads(locker) == []
    for path in (
        f"/cases/{north}",
        f"/api/cases/{north}/items",
        f"/items/{walls['north']}",
        f"/api/items/{walls['north']}",
        f"/api/items/{walls['shared']}?case={north}",
    ):
        assert client.get(path).status_code == 200, path
    first = [("ada", "North", f"GET /cases/{north}")]
    assert _admin_reads(locker) == first  # once for the sign-in, pages and API alike
    shared = client.get(f"/api/items/{walls['shared']}", params={"case": walls["b_id"]})
    assert shared.status_code == 200
    assert _admin_reads(locker) == [*first, ("ada", B, f"GET /api/items/{walls['shared']}")]
    with locker.engine.begin() as conn:  # an admin who is a member of South reads it unlogged
        ada = accounts.user_named(conn, "ada")
        access.add_member(conn, ada, south, ada, "viewer")
    assert client.get(f"/cases/{south}").status_code == 200
    assert len(_admin_reads(locker)) == 2
    sign_in(client, "ada")  # a new sign-in is logged anew
    client.get(f"/api/cases/{north}/items")
    assert _admin_reads(locker)[2:] == [("ada", "North", f"GET /api/cases/{north}/items")]
    with locker.engine.begin() as conn:  # so is an API token
        token = accounts.issue_token(conn, accounts.user_named(conn, "ada"))
    client.cookies.clear()
    headers = {"authorization": f"Bearer {token}"}
    assert client.get(f"/api/cases/{north}/items", headers=headers).status_code == 200
    assert client.get(f"/api/cases/{north}/items", headers=headers).status_code == 200
    assert len(_admin_reads(locker)) == 4
    assert verify(locker, quick=True).ok


def test_what_an_admin_read_is_not_shown_to_the_case_people(
    walls: dict[str, Any], locker: Locker
) -> None:
    """The event names case B: it is the admins' to see, never a case's people's."""
    client = walls["client"]
    sign_in(client, "ada")
    client.get(f"/api/cases/{walls['b_id']}/items")
    with locker.engine.connect() as conn:
        [event] = [e for e in log.events(conn) if e.action == "case.read_by_admin"]
    assert event.details["case"] == B and event.item is None
    assert "no checkpoint covers it yet" in client.get(f"/api/events/{event.seq}/proof").text
    for person in ("owner-1", "zq7-mark-member"):
        sign_in(client, person)
        assert client.get(f"/api/events/{event.seq}/proof").status_code == 404


def test_analysis_a_case_cannot_see_the_events_of_is_not_listed(
    walls: dict[str, Any], locker: Locker, cli: Any
) -> None:
    """The step B's person ran is listed in B (so the sweeps above could find its marker),
    never in A: not on the item page, the API, `show --case` or A's court export."""
    client, shared, north = walls["client"], walls["shared"], walls["cases"]["North"]
    sign_in(client, "zq7-mark-member")
    in_b = client.get(f"/api/items/{shared}").json()["analysis"]
    assert {"step": "zq7-mark-step", "version": "1", "status": "failed"}.items() <= in_b[-1].items()
    sign_in(client, "owner-1")
    in_a = client.get(f"/api/items/{shared}", params={"case": north}).json()["analysis"]
    assert all(row["step"] != "zq7-mark-step" for row in in_a)
    shown = cli("show", "--locker", locker.path, shared[:12], "--case", "North", "--json")
    assert not MARKER.search(shown.out.encode())
    assert b"zq7-mark-step" in cli("show", "--locker", locker.path, shared[:12]).out.encode()


# Fields a write operation may ask for, each with a value that would change something of B's
# if the write reached B (the same for forms and JSON bodies).
WRITE_FIELDS: dict[str, Any] = {
    "tag": "harbour-tag",
    "text": "harbour note",
    "flag": "graphic",
    "title": "harbour raid",
    "profile": "court",
    "role": "viewer",
    "name": "outsider-1",
    "reason": "checked",
    "acknowledged_faces": 0,
    "active": True,
    "status": "disputed",
    "comment": "harbour comment",
    "action": "status",
    "value": "disputed",
}
_NOT_SWEPT = ("/login", "/logout", "/account/", "/api/account/", "/tokens/", "/api/tokens/")


def _write_routes(app: Any) -> set[tuple[str, str, str]]:
    """(method, path, body kind) of every write operation of the OpenAPI description."""
    found = set()
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            if method != "get" and not path.startswith(_NOT_SWEPT):
                kinds = list(op.get("requestBody", {}).get("content", {}))
                found.add((method.upper(), path, kinds[0] if kinds else ""))
    return found


def _b_records(locker: Locker, walls: dict[str, Any]) -> tuple[Any, ...]:
    with locker.engine.connect() as conn:
        b_view = scope.Scope(walls["b_id"], B)
        b_events = [
            (e.seq, e.action)
            for e in log.events(conn)
            if scope.recorded_in(conn, e) == (True, B) or e.details.get("case") == walls["b_id"]
        ]
        return (
            review.tags_of(conn, walls["shared"], b_view),
            review.annotations_of(conn, walls["shared"], b_view),
            flags.current_flag(conn, walls["shared"], b_view),
            review.statuses_of(conn, [walls["shared"]], b_view),
            incidents.get(conn, walls["b_incident"]),
            sorted(conn.execute(select(schema.incident_links.c.id)).scalars()),
            sorted(conn.execute(select(schema.memberships)).all()),
            sorted(conn.execute(select(schema.saved_searches)).all()),
            b_events,
        )


@pytest.mark.parametrize("person", ["owner-1", "outsider-1", "zq7-mark-member"])
def test_no_write_reaches_case_b_or_answers_with_its_records(
    walls: dict[str, Any], locker: Locker, person: str
) -> None:
    """Every write operation (from the OpenAPI description), aimed at B's case, B's incident,
    B's links and the shared bytes through B, by A's owner and by a person in no case:
    nothing of B changes, and no answer shows a marker of B. B's own member, sweeping the
    same, does change B's records (so the sweep's writes are ones that would)."""
    client = walls["client"]
    values = _candidates(walls, locker)
    with locker.engine.connect() as conn:
        b_links = conn.execute(
            select(schema.incident_links.c.id).where(
                schema.incident_links.c.incident_id == walls["b_incident"]
            )
        )
        values["link_id"] = list(b_links.scalars())
        values["user_id"] = [accounts.user_named(conn, "zq7-mark-member").id]
    values |= {"case_id": [walls["b_id"]], "incident_id": [walls["b_incident"]]}
    values |= {"sha256": [walls["shared"], walls["b_item"]], "number": [0]}
    before = _b_records(locker, walls)
    csrf = sign_in(client, person)
    tried = 0
    for method, template, kind in sorted(_write_routes(client.app)):
        names = re.findall(r"{(\w+)}", template)
        assert not set(names) - set(values), f"{template}: give the test values for {names}"
        for combo in itertools.product(*(values[n] for n in names)):
            path = template
            for name, value in zip(names, combo, strict=True):
                path = path.replace(f"{{{name}}}", str(value))
            queries = [f"?case={walls['b_id']}", ""] if "sha256" in names else [""]
            for query in queries:
                body: dict[str, Any] = {"headers": {"x-csrf-token": csrf}}
                if kind == "application/json":
                    body["json"] = {
                        **WRITE_FIELDS,
                        "item": walls["shared"],
                        "items": [walls["shared"]],
                    }
                elif kind:
                    body["data"] = {**WRITE_FIELDS, "items": [walls["shared"]], "csrf": csrf}
                answer = client.request(method, path + query, follow_redirects=False, **body)
                tried += 1
                assert answer.status_code < 500, f"{method} {path}{query}: {answer.status_code}"
                found = MARKER.search(answer.content) if person != "zq7-mark-member" else None
                assert not found, f"{method} {path}{query}: {answer.content[:300]!r}"
    assert tried > 30
    after = _b_records(locker, walls)
    assert after != before if person == "zq7-mark-member" else after == before


def test_a_shadow_fit_recorded_in_case_b_is_case_b_work_only(
    walls: dict[str, Any], locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """A person in both cases reads a shadow on the shared bytes in case B: their marks and
    claimed moment are B's work. Before, the fit was kept as a fact of the bytes: A's item page
    listed it among the aids and A's trail showed its event (its recorder is known to A)."""
    from datetime import UTC, datetime

    from docket.aids import shadow_places

    shared, north = walls["shared"], walls["cases"]["North"]
    with locker.engine.connect() as conn, conn.begin():
        both = conn.execute(
            select(schema.users.c.id).where(schema.users.c.name == "owner-1")
        ).scalar_one()
        admin = accounts.User(0, "ada", "admin")
        access.add_member(
            conn, admin, walls["b_id"], accounts.User(both, "owner-1", "member"), "owner"
        )
        moment = datetime(2023, 7, 9, 6, 41, tzinfo=UTC)  # B's claim, the marker here
        fit = shadow_places.fit(1.7, moment)
        event = shadow_places.record(conn, "owner-1", shared, fit, B)
    client = walls["client"]
    sign_in(client, "owner-1")
    seen_in = {}
    for case in (north, walls["b_id"]):
        answer = client.get(f"/api/items/{shared}?case={case}")
        assert answer.status_code == 200, answer.text
        seen_in[case] = answer.json()
    a_view, b_view = seen_in[north], seen_in[walls["b_id"]]
    assert "shadow-places" not in {r["step"] for r in a_view["verification"]}
    assert event.seq not in {e["seq"] for e in a_view["events"]}
    assert "2023-07-09" not in str(a_view)
    assert "shadow-places" in {r["step"] for r in b_view["verification"]}
    assert event.seq in {e["seq"] for e in b_view["events"]}
    page = client.get(f"/items/{shared}?case={north}")
    assert page.status_code == 200 and "shadow and stated place" not in page.text
    shown = cli("show", shared[:16], "--case", "North", "--json", "--locker", locker.path)
    assert shown.code == 0, shown.err
    assert "shadow-places" not in {r["step"] for r in shown.json()["verification"]}
    with locker.engine.connect() as conn:
        items = items_of_case(conn, "North")
    package = tmp_path / "north.zip"
    export(locker, items, "court", package, "owner-1", case="North")
    content = b"".join(_package_files(package).values())
    assert b"shadow-places" not in content and b"2023-07-09" not in content
    assert check(package).ok
    assert verify(locker).ok  # the case the event names is the event's alone


def test_the_shadow_command_asks_for_the_case_when_several_hold_the_item(
    walls: dict[str, Any], locker: Locker, cli: Any
) -> None:
    shared = walls["shared"]
    asked = cli(
        "shadow-places",
        shared[:16],
        "--ratio",
        "1.2",
        "--at",
        "2024-03-01T09:15:00+00:00",
        "--locker",
        locker.path,
    )
    assert asked.code != 0 and "give --case" in asked.err
    done = cli(
        "shadow-places",
        shared[:16],
        "--ratio",
        "1.2",
        "--at",
        "2024-03-01T09:15:00+00:00",
        "--case",
        B,
        "--json",
        "--locker",
        locker.path,
    )
    assert done.code == 0, done.err
    with locker.engine.connect() as conn:
        recorded = log.get(conn, int(done.json()["event"]))
    assert recorded is not None and recorded.details["case"] == B


def test_a_copy_is_made_in_a_case_named_when_several_hold_the_item(
    walls: dict[str, Any], locker: Locker, cli: Any
) -> None:
    """A redaction or a stripped copy is work of the case it is made in (its event names it):
    when several cases hold the bytes the command asks which, and A is not offered B's copy."""
    shared = walls["shared"]
    asked = cli("redact", shared[:16], "--region", "2,2,20,20", "--locker", locker.path)
    assert asked.code != 0 and "give --case" in asked.err
    made = cli("strip", shared[:16], "--case", B, "--json", "--locker", locker.path)
    assert made.code == 0, made.err
    with locker.engine.connect() as conn:
        [event] = [e for e in log.events(conn, shared) if e.action == "strip.recorded"]
        assert event.details["case"] == B
        a_view = scope.Scope(walls["cases"]["North"], "North")
        b_view = scope.Scope(walls["b_id"], B)
        from docket.protect import approval

        assert approval.copies(conn, shared, a_view) == []
        assert [c.kind for c in approval.copies(conn, shared, b_view)] == ["stripped"]


def test_a_copy_made_before_copies_named_their_case_is_offered_as_it_was(
    walls: dict[str, Any], locker: Locker
) -> None:
    """A copy whose event names no case (made before copies did) stays a fact of the bytes,
    offered to each case that knows its maker, so an approval made then is not lost."""
    from docket.analyse.batch import run_step
    from docket.protect import approval
    from docket.protect.steps import StripStep

    shared = walls["shared"]
    run = run_step(locker, shared, "image/jpeg", StripStep(), "owner-1")  # no case named
    assert run.error is None, run.error
    with locker.engine.connect() as conn:
        [event] = [e for e in log.events(conn, shared) if e.action == "strip.recorded"]
        assert "case" not in event.details
        a_view = scope.Scope(walls["cases"]["North"], "North")
        assert [c.kind for c in approval.copies(conn, shared, a_view)] == ["stripped"]
        assert approval.copies(conn, shared, scope.Scope(walls["b_id"], B)) == []  # unknown maker


def _previous_named(package: Path) -> tuple[int | None, int]:
    """The tree size of the previous export's checkpoint a package's signed export record
    names (None when it names none), and the tree size of the package's own checkpoint."""
    import base64
    import json

    files = _package_files(package)
    [record] = [c for n, c in files.items() if n.endswith("custody/export.json")]
    [note] = [c for n, c in files.items() if n.endswith("custody/checkpoint.txt")]
    leaf = json.loads(base64.b64decode(json.loads(record)["leaf"]))
    previous = leaf["details"]["proofs"]["previous"]
    return None if previous is None else int(previous["tree_size"]), int(note.split(b"\n")[1])


def test_a_package_names_only_its_own_case_s_previous_export(
    walls: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    """A package carries the checkpoint of its case's previous export, for a consistency
    proof: never another case's, which would tell its reader when that case exported."""
    with locker.engine.connect() as conn:
        north, b_items = items_of_case(conn, "North"), items_of_case(conn, B)
    export(locker, b_items, "court", tmp_path / "b1.zip", "zq7-mark-member", case=B)
    export(locker, north, "court", tmp_path / "a1.zip", "owner-1", case="North")
    previous, first = _previous_named(tmp_path / "a1.zip")
    assert previous is None
    export(locker, b_items, "court", tmp_path / "b2.zip", "zq7-mark-member", case=B)
    export(locker, north, "court", tmp_path / "a2.zip", "owner-1", case="North")
    assert _previous_named(tmp_path / "a2.zip")[0] == first
    report = check(tmp_path / "a2.zip")
    assert report.ok and ("consistency with the previous export", True) in [
        c[:2] for c in report.checks
    ]
