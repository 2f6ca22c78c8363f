"""Capture from the web app: into the case, by those who may upload; the server's own network
(file:, loopback, private, link-local) is refused whatever the form says. With SQLite the page
is captured in the request; on PostgreSQL it is queued and a worker captures it
(tests/test_jobs_capture.py)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in
from sqlalchemy import select
from test_jobs_capture import made, worker
from web_site import Site, serve_proxy

from docket.catalogue import schema
from docket.custody import log
from docket.locker import Locker
from docket.web.capture_routes import PROXY_VARIABLE


@pytest.mark.parametrize("backend", ["sqlite"])  # the guard refuses before anything is recorded
def test_the_web_app_refuses_to_capture_its_own_network(
    backend: str, world: dict[str, Any], locker: Locker, site: Site
) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    for url in (
        "file:///etc/passwd",
        "data:text/html,<p>x</p>",
        site.url("/gallery.html"),
        f"http://localhost:{site.port}/gallery.html",
        f"http://[::1]:{site.port}/gallery.html",
        "http://169.254.169.254/latest/meta-data/",
    ):
        answer = client.post(f"/cases/{north}/capture", data={"url": url, "csrf": csrf})
        assert answer.status_code == 400, url
        assert "refused" in answer.json()["detail"], url
    # Fields a browser might add are not flags: nothing lifts the refusal.
    answer = client.post(
        f"/cases/{north}/capture",
        data={"url": site.url("/gallery.html"), "csrf": csrf, "allow_private_network": "1"},
    )
    assert answer.status_code == 400
    assert site.requests == []
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "capture.made"]


def test_only_those_who_may_upload_capture(world: dict[str, Any]) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "viewer-1")
    answer = client.post(
        f"/cases/{north}/capture", data={"url": "https://example.invalid/", "csrf": csrf}
    )
    assert answer.status_code == 403
    assert client.get(f"/cases/{north}/capture").status_code == 403


def test_a_capture_from_the_web_lands_in_the_case_through_the_servers_proxy(
    world: dict[str, Any], locker: Locker, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    form = client.get(f"/cases/{north}/capture")
    assert form.status_code == 200 and 'name="url"' in form.text
    with serve_proxy({"velmora.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv(PROXY_VARIABLE, proxy.url)
        url = f"http://velmora.test:{site.port}/gallery.html"
        answer = client.post(
            f"/cases/{north}/capture", data={"url": url, "csrf": csrf, "note": "from the web"}
        )
        if locker.engine.dialect.name == "postgresql":  # queued: a worker captures it
            assert answer.status_code == 202, answer.text
            ran = worker(locker)
            assert ran.returncode == 0, ran.stderr
            [(_actor, done)] = made(locker)
        else:
            assert answer.status_code == 200, answer.text
            done = answer.json()
    assert done["final_url"] == url and done["status"] == 200
    assert all(port in proxy.ports for _path, port in site.requests)
    with locker.engine.connect() as conn:
        rows = (
            conn.execute(
                select(schema.acquisitions, schema.cases.c.name)
                .join(schema.cases, schema.cases.c.id == schema.acquisitions.c.case_id)
                .where(schema.acquisitions.c.method == "capture")
            )
            .mappings()
            .all()
        )
    assert {(r["name"], r["collector"], r["note"]) for r in rows} == {
        ("North", "investigator-1", "from the web")
    }
    assert len(rows) == len(done["parts"])
    listed = {row["sha256"] for row in client.get(f"/api/cases/{north}/items").json()}
    assert {part["sha256"] for part in done["parts"]} <= listed
