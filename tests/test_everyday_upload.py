"""The web upload form keeps the collection fields (issue 13): source, note, URL of origin,
time collected and method reach each acquisition and its custody event; a bad field stores
nothing; the collector is always the signed-in person."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in
from media import jpeg, sample
from sqlalchemy import func, select

from docket.catalogue import schema
from docket.locker import Locker

URL = "https://example.invalid/channel/88/post/4471"


def test_upload_form_fields_reach_the_acquisition(world: dict[str, Any], locker: Locker) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    page = client.get(f"/cases/{north_id}").text
    for field in ("source", "note", "url_of_origin", "collected_at", "method"):
        assert f'name="{field}"' in page
    form = {
        "csrf": csrf,
        "source": "W-77",
        "note": "sent over a messenger at night",
        "url_of_origin": URL,
        "collected_at": "2026-03-01T23:10:00+02:00",
        "method": "messenger",
        "collector": "someone-else",  # not a field: the signed-in person is the collector
    }
    answer = client.post(
        f"/cases/{north_id}/upload",
        data=form,
        files=[("files", ("night.jpg", jpeg(sample("rocket")), "image/jpeg"))],
    )
    assert answer.status_code == 200, answer.text
    [outcome] = answer.json()["outcomes"]
    [arrival] = client.get(f"/api/items/{outcome['sha256']}").json()["acquisitions"]
    assert arrival["collector"] == "investigator-1"
    assert (arrival["source"], arrival["note"], arrival["method"]) == (
        "W-77",
        "sent over a messenger at night",
        "messenger",
    )
    assert arrival["url_of_origin"] == URL
    assert arrival["collected_at"] == "2026-03-01T23:10:00+02:00"
    page = client.get(f"/items/{outcome['sha256']}?case={north_id}").text
    assert f'<span class="url" dir="ltr">{URL}</span>' in page and f'href="{URL}"' not in page
    assert "collected <bdi>2026-03-01T23:10:00+02:00</bdi>" in page  # isolated: a time people gave


def test_a_bad_collection_field_stores_nothing(world: dict[str, Any], locker: Locker) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    with locker.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(schema.items)).scalar_one()
    answer = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf, "collected_at": "yesterday evening"},
        files=[("files", ("late.jpg", jpeg(sample("coffee")), "image/jpeg"))],
    )
    assert 400 <= answer.status_code < 500
    assert "not an ISO 8601 time" in answer.text
    with locker.engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(schema.items)).scalar_one()
    assert after == before


@pytest.mark.parametrize("backend", ["sqlite"])  # the form's check: refused before any record
def test_an_upload_cannot_claim_a_method_docket_sets(backend: str, world: dict[str, Any]) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    answer = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf, "method": "capture"},
        files=[("files", ("claimed.jpg", jpeg(sample("coffee")), "image/jpeg"))],
    )
    assert 400 <= answer.status_code < 500 and "is not one of" in answer.text


@pytest.mark.parametrize("backend", ["sqlite"])  # the page's escaping: no catalogue work
def test_a_url_of_origin_is_shown_as_text_never_as_markup(
    backend: str, world: dict[str, Any]
) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    hostile = 'https://a.invalid/"><script>alert(1)</script>'
    answer = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf, "url_of_origin": hostile},
        files=[("files", ("hostile.jpg", jpeg(sample("astronaut")), "image/jpeg"))],
    )
    [outcome] = answer.json()["outcomes"]
    page = client.get(f"/items/{outcome['sha256']}?case={north_id}").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
