"""Red team of every write the web app offers (each POST, PUT and DELETE of its OpenAPI
description), sent by case A's owner ("North", the strongest role there) with case B's ids
(test_case_walls' `walls`: B's case, B's own item, the shared bytes looked at through B, B's
incident and its links, B's saved search, B's member). Each must change nothing, show nothing
of B, and answer exactly as it does for an id that does not exist, so that A never learns
that B or its records exist. Routes about the signed-in person's own account and the locker's
vocabulary take no id of B and are left out."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from conftest import sign_in
from sqlalchemy import func, select
from test_case_walls import MARKER, walls

from docket.catalogue import schema
from docket.locker import Locker

__all__ = ["walls"]
NOBODY = 10**9
NO_ITEM = "0" * 64
# Every field a write of the app reads, with a value it would take: so that what answers is
# the route's guard, not a complaint about the body.
FIELDS: dict[str, Any] = {
    "flag": "graphic",
    "tag": "harbour",
    "kind": "note",
    "text": "seen",
    "status": "verified",
    "comment": "seen",
    "action": "tag",
    "value": "harbour",
    "name": "mine",
    "query": "q=harbour",
    "title": "raid",
    "profile": "court",
    "user": "viewer-1",
    "role": "viewer",
    "url": "http://example.invalid/",
    "regions": [[1, 1, 5, 5]],
    "x": "1",
    "y": "1",
    "w": "5",
    "h": "5",
    "derivative": "ab",
    "acknowledged_faces": 0,
    "time": "2024-03-01T12:00:00+03:00",
    "place": "33.5,36.3",
    "shown": "original",
    "note": "seen",
    "incident": "1",
    "password": "a long enough new password",
}
SKIPPED: tuple[str, ...] = ("/throttles", "/api/throttles", "/account", "/api/account")
SKIPPED += ("/tokens", "/api/tokens")


def _events(locker: Locker) -> int:
    with locker.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.events)).scalar_one())


def _b_values(walls: dict[str, Any], locker: Locker) -> dict[str, list[tuple[str, str]]]:
    """(B's value, the same path part for nothing that exists) of each path parameter; an
    item of B is asked for bare and through B's case."""
    with locker.engine.connect() as conn:
        links = conn.execute(
            select(schema.incident_links.c.id).where(
                schema.incident_links.c.incident_id == walls["b_incident"]
            )
        ).scalars()
        member = conn.execute(
            select(schema.users.c.id).where(schema.users.c.name == "zq7-mark-member")
        ).scalar_one()
    b_case = walls["b_id"]
    return {
        "case_id": [(str(b_case), str(NOBODY))],
        "sha256": [
            (walls["b_item"], NO_ITEM),
            (f"{walls['shared']}?case={b_case}", f"{walls['shared']}?case={NOBODY}"),
        ],
        "incident_id": [(str(walls["b_incident"]), str(NOBODY))],
        "link_id": [(str(link), str(NOBODY)) for link in links],
        "search_id": [(str(walls["b_search"]), str(NOBODY))],
        "user_id": [(str(member), str(NOBODY))],
        "number": [("0", "0")],
    }


def _writes(app: Any) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in ("post", "put", "delete")
        and "{" in path
        and not path.startswith(tuple(f"{s}/" for s in SKIPPED))
    )


def _send(client: Any, method: str, path: str, csrf: str, item: str) -> Any:
    """The write, its body every field (the item a bulk change or a link names: `item`); the
    marks a shadow's answer takes in its query. A JSON body whose route takes text alone is
    sent again with the text fields only."""
    fields = {**FIELDS, "items": [item], "item": item}
    if path.split("?")[0].endswith("/shadow"):
        path += ("&" if "?" in path else "?") + "base=10,90&top=10,10&tip=60,90"
    if path.startswith("/api/"):
        headers = {"x-csrf-token": csrf}
        answer = client.request(method, path, json=fields, headers=headers)
        if answer.status_code == 422:
            text = {k: v for k, v in fields.items() if isinstance(v, str)}
            answer = client.request(method, path, json=text, headers=headers)
        return answer
    form = {k: v if isinstance(v, str) or k == "items" else str(v) for k, v in fields.items()}
    return client.request(method, path, data={**form, "csrf": csrf}, follow_redirects=False)


def _said(answer: Any, ids: list[str]) -> tuple[int, str]:
    """The answer's status and words, with the ids asked for taken out."""
    text = answer.text
    for value in sorted(set(ids), key=len, reverse=True):
        text = re.sub(rf"\b({re.escape(value)}|{re.escape(value[:12])})\b", "<id>", text)
    return answer.status_code, text


def test_no_write_with_b_ids_changes_or_tells_anything(
    walls: dict[str, Any], locker: Locker
) -> None:
    client = walls["client"]
    csrf = sign_in(client, "owner-1")
    values = _b_values(walls, locker)
    before = _events(locker)
    tried, differing = 0, []
    for method, template in _writes(client.app):
        names = re.findall(r"{(\w+)}", template)
        for combo in itertools.product(*(values[n] for n in names)):
            asked, nothing = template, template
            query = ""
            for name, (b_value, none_value) in zip(names, combo, strict=True):
                b_part, _, b_query = b_value.partition("?")
                none_part, _, _ = none_value.partition("?")
                asked = asked.replace(f"{{{name}}}", b_part)
                nothing = nothing.replace(f"{{{name}}}", none_part)
                query = query or b_query
            none_query = query.replace(str(walls["b_id"]), str(NOBODY)) if query else ""
            b_answer = _send(
                client, method, asked + (f"?{query}" if query else ""), csrf, walls["b_item"]
            )
            none_answer = _send(
                client, method, nothing + (f"?{none_query}" if query else ""), csrf, NO_ITEM
            )
            tried += 1
            where = f"{method} {asked}?{query}"
            assert 400 <= b_answer.status_code < 500, (where, b_answer.text[:300])
            found = MARKER.search(b_answer.content)
            assert not found, (where, b_answer.text[:300])
            ids = [v for pair in combo for v in (*pair, *(p.split("?")[0] for p in pair))]
            ids += [str(walls["b_id"]), str(NOBODY), walls["b_item"], NO_ITEM]
            if _said(b_answer, ids) != _said(none_answer, ids):
                differing.append((where, b_answer.text[:160], none_answer.text[:160]))
    assert _events(locker) == before
    assert tried > 40
    assert not differing, "\n".join(" | ".join(d) for d in differing)


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_a_weaker_role_writes_nothing_with_b_ids_either(
    walls: dict[str, Any], locker: Locker, role: str
) -> None:
    client = walls["client"]
    csrf = sign_in(client, f"{role}-1")
    values = _b_values(walls, locker)
    before = _events(locker)
    for method, template in _writes(client.app):
        names = re.findall(r"{(\w+)}", template)
        path = template
        for name in names:
            path = path.replace(f"{{{name}}}", values[name][0][0].split("?")[0])
        answer = _send(client, method, path, csrf, walls["b_item"])
        assert 400 <= answer.status_code < 500, (method, path, answer.text[:200])
        assert not MARKER.search(answer.content), (method, path)
    assert _events(locker) == before
