"""Team management (issue 10): accounts disabled and enabled, passwords reset and changed, API
tokens with expiry listed, issued and revoked, members of a case listed, re-roled and removed;
through the API, the pages and the command line, each change a custody event."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, sign_in
from fastapi.testclient import TestClient
from media import jpeg, sample
from sqlalchemy import select, text, update
from test_migrate import downgrade

from docket import accounts
from docket.catalogue import migrate, schema
from docket.errors import DocketError
from docket.locker import Locker
from docket.verify import verify
from docket.web import throttle
from docket.web.app import create_app

NEW_PASSWORD = "a brand new passphrase"
TEAM_ACTIONS = (
    "user.disabled",
    "user.enabled",
    "user.password_changed",
    "token.issued",
    "token.revoked",
    "case.member_added",
    "case.member_role_changed",
    "case.member_removed",
)


def _events(locker: Locker, *actions: str) -> list[dict[str, Any]]:
    with locker.engine.connect() as conn:
        rows = conn.execute(
            select(schema.events.c.action, schema.events.c.actor, schema.events.c.details)
            .where(schema.events.c.action.in_(actions))
            .order_by(schema.events.c.seq)
        ).all()
    return [{"action": a, "actor": who, **json.loads(d)} for a, who, d in rows]


def _client(world: dict[str, Any], name: str) -> tuple[TestClient, str]:
    client = TestClient(world["client"].app)
    return client, sign_in(client, name)


def _token(locker: Locker, user: accounts.User, days: int = 30) -> accounts.Issued:
    with locker.engine.connect() as conn, conn.begin():
        return accounts.new_token(conn, user, "script", days)


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _no_inline_code(page: Any) -> None:
    assert page.status_code == 200, page.text
    assert not re.search(r"\s(style|on[a-z]+)\s*=", page.text)
    for tag in re.findall(r"<(?:style|script)\b[^>]*>", page.text):
        assert 'nonce="' in tag


def test_a_disabled_user_s_session_and_token_stop_at_once(
    world: dict[str, Any], locker: Locker
) -> None:
    viewer = world["users"]["viewer"]
    issued = _token(locker, viewer)
    theirs, _ = _client(world, "viewer-1")
    admin, csrf = _client(world, "ada")
    assert theirs.get("/api/cases").status_code == 200
    assert theirs.get("/api/cases", headers=_bearer(issued.secret)).status_code == 200
    listed = {u["name"]: u for u in admin.get("/api/users").json()}
    assert listed["viewer-1"]["disabled"] is False and listed["viewer-1"]["last_sign_in"]
    assert listed["outsider-1"]["last_sign_in"] is None

    done = admin.post(f"/api/users/{viewer.id}/disable", headers={"x-csrf-token": csrf})
    assert done.status_code == 200 and done.json()["disabled"] is True
    assert theirs.get("/api/cases").status_code == 401
    assert (
        TestClient(admin.app).get("/api/cases", headers=_bearer(issued.secret)).status_code == 401
    )
    refused = theirs.post("/login", data={"name": "viewer-1", "password": PASSWORD})
    assert refused.status_code == 401
    again = admin.post(f"/api/users/{viewer.id}/disable", headers={"x-csrf-token": csrf})
    assert again.status_code == 400 and "already disabled" in again.json()["detail"]
    ada_id = listed["ada"]["id"]  # an admin cannot disable themselves
    own = admin.post(f"/api/users/{ada_id}/disable", headers={"x-csrf-token": csrf})
    assert own.status_code == 403

    assert admin.post(f"/api/users/{viewer.id}/enable", headers={"x-csrf-token": csrf}).json() == {
        **listed["viewer-1"],
        "disabled": False,
    }
    sign_in(theirs, "viewer-1")
    assert (
        TestClient(admin.app).get("/api/cases", headers=_bearer(issued.secret)).status_code == 401
    )
    disabled, enabled = _events(locker, "user.disabled", "user.enabled")
    assert disabled == {
        "action": "user.disabled",
        "actor": "ada",
        "name": "viewer-1",
        "tokens_revoked": [issued.id],
        "sessions_ended": 1,
    }
    assert enabled["name"] == "viewer-1"


def test_accounts_are_an_admin_s_to_manage(world: dict[str, Any]) -> None:
    client, csrf = _client(world, "owner-1")
    viewer = world["users"]["viewer"]
    assert client.get("/api/users").status_code == 403
    assert client.get("/users").status_code == 403
    headers = {"x-csrf-token": csrf}
    assert client.post(f"/api/users/{viewer.id}/disable", headers=headers).status_code == 403
    assert client.post(f"/api/users/{10**6}/disable", headers=headers).status_code == 403
    reset = client.put(
        f"/api/users/{viewer.id}/password", json={"password": NEW_PASSWORD}, headers=headers
    )
    assert reset.status_code == 403
    assert client.get(f"/api/users/{viewer.id}/tokens").status_code == 403
    assert client.get(f"/users/{viewer.id}/tokens").status_code == 403
    forged = client.post(f"/users/{viewer.id}/disable", data={"csrf": "forged"})
    assert forged.status_code == 403


def test_admin_pages_disable_enable_and_reset(world: dict[str, Any], locker: Locker) -> None:
    admin, csrf = _client(world, "ada")
    reviewer = world["users"]["reviewer"]
    page = admin.get("/users")
    _no_inline_code(page)
    assert "reviewer-1" in page.text and f'action="/users/{reviewer.id}/disable"' in page.text
    answer = admin.post(f"/users/{reviewer.id}/disable", data={"csrf": csrf})
    assert answer.status_code == 200 and answer.url.path == "/users"
    assert f'action="/users/{reviewer.id}/enable"' in answer.text
    admin.post(f"/users/{reviewer.id}/enable", data={"csrf": csrf})
    theirs, _ = _client(world, "reviewer-1")
    short = admin.post(f"/users/{reviewer.id}/password", data={"csrf": csrf, "password": "short"})
    assert short.status_code == 400 and "12 characters" in short.json()["detail"]
    admin.post(f"/users/{reviewer.id}/password", data={"csrf": csrf, "password": NEW_PASSWORD})
    assert theirs.get("/api/cases").status_code == 401  # a reset ends their sessions
    assert (
        theirs.post("/login", data={"name": "reviewer-1", "password": PASSWORD}).status_code == 401
    )
    sign_in(theirs, "reviewer-1", NEW_PASSWORD)
    changed = _events(locker, "user.password_changed")
    assert changed == [
        {"action": "user.password_changed", "actor": "ada", "name": "reviewer-1", "reset": True}
    ]
    assert NEW_PASSWORD not in json.dumps(changed)


def test_changing_one_s_own_password_ends_one_s_other_sessions(
    world: dict[str, Any], locker: Locker
) -> None:
    here, csrf = _client(world, "investigator-1")
    there, _ = _client(world, "investigator-1")
    headers = {"x-csrf-token": csrf}
    wrong = here.put(
        "/api/account/password",
        json={"current": "not it at all", "new": NEW_PASSWORD},
        headers=headers,
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.json()["detail"]
    assert there.get("/api/cases").status_code == 200
    done = here.put(
        "/api/account/password", json={"current": PASSWORD, "new": NEW_PASSWORD}, headers=headers
    )
    assert done.status_code == 204
    assert here.get("/api/cases").status_code == 200
    assert there.get("/api/cases").status_code == 401
    # The page does the same.
    there_csrf = sign_in(there, "investigator-1", NEW_PASSWORD)
    page = there.post(
        "/account/password", data={"csrf": there_csrf, "current": NEW_PASSWORD, "new": PASSWORD}
    )
    _no_inline_code(page)
    assert "Password changed" in page.text
    assert here.get("/api/cases").status_code == 401
    assert there.get("/api/cases").status_code == 200
    changes = _events(locker, "user.password_changed")
    assert [(c["actor"], c["reset"]) for c in changes] == [("investigator-1", False)] * 2


def test_a_password_reset_between_checking_and_changing_refuses_the_change(
    world: dict[str, Any], locker: Locker
) -> None:
    """The current password is checked (Argon2) before the shared commit, so an admin's reset
    may land in between: the change must then be refused, not undo the reset."""
    with locker.engine.connect() as conn:
        person = accounts.user_named(conn, "investigator-1")
        checked = accounts.checked_current(conn, person, PASSWORD)
    with locker.engine.begin() as conn:
        accounts.reset_password(conn, "admin", person, "set by the admin, 2026")
    with locker.engine.begin() as conn, pytest.raises(DocketError, match="meanwhile"):
        accounts.change_password(conn, person, checked, accounts.NewPassword.of(NEW_PASSWORD))
    with locker.engine.connect() as conn:
        assert accounts.authenticate(conn, "investigator-1", "set by the admin, 2026") == person
        assert accounts.authenticate(conn, "investigator-1", NEW_PASSWORD) is None
    with pytest.raises(DocketError, match="at least 12"):
        accounts.NewPassword.of("too short")


def test_guessing_one_s_current_password_is_slowed_like_sign_in(world: dict[str, Any]) -> None:
    client, csrf = _client(world, "reviewer-1")
    guess = {"current": "a wrong guess!", "new": NEW_PASSWORD}
    for _ in range(throttle.FREE_PER_ACCOUNT):
        wrong = client.put("/api/account/password", json=guess, headers={"x-csrf-token": csrf})
        assert "current password is wrong" in wrong.json()["detail"]
    slowed = client.put("/api/account/password", json=guess, headers={"x-csrf-token": csrf})
    assert slowed.status_code == 400 and "too many tries" in slowed.json()["detail"]
    refused = TestClient(client.app).post(
        "/login", data={"name": "reviewer-1", "password": PASSWORD}
    )
    assert refused.status_code == 429  # the same count as sign-in's


def test_tokens_issued_listed_used_and_revoked_through_the_api(
    world: dict[str, Any], locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, csrf = _client(world, "reviewer-1")
    headers = {"x-csrf-token": csrf}
    made = client.post("/api/account/tokens", json={"label": "laptop", "days": 7}, headers=headers)
    assert made.status_code == 201
    issued = made.json()
    fresh = TestClient(client.app)
    assert fresh.get("/api/cases", headers=_bearer(issued["token"])).status_code == 200
    minted = fresh.post("/api/account/tokens", json={}, headers=_bearer(issued["token"]))
    assert minted.status_code == 403  # a token does not make tokens that outlive it
    listed = client.get("/api/account/tokens").json()
    assert [(t["id"], t["label"], t["state"]) for t in listed] == [(issued["id"], "laptop", "live")]
    assert listed[0]["expires"] == issued["expires"] and listed[0]["last_used"] is not None
    assert issued["token"] not in json.dumps(listed)

    monkeypatch.setenv(accounts.MAX_TOKEN_DAYS_ENV, "10")
    long = client.post("/api/account/tokens", json={"days": 11}, headers=headers)
    assert long.status_code == 400 and "1 to 10 days" in long.json()["detail"]
    monkeypatch.delenv(accounts.MAX_TOKEN_DAYS_ENV)

    gone = client.delete(f"/api/tokens/{issued['id']}", headers=headers)
    assert gone.status_code == 204
    assert fresh.get("/api/cases", headers=_bearer(issued["token"])).status_code == 401
    assert client.get("/api/account/tokens").json()[0]["state"] == "revoked"

    others = _token(locker, world["users"]["viewer"])  # someone else's: not found
    assert client.delete(f"/api/tokens/{others.id}", headers=headers).status_code == 404
    admin, admin_csrf = _client(world, "ada")
    viewer_id = world["users"]["viewer"].id
    assert [t["id"] for t in admin.get(f"/api/users/{viewer_id}/tokens").json()] == [others.id]
    revoked = admin.delete(f"/api/tokens/{others.id}", headers={"x-csrf-token": admin_csrf})
    assert revoked.status_code == 204
    assert fresh.get("/api/cases", headers=_bearer(others.secret)).status_code == 401

    events = _events(locker, "token.issued", "token.revoked")
    assert [(e["action"], e["actor"], e["user"], e["token"]) for e in events] == [
        ("token.issued", "reviewer-1", "reviewer-1", issued["id"]),
        ("token.revoked", "reviewer-1", "reviewer-1", issued["id"]),
        ("token.issued", "viewer-1", "viewer-1", others.id),
        ("token.revoked", "ada", "viewer-1", others.id),
    ]
    assert issued["token"] not in json.dumps(events) and others.secret not in json.dumps(events)


def test_an_expired_token_is_refused(world: dict[str, Any], locker: Locker) -> None:
    issued = _token(locker, world["users"]["owner"], days=1)
    client = TestClient(world["client"].app)
    assert client.get("/api/cases", headers=_bearer(issued.secret)).status_code == 200
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(
            update(schema.api_tokens)
            .where(schema.api_tokens.c.id == issued.id)
            .values(expires_at="2020-01-01T00:00:00.000000Z")
        )
    assert client.get("/api/cases", headers=_bearer(issued.secret)).status_code == 401
    with locker.engine.connect() as conn:
        assert accounts.list_tokens(conn, world["users"]["owner"])[0]["state"] == "expired"


def test_the_account_page_issues_shows_once_and_revokes(world: dict[str, Any]) -> None:
    client, csrf = _client(world, "viewer-1")
    _no_inline_code(client.get("/account"))
    made = client.post("/account/tokens", data={"csrf": csrf, "label": "phone", "days": "3"})
    _no_inline_code(made)
    secret = re.search(r"<code>([A-Za-z0-9_-]{40,})</code>", made.text)
    assert secret is not None
    page = client.get("/account")
    assert "phone" in page.text and secret.group(1) not in page.text
    number = re.search(r'action="/tokens/(\d+)/revoke"', page.text)
    assert number is not None
    revoked = client.post(f"/tokens/{number.group(1)}/revoke", data={"csrf": csrf})
    assert revoked.url.path == "/account" and "revoked" in revoked.text
    assert (
        TestClient(client.app).get("/api/cases", headers=_bearer(secret.group(1))).status_code
        == 401
    )
    admin, _ = _client(world, "ada")
    _no_inline_code(admin.get(f"/users/{world['users']['viewer'].id}/tokens"))


def test_members_listed_re_roled_and_removed_through_the_api(
    world: dict[str, Any], locker: Locker
) -> None:
    north, users = world["cases"]["North"], world["users"]
    client, csrf = _client(world, "owner-1")
    headers = {"x-csrf-token": csrf}
    members = client.get(f"/api/cases/{north}/members").json()
    assert {m["name"]: m["role"] for m in members} == {
        "investigator-1": "investigator",
        "owner-1": "owner",
        "reviewer-1": "reviewer",
        "viewer-1": "viewer",
    }
    viewer, viewer_csrf = _client(world, "viewer-1")
    assert viewer.get(f"/api/cases/{north}/members").status_code == 403
    tried = viewer.put(
        f"/api/cases/{north}/members/{users['viewer'].id}",
        json={"role": "owner"},
        headers={"x-csrf-token": viewer_csrf},
    )
    assert tried.status_code == 403
    outsider, _ = _client(world, "outsider-1")
    assert outsider.get(f"/api/cases/{north}/members").status_code == 404

    up = client.put(
        f"/api/cases/{north}/members/{users['viewer'].id}",
        json={"role": "reviewer"},
        headers=headers,
    )
    assert up.status_code == 204
    assert (
        viewer.post(f"/items/{world['north']}/reveal", data={"csrf": viewer_csrf}).status_code
        == 200
    )
    bad = client.put(
        f"/api/cases/{north}/members/{users['viewer'].id}", json={"role": "boss"}, headers=headers
    )
    assert bad.status_code == 400
    owner_id = users["owner"].id
    last = client.delete(f"/api/cases/{north}/members/{owner_id}", headers=headers)
    assert last.status_code == 403 and "last owner" in last.json()["detail"]
    demoted = client.put(
        f"/api/cases/{north}/members/{owner_id}", json={"role": "viewer"}, headers=headers
    )
    assert demoted.status_code == 403
    stranger = client.delete(f"/api/cases/{north}/members/{users['outsider'].id}", headers=headers)
    assert stranger.status_code == 404
    again = client.post(
        f"/api/cases/{north}/members",
        json={"user": "reviewer-1", "role": "viewer"},
        headers=headers,
    )
    assert again.status_code == 400 and "already" in again.json()["detail"]

    removed = client.delete(f"/api/cases/{north}/members/{users['viewer'].id}", headers=headers)
    assert removed.status_code == 204
    assert viewer.get(f"/api/cases/{north}/items").status_code == 404
    changes = _events(locker, "case.member_role_changed", "case.member_removed")
    assert changes == [
        {
            "action": "case.member_role_changed",
            "actor": "owner-1",
            "case": north,
            "user": "viewer-1",
            "from": "viewer",
            "role": "reviewer",
        },
        {
            "action": "case.member_removed",
            "actor": "owner-1",
            "case": north,
            "user": "viewer-1",
            "role": "reviewer",
        },
    ]
    assert verify(locker, quick=True).ok


def test_adding_a_member_through_the_api_tells_no_one_else_which_accounts_exist(
    world: dict[str, Any],
) -> None:
    """An account that exists and one that does not get the same answer from anyone who may
    not manage the case: a viewer, an outsider, and anyone naming a case that does not exist."""
    north = world["cases"]["North"]
    for person in ("viewer-1", "outsider-1"):
        client, csrf = _client(world, person)
        for case in (north, 99_999):
            answers = {
                name: client.post(
                    f"/api/cases/{case}/members",
                    json={"user": name, "role": "viewer"},
                    headers={"x-csrf-token": csrf},
                )
                for name in ("ada", "no-such-person-xyz")
            }
            shown = {(a.status_code, a.text) for a in answers.values()}
            assert len(shown) == 1 and answers["ada"].status_code in (403, 404), (person, shown)
    owner, csrf = _client(world, "owner-1")
    unknown = owner.post(
        f"/api/cases/{north}/members",
        json={"user": "no-such-person-xyz", "role": "viewer"},
        headers={"x-csrf-token": csrf},
    )
    assert unknown.status_code == 404 and "no such user" in unknown.text  # the owner is told


def test_the_members_page_adds_re_roles_and_removes(world: dict[str, Any]) -> None:
    north, users = world["cases"]["North"], world["users"]
    client, csrf = _client(world, "owner-1")
    page = client.get(f"/cases/{north}/members")
    _no_inline_code(page)
    assert "investigator-1" in page.text
    added = client.post(
        f"/cases/{north}/members/add", data={"csrf": csrf, "name": "outsider-1", "role": "owner"}
    )
    assert added.status_code == 200 and "outsider-1" in added.text
    outsider = users["outsider"].id
    client.post(f"/cases/{north}/members/{outsider}/role", data={"csrf": csrf, "role": "viewer"})
    listed = {m["name"]: m["role"] for m in client.get(f"/api/cases/{north}/members").json()}
    assert listed["outsider-1"] == "viewer"
    client.post(f"/cases/{north}/members/{outsider}/remove", data={"csrf": csrf})
    assert "outsider-1" not in client.get(f"/cases/{north}/members").text
    viewer, viewer_csrf = _client(world, "viewer-1")
    assert viewer.get(f"/cases/{north}/members").status_code == 403
    tried = viewer.post(
        f"/cases/{north}/members/{users['viewer'].id}/role",
        data={"csrf": viewer_csrf, "role": "owner"},
    )
    assert tried.status_code == 403


def test_the_command_line_manages_users_tokens_and_members(
    cli: Any, locker: Locker, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = ("--locker", locker.path)
    before = len(_events(locker, *TEAM_ACTIONS))
    listed = cli("user", "ls", "--json", *at).json()
    assert {u["name"] for u in listed} >= {"ada", "viewer-1"}
    made = cli("user", "token", "viewer-1", "--expires", "5", "--label", "ci", *at)
    assert made.code == 0
    secret = made.out.strip()
    tokens = cli("user", "tokens", "viewer-1", "--json", *at).json()
    assert [(t["label"], t["state"]) for t in tokens] == [("ci", "live")]
    assert secret not in json.dumps(tokens)
    client = TestClient(world["client"].app)
    assert client.get("/api/cases", headers=_bearer(secret)).status_code == 200
    assert cli("user", "revoke", str(tokens[0]["id"]), *at).code == 0
    assert client.get("/api/cases", headers=_bearer(secret)).status_code == 401
    too_long = cli("user", "token", "viewer-1", "--expires", "9999", *at)
    assert too_long.code == 1 and "1 to 365 days" in too_long.err

    assert cli("user", "disable", "viewer-1", *at).code == 0
    assert "disabled" in cli("user", "ls", *at).out
    assert client.post("/login", data={"name": "viewer-1", "password": PASSWORD}).status_code == 401
    assert cli("user", "enable", "viewer-1", *at).code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    assert cli("user", "password", "viewer-1", "--password-stdin", *at).code == 0
    sign_in(client, "viewer-1", NEW_PASSWORD)

    members = cli("member", "ls", "North", "--json", *at).json()
    assert {m["name"] for m in members} == {"owner-1", "investigator-1", "reviewer-1", "viewer-1"}
    assert cli("member", "add", "North", "outsider-1", "viewer", *at).code == 0
    twice = cli("member", "add", "North", "outsider-1", "viewer", *at)
    assert twice.code == 1 and "already a member" in twice.err
    assert cli("member", "role", "North", "outsider-1", "reviewer", *at).code == 0
    assert re.search(r"outsider-1 +reviewer", cli("member", "ls", "North", *at).out)
    assert cli("member", "remove", "North", "outsider-1", *at).code == 0
    last = cli("member", "remove", "North", "owner-1", *at)
    assert last.code == 1 and "last owner" in last.err
    actions = [e["action"] for e in _events(locker, *TEAM_ACTIONS)][before:]
    assert actions == [
        "token.issued",
        "token.revoked",
        "user.disabled",
        "user.enabled",
        "user.password_changed",
        "case.member_added",
        "case.member_role_changed",
        "case.member_removed",
    ]
    assert cli("verify", *at).code == 0


def test_member_ls_of_a_case_with_no_members_says_so(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    at = ("--locker", locker.path)
    empty = cli("user", "ls", *at)
    assert empty.code == 0 and empty.out.startswith("no accounts yet")
    picture = tmp_path / "in" / "p.jpg"
    picture.parent.mkdir()
    picture.write_bytes(jpeg(sample("coffee")))
    assert cli("ingest", picture, "--case", "Quiet", *at).code == 0
    listed = cli("member", "ls", "Quiet", *at)
    assert listed.code == 0
    assert listed.out == "Quiet has no members (add one: docket member add Quiet NAME ROLE)\n"
    assert cli("member", "ls", "Quiet", "--json", *at).json() == []
    missing = cli("member", "ls", "Nowhere", *at)
    assert missing.code == 1 and "'Nowhere': no such case" in missing.err


def test_a_token_from_before_migration_0004_carries_over_with_an_expiry(
    world: dict[str, Any], locker: Locker
) -> None:
    secret = "a token issued by an older docket"
    path = locker.path
    with locker.engine.connect() as conn, conn.begin():
        downgrade(conn, "0003")
        conn.execute(
            text("UPDATE users SET token_hash = :digest WHERE name = 'viewer-1'"),
            {"digest": accounts._digest(secret)},
        )
    locker.close()
    with Locker.open(path) as reopened:
        with reopened.engine.connect() as conn:
            assert migrate.current(conn) == migrate.head()
            tokens = accounts.list_tokens(conn, world["users"]["viewer"])
        assert [(t["label"], t["state"]) for t in tokens] == [("before 0004", "live")]
        left = datetime.fromisoformat(tokens[0]["expires"]) - datetime.now(UTC)
        assert timedelta(days=89) < left <= timedelta(days=90)
        client = TestClient(create_app(reopened))
        assert client.get("/api/cases", headers=_bearer(secret)).status_code == 200
        sign_in(client, "viewer-1")  # memberships and sessions survived the rebuilt users table
        assert {c["name"] for c in client.get("/api/cases").json()} == {"North"}
        assert verify(reopened, quick=True).ok


@pytest.mark.parametrize(("role", "shown"), [("owner", True), ("viewer", False)])
def test_the_case_page_links_to_its_members_for_owners(
    world: dict[str, Any], role: str, shown: bool
) -> None:
    client: TestClient = world["client"]
    sign_in(client, f"{role}-1")
    north = world["cases"]["North"]
    page = client.get(f"/cases/{north}")
    assert page.status_code == 200
    assert (f'href="/cases/{north}/members"' in page.text) is shown
