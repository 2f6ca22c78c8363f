"""The case audit (issue 17): who revealed, exported or changed what in a case, from the
custody log, scoped to the case. Case B (test_case_walls' `walls`) holds North's bytes under
marked records; B's people also set a status, exported to a marked recipient and changed B's
members. Nothing of it may reach North's audit, whoever reads it, on any page of it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from conftest import LAYERS, PASSWORD, Layer, layer_facts, sign_in
from sqlalchemy import select
from test_case_walls import MARKER, walls

from docket import access, accounts, audit, review, scope
from docket.catalogue import schema
from docket.custody.events import event_from_row
from docket.disclose.package import export
from docket.errors import DocketError
from docket.locker import Locker
from docket.protect import flags

__all__ = ["walls"]


def build_audited(locker: Locker, tmp_path: Path, walls: dict[str, Any]) -> dict[str, Any]:
    """Work in North by its people on the shared bytes, and more marked work of B's."""
    shared, north = walls["shared"], walls["cases"]["North"]
    with locker.engine.connect() as conn, conn.begin():
        b_view = scope.Scope(walls["b_id"], "Zq7-mark-case")
        review.set_status(
            conn, "zq7-mark-member", shared, b_view, "disputed", comment="zq7-mark-comment"
        )
        a_view = scope.Scope(north, "North")
        review.set_status(conn, "reviewer-1", shared, a_view, "in review", "reviewer-1", "look")
        flags.flag(conn, "reviewer-1", shared, "graphic", a_view)
        review.add_tag(conn, "investigator-1", shared, "harbour", a_view)
        flags.reveal(conn, "investigator-1", shared, "original (web)", a_view)
        admin = accounts.User(0, "ada", "admin")
        extra = accounts.create_user(conn, "setup", "zq7-mark-extra", PASSWORD, "member")
        access.add_member(conn, admin, walls["b_id"], extra, "viewer")
    export(
        locker,
        [shared],
        "court",
        tmp_path / "b.zip",
        "zq7-mark-member",
        "zq7-mark-recipient",
        case="Zq7-mark-case",
    )
    export(locker, [shared], "court", tmp_path / "a.zip", "owner-1", "the court", case="North")
    return {}


LAYERS["audited"] = Layer(build_audited, base="walls")


@pytest.fixture
def audited(request: pytest.FixtureRequest, walls: dict[str, Any]) -> dict[str, Any]:
    return layer_facts(request, "audited", walls)


def test_the_audit_lists_the_case_work_and_nothing_of_another_case(
    audited: dict[str, Any], locker: Locker
) -> None:
    with locker.engine.connect() as conn:
        page = audit.case_audit(conn, scope.Scope(audited["cases"]["North"], "North"))
    kinds = {(e.actor, e.kind) for e in page.entries}
    assert {
        ("reviewer-1", "status"),
        ("reviewer-1", "flag"),
        ("investigator-1", "tag"),
        ("investigator-1", "reveal"),
        ("owner-1", "export"),
        ("ada", "members"),
    } <= kinds
    [exported] = [e for e in page.entries if e.kind == "export"]
    assert exported.details["recipient"] == "the court" and exported.details["items"] == 1
    assert not MARKER.search(repr(page).encode())
    assert page.next_before is None


@pytest.mark.parametrize("reader", ["viewer-1", "reviewer-1", "owner-1", "ada"])
def test_no_reader_of_the_audit_page_sees_case_b(audited: dict[str, Any], reader: str) -> None:
    client, north = audited["client"], audited["cases"]["North"]
    sign_in(client, reader)
    for url in (
        f"/cases/{north}/audit",
        f"/api/cases/{north}/audit",
        f"/cases/{north}/audit?kind=export",
        f"/api/cases/{north}/audit?kind=status",
        f"/api/cases/{north}/audit?kind=members",
    ):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text)
        assert not MARKER.search(answer.content), url
    page = client.get(f"/cases/{north}/audit").text
    assert "investigator-1" in page and "the court" in page
    assert "<bdi>harbour.jpg</bdi>" in page  # the shared item by North's own name for it
    asked = client.get(f"/api/cases/{north}/audit", params={"actor": "zq7-mark-member"}).json()
    assert asked["entries"] == [] and asked["next_before"] is None


def test_case_b_audit_shows_b_own_marked_work(audited: dict[str, Any], locker: Locker) -> None:
    with locker.engine.connect() as conn:
        page = audit.case_audit(conn, scope.Scope(audited["b_id"], "Zq7-mark-case"))
    shown = repr(page)
    for marker in ("zq7-mark-recipient", "zq7-mark-comment", "zq7-mark-tag", "zq7-mark-extra"):
        assert marker in shown
    assert "reviewer-1" not in shown and "the court" not in shown


@pytest.mark.parametrize("outsider", ["outsider-1", "zq7-mark-member"])
def test_only_admins_and_members_read_the_audit(audited: dict[str, Any], outsider: str) -> None:
    client, north = audited["client"], audited["cases"]["North"]
    sign_in(client, outsider)
    for url in (f"/cases/{north}/audit", f"/api/cases/{north}/audit"):
        answer = client.get(url)
        assert answer.status_code in (403, 404), url
        assert "reviewer-1" not in answer.text


