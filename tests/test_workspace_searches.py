"""Saved searches (issue 17): a person's named grid query, per case, listed on the case page
with its owner, deleted by its owner only, never seen or reached through another case."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PASSWORD, ROLES, sign_in
from test_case_walls import MARKER, walls

from docket import saved_searches
from docket.errors import DocketError
from docket.locker import Locker

__all__ = ["walls"]


def _save(client: Any, csrf: str, case_id: int, name: str, query: str) -> Any:
    return client.post(
        f"/cases/{case_id}/searches",
        data={"name": name, "query": query, "csrf": csrf},
        follow_redirects=False,
    )


def test_a_search_saved_from_the_grid_is_listed_and_opens_the_grid(
    world: dict[str, Any],
) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    answer = _save(
        client, csrf, north, "Graphic at the harbour", "page=3&q=harbour&flag=graphic&x=1"
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/cases/{north}?q=harbour&flag=graphic"
    page = client.get(f"/cases/{north}").text
    assert f'href="/cases/{north}?q=harbour&amp;flag=graphic"><bdi>Graphic at the harbour' in page
    assert "by <bdi>reviewer-1</bdi>" in page
    [listed] = client.get(f"/api/cases/{north}/searches").json()
    assert listed["owner"] == "reviewer-1" and listed["query"] == "q=harbour&flag=graphic"
    # the grid with filters offers to save them; without, it does not
    assert 'id="save-search"' in client.get(f"/cases/{north}?status=new").text
    assert 'id="save-search"' not in client.get(f"/cases/{north}").text


def test_saving_a_name_again_replaces_that_search(world: dict[str, Any]) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "viewer-1")
    _save(client, csrf, north, "mine", "status=new")
    _save(client, csrf, north, "mine", "status=verified&type=video/")
    assert [(s["name"], s["query"]) for s in client.get(f"/api/cases/{north}/searches").json()] == [
        ("mine", "type=video%2F&status=verified")
    ]


def test_only_the_owner_deletes_a_saved_search(world: dict[str, Any]) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    _save(client, csrf, north, "to keep", "flag=graphic")
    [found] = client.get(f"/api/cases/{north}/searches").json()
    for other in ["owner-1", "ada"]:
        other_csrf = sign_in(client, other)
        page = client.get(f"/cases/{north}").text
        assert "to keep" in page and f"/searches/{found['id']}/delete" not in page
        refused = client.post(
            f"/cases/{north}/searches/{found['id']}/delete", data={"csrf": other_csrf}
        )
        assert refused.status_code == 403
        assert "only the person who saved a search deletes it" in refused.json()["detail"]
    csrf = sign_in(client, "reviewer-1")
    forged = client.post(f"/cases/{north}/searches/{found['id']}/delete", data={"csrf": "x"})
    assert forged.status_code == 403
    gone = client.post(f"/cases/{north}/searches/{found['id']}/delete", data={"csrf": csrf})
    assert gone.status_code == 200  # followed to the case page
    assert client.get(f"/api/cases/{north}/searches").json() == []


@pytest.mark.parametrize("query", ["", "page=2", "q=++&flag="])
def test_a_search_with_no_filter_is_refused_in_one_line(world: dict[str, Any], query: str) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    answer = _save(client, csrf, north, "empty", query)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("nothing to save: the search has no filter")


def test_names_and_queries_have_limits(locker: Locker, world: dict[str, Any]) -> None:
    north = world["cases"]["North"]
    user = world["users"]["viewer"]
    with locker.engine.connect() as conn, conn.begin():
        with pytest.raises(DocketError, match="needs a name"):
            saved_searches.save(conn, user, north, "   ", "flag=graphic")
        with pytest.raises(DocketError, match="at most 2000"):
            saved_searches.save(conn, user, north, "long", "q=" + "a" * 2000)


def test_people_outside_the_case_neither_save_nor_list(world: dict[str, Any]) -> None:
    client, north, south = world["client"], world["cases"]["North"], world["cases"]["South"]
    csrf = sign_in(client, "outsider-1")
    assert _save(client, csrf, north, "x", "flag=graphic").status_code in (403, 404)
    assert client.get(f"/api/cases/{north}/searches").status_code in (403, 404)
    csrf = sign_in(client, "owner-1")
    assert _save(client, csrf, south, "x", "flag=graphic").status_code in (403, 404)


def test_case_b_saved_searches_never_reach_case_a(walls: dict[str, Any]) -> None:
    client, north, b_id = walls["client"], walls["cases"]["North"], walls["b_id"]
    csrf = sign_in(client, "zq7-mark-member", PASSWORD)
    assert _save(client, csrf, b_id, "zq7-mark-saved", "q=zq7-mark-words").status_code == 303
    listed = client.get(f"/api/cases/{b_id}/searches").json()
    [b_search] = [s for s in listed if s["name"] == "zq7-mark-saved"]
    for reader in [*(f"{role}-1" for role in ROLES), "ada"]:
        reader_csrf = sign_in(client, reader)
        for url in (f"/cases/{north}", f"/api/cases/{north}/searches"):
            answer = client.get(url)
            assert answer.status_code == 200 and not MARKER.search(answer.content), (reader, url)
        # B's search reached through North's path is not found, and says nothing of it
        through_a = client.post(
            f"/cases/{north}/searches/{b_search['id']}/delete", data={"csrf": reader_csrf}
        )
        assert through_a.status_code == 404 and not MARKER.search(through_a.content)
    sign_in(client, "zq7-mark-member", PASSWORD)
    assert client.get(f"/api/cases/{b_id}/searches").json() == listed


def test_the_api_saves_and_deletes_with_the_session_token(world: dict[str, Any]) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    no_token = client.post(f"/api/cases/{north}/searches", json={"name": "a", "query": "q=x"})
    assert no_token.status_code == 403
    saved = client.post(
        f"/api/cases/{north}/searches",
        json={"name": "a", "query": "?q=x&gps=True"},
        headers={"x-csrf-token": csrf},
    ).json()
    assert saved["query"] == "q=x&gps=True"
    deleted = client.delete(
        f"/api/cases/{north}/searches/{saved['id']}", headers={"x-csrf-token": csrf}
    )
    assert deleted.json() == {"deleted": saved["id"]}
    assert client.get(f"/api/cases/{north}/searches").json() == []
