"""The browser profile choice in the web app's capture form: the profiles kept in the locker
that belong to the case are offered to those who may capture into it, only those are taken (a
form never makes a profile nor names a path, and another case's profile is "no such
profile"), the profile's cookies go with the capture, and the custody event names the profile
and who chose it. A vault's profiles are sealed archives, offered by the name inside them.

A profile belongs to the case of its first capture into a case, given to it before the browser
starts (profiles.bind); here `belongs` calls that alone, and test_capture_session.py makes
real captures."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, sign_in
from fastapi.testclient import TestClient
from job_queue import jobs
from test_jobs_capture import worker
from web_site import Site, make_site, serve, serve_proxy

from docket import accounts
from docket.capture.profiles import bind, held, kept, opened, profile_folder
from docket.custody import log
from docket.locker import Locker
from docket.web.app import create_app
from docket.web.capture_routes import PROXY_VARIABLE

COOKIE = "member=velmora-7"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve(make_site(tmp_path / "site")) as served:
        yield served


def captures(locker: Locker) -> list[Any]:
    with locker.engine.connect() as conn:
        return [e for e in log.events(conn) if e.action == "capture.made"]


def belongs(locker: Locker, name: str, case: str) -> None:
    """Profile `name` belongs to `case`, as the holder's first capture into it in the profile
    leaves it (profiles.bind, which every capture calls before its browser starts)."""
    with locker.engine.connect() as conn, conn.begin():
        bind(conn, "holder", name, case)


def kept_for(locker: Locker, name: str, case: str) -> Path:
    folder = profile_folder(locker.path, name)
    belongs(locker, name, case)
    return folder


def offered(page: str) -> list[str]:
    [select] = re.findall(r'<select name="profile">(.*?)</select>', page, re.S)
    return re.findall(r'<option value="([^"]*)">', select)


def test_the_form_offers_the_kept_profiles_and_nothing_else(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north = world["client"], world["cases"]["North"]
    sign_in(client, "investigator-1")
    assert offered(client.get(f"/cases/{north}/capture").text) == [""]  # a fresh one only
    kept_for(locker, "field", "North")
    kept_for(locker, "desk", "North")
    kept_for(locker, "harbour-account", "South")  # another case's session
    profile_folder(locker.path, "spare")  # no capture into a case yet: nobody's
    elsewhere = tmp_path / "everyday-browser"
    elsewhere.mkdir()
    (locker.path / "profiles" / "linked").symlink_to(elsewhere)
    belongs(locker, "linked", "North")
    (locker.path / "profiles" / "notes.txt").write_text("not a profile")
    page = client.get(f"/cases/{north}/capture")
    assert page.status_code == 200
    assert offered(page.text) == ["", "desk", "field"]
    assert "harbour" not in page.text and "spare" not in page.text


def test_a_profile_not_kept_is_refused_and_none_is_made(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north = world["client"], world["cases"]["North"]
    kept_for(locker, "field", "North")
    kept_for(locker, "harbour-account", "South")
    profile_folder(locker.path, "spare")
    elsewhere = tmp_path / "everyday-browser"
    elsewhere.mkdir()
    (locker.path / "profiles" / "linked").symlink_to(elsewhere)
    belongs(locker, "linked", "North")
    csrf = sign_in(client, "investigator-1")
    names = ("newcomer", "../../home", "/tmp", "linked", "field/..", "x" * 150)
    for name in (*names, "harbour-account", "spare"):
        answer = client.post(
            f"/cases/{north}/capture",
            data={"url": "https://velmora.example/", "csrf": csrf, "profile": name},
        )
        assert answer.status_code == 400, name
        assert "no such browser profile for this case" in answer.json()["detail"], name
    assert sorted(p.name for p in (locker.path / "profiles").iterdir()) == [
        "field",
        "harbour-account",
        "linked",
        "spare",
    ]
    assert list(elsewhere.iterdir()) == []
    assert captures(locker) == []
    # Those who may not capture into the case are refused before any profile is looked at.
    csrf = sign_in(client, "viewer-1")
    answer = client.post(
        f"/cases/{north}/capture",
        data={"url": "https://velmora.example/", "csrf": csrf, "profile": "field"},
    )
    assert answer.status_code == 403


def test_a_capture_from_the_web_uses_the_chosen_profile_and_the_event_names_it(
    world: dict[str, Any], locker: Locker, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SQLite the page shows the parts captured; on PostgreSQL a worker captures each."""
    client, north = world["client"], world["cases"]["North"]
    queued = locker.engine.dialect.name == "postgresql"
    kept_for(locker, "field", "North")
    csrf = sign_in(client, "investigator-1")
    with serve_proxy({"velmora.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv(PROXY_VARIABLE, proxy.url)
        base = f"http://velmora.test:{site.port}"
        for path, profile in (
            ("/sign-in.html", "field"),
            ("/members.html", "field"),
            ("/members.html", ""),
        ):
            answer = client.post(
                f"/cases/{north}/capture",
                data={"url": base + path, "csrf": csrf, "profile": profile},
                headers={"Accept": "text/html"},
            )
            if queued:
                assert answer.status_code == 202, answer.text
                assert "Capture queued as job" in answer.text
                ran = worker(locker)
                assert ran.returncode == 0, ran.stderr
            else:
                assert answer.status_code == 200, answer.text
                assert re.search(r'<a href="/items/[0-9a-f]{64}">', answer.text)  # its parts
    sent = [cookie for asked, cookie in site.cookies if asked == "/members.html"]
    assert sent == [COOKIE, ""]  # the profile's cookie went with it; a fresh one has none
    published = (locker.path / "keys/wacz-signing.pub").read_text().strip()
    fingerprint = "SHA256:" + hashlib.sha256(base64.b64decode(published)).hexdigest()
    made = captures(locker)
    if queued:  # signed by the locker's WACZ key, as the page would have said
        assert {e.details["wacz_public_key"] for e in made} == {published}
    else:
        assert re.search(f"by this locker's WACZ key <code[^>]*>{fingerprint}</code>", answer.text)
    assert [(e.details["profile"], e.actor) for e in made] == [
        ("field", "investigator-1"),
        ("field", "investigator-1"),
        (None, "investigator-1"),
    ]


def test_a_profile_in_use_by_another_capture_is_refused_in_one_line(
    world: dict[str, Any], locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, north = world["client"], world["cases"]["North"]
    monkeypatch.setenv(PROXY_VARIABLE, "http://127.0.0.1:9")  # names resolved by the proxy
    folder = kept_for(locker, "field", "North")
    csrf = sign_in(client, "investigator-1")
    in_use = (
        "field: the browser profile is in use by another capture; try again once it has finished"
    )
    with held(folder):  # as a capture running with it holds it
        answer = client.post(
            f"/cases/{north}/capture",
            data={"url": "https://velmora.example/", "csrf": csrf, "profile": "field"},
        )
        if locker.engine.dialect.name == "postgresql":  # queued: the worker finds it in use
            assert answer.status_code == 202, answer.text
            ran = worker(locker)
            assert ran.returncode == 0, ran.stderr
            [failed] = jobs(locker)
            assert (failed.status, failed.reason) == ("failed", in_use)
        else:
            assert answer.status_code == 400
            assert answer.json()["detail"] == in_use
    assert captures(locker) == []
    with held(folder):  # released when the capture that held it ended
        assert kept(locker.path) == ["field"]  # its lock file is no profile


def test_a_vaults_sealed_profiles_are_offered_by_name_and_used_from_the_web(
    tmp_path: Path, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    vault = Locker.create(tmp_path / "vault", actor="setup", vault_passphrase="a long passphrase")
    with vault.engine.begin() as conn:
        accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
    client = TestClient(create_app(vault))
    csrf = sign_in(client, "ada")
    created = client.post("/cases", data={"csrf": csrf, "name": "North"}, follow_redirects=False)
    assert created.status_code in (200, 303), created.text
    north = client.get("/api/cases").json()[0]["id"]
    with opened(vault, "field"):  # made, sealed, as `docket capture --profile field` makes it
        pass
    belongs(vault, "field", "North")
    assert [p for p in (vault.path / "profiles").iterdir() if p.is_dir()] == []
    assert offered(client.get(f"/cases/{north}/capture").text) == ["", "field"]
    refused = client.post(
        f"/cases/{north}/capture",
        data={"url": "https://velmora.example/", "csrf": csrf, "profile": "desk"},
    )
    assert refused.status_code == 400
    assert "no such browser profile for this case" in refused.json()["detail"]
    with serve_proxy({"velmora.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv(PROXY_VARIABLE, proxy.url)
        for path in ("/sign-in.html", "/members.html"):
            answer = client.post(
                f"/cases/{north}/capture",
                data={
                    "url": f"http://velmora.test:{site.port}{path}",
                    "csrf": csrf,
                    "profile": "field",
                },
            )
            assert answer.status_code == 200, answer.text
    assert [cookie for asked, cookie in site.cookies if asked == "/members.html"] == [COOKIE]
    assert offered(client.get(f"/cases/{north}/capture").text) == ["", "field"]
    assert [p for p in (vault.path / "profiles").iterdir() if p.is_dir()] == []
    vault.close()