def test_filters_by_kind_and_person(audited: dict[str, Any]) -> None:
    client, north = audited["client"], audited["cases"]["North"]
    sign_in(client, "viewer-1")
    reveals = client.get(f"/api/cases/{north}/audit", params={"kind": "reveal"}).json()
    assert reveals["entries"] and {e["action"] for e in reveals["entries"]} == {"item.revealed"}
    by = client.get(f"/api/cases/{north}/audit", params={"actor": "reviewer-1"}).json()
    assert {e["actor"] for e in by["entries"]} == {"reviewer-1"}
    assert {e["kind"] for e in by["entries"]} == {"status", "flag"}
    both = client.get(
        f"/api/cases/{north}/audit", params={"actor": "reviewer-1", "kind": "flag"}
    ).json()
    assert [e["details"]["flag"] for e in both["entries"]] == ["graphic"]
    wrong = client.get(f"/api/cases/{north}/audit", params={"kind": "everything"})
    assert wrong.status_code == 400 and "an audit kind is one of" in wrong.json()["detail"]


def test_pages_by_log_position_cover_every_event_once(
    audited: dict[str, Any], locker: Locker
) -> None:
    north = audited["cases"]["North"]
    with locker.engine.connect() as conn, conn.begin():
        view = scope.Scope(north, "North")
        for number in range(7):
            review.add_tag(conn, "reviewer-1", audited["shared"], f"t{number}", view)
    with locker.engine.connect() as conn:
        whole = audit.case_audit(conn, view, size=1000)
        seen: list[int] = []
        before = None
        while True:
            page = audit.case_audit(conn, view, before=before, size=3)
            assert len(page.entries) <= 3
            seen += [e.seq for e in page.entries]
            if page.next_before is None:
                break
            before = page.next_before
    assert seen == [e.seq for e in whole.entries] == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) > 10
    # a page read later is the same page: new events land above it
    with locker.engine.connect() as conn, conn.begin():
        review.add_tag(conn, "reviewer-1", audited["shared"], "later", view)
        again = audit.case_audit(conn, view, before=seen[3] + 1, size=3)
    assert [e.seq for e in again.entries] == seen[3:6]


def test_the_page_links_to_older_events(audited: dict[str, Any]) -> None:
    client, north = audited["client"], audited["cases"]["North"]
    sign_in(client, "owner-1")
    first = client.get(f"/api/cases/{north}/audit").json()
    assert first["next_before"] is None
    page = client.get(f"/cases/{north}/audit", params={"before": first["entries"][2]["seq"]})
    assert page.status_code == 200
    assert f"<td>{first['entries'][3]['seq']}</td>" in page.text
    assert f"<td>{first['entries'][0]['seq']}</td>" not in page.text


def test_an_audit_is_of_one_case(locker: Locker) -> None:
    with locker.engine.connect() as conn, pytest.raises(DocketError, match="one case"):
        audit.case_audit(conn, scope.Scope(None, None, True))


def test_the_command_line_lists_the_same_audit(
    audited: dict[str, Any], locker: Locker, cli: Any
) -> None:
    with locker.engine.connect() as conn:
        page = audit.case_audit(conn, scope.Scope(audited["cases"]["North"], "North"))
    listed = cli("case", "audit", "North", "--json", "--locker", locker.path)
    assert listed.code == 0
    assert [e["seq"] for e in listed.json()["entries"]] == [e.seq for e in page.entries]
    assert not MARKER.search(listed.out.encode())
    table = cli("case", "audit", "North", "--kind", "reveal", "--locker", locker.path)
    assert table.code == 0 and "investigator-1" in table.out and "reveal" in table.out
    assert "reviewer-1" not in table.out
    paged = cli("case", "audit", "North", "--limit", "2", "--locker", locker.path)
    assert paged.out.splitlines()[-1].startswith("(older: --before ")
    missing = cli("case", "audit", "West", "--locker", locker.path)
    assert missing.code != 0 and "case 'West': no such case" in missing.err


@pytest.mark.parametrize("admin", [False, True])
def test_the_audit_read_from_the_case_rows_is_the_one_the_whole_log_gives(
    audited: dict[str, Any], locker: Locker, admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit is read from the case's own rows of events (queries.case_events) merged with
    the events of no item: page by page (in batches smaller than a page), it is exactly what
    walking the whole log with the audit's rule gives; in batches of 2, and in batches that
    start at a page and a row and grow twice as big each time."""
    north = audited["cases"]["North"]
    view = scope.Scope(north, "North", admin)
    with locker.engine.connect() as conn:
        held = set(
            conn.execute(
                select(schema.case_items.c.item_sha256).where(schema.case_items.c.case_id == north)
            ).scalars()
        )
        every = conn.execute(select(schema.events).order_by(schema.events.c.seq.desc()))
        expected = [
            audit._entry(event)
            for event in map(event_from_row, every.mappings())
            if event.action in audit._KIND_OF
            and (event.item is None or event.item in held)
            and audit._of_case(conn, view, event)
        ]
        assert len(expected) > 3
        actors = ["", *sorted({e.actor for e in expected}), "zq7-mark-member", "nobody"]
        for kind, actor in itertools.product(("", *audit.KINDS), actors):
            chosen = [
                e
                for e in expected
                if (not kind or e.kind == kind) and (not actor or e.actor == actor)
            ]
            # A kind's actions read together, and each by itself.
            for streams_most, batch_most in itertools.product((0, 4), (2, 500)):
                monkeypatch.setattr(audit, "_STREAMS_MOST", streams_most)
                monkeypatch.setattr(audit, "_BATCH", batch_most)
                asked = (kind, actor, streams_most, batch_most)
                first = audit.case_audit(conn, view, kind, actor, size=3)
                assert first.entries == chosen[:3], asked
                if first.next_before is not None:
                    second = audit.case_audit(
                        conn, view, kind, actor, before=first.next_before, size=3
                    )
                    assert second.entries == chosen[3:6], asked
    assert not MARKER.search(repr(expected).encode())
