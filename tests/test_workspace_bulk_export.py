"""Export of the grid's ticked items (issue 17's bulk export): a package of just those items,
from the same export as the whole case's, by those who may export, each item in the case."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from conftest import photo, sign_in, take
from exporting import package_of

from docket.custody import log
from docket.disclose.check import check
from docket.locker import Locker


def _exports(locker: Locker) -> list[Any]:
    with locker.engine.connect() as conn:
        return [e for e in log.events(conn) if e.action == "package.exported"]


def test_the_ticked_items_export_alone_as_a_package_that_checks(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    other = take(locker, photo(tmp_path / "more", "pier.jpg", seed=77), case="North")
    left_out = str(other.outcomes[0].sha256)
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    page = client.get(f"/cases/{north}").text
    assert f'formaction="/cases/{north}/export"' in page
    answer = client.post(
        f"/cases/{north}/export",
        data={"csrf": csrf, "profile": "court", "items": [world["north"]], "action": "tag"},
    )
    package = tmp_path / "ticked.zip"
    package.write_bytes(package_of(client, locker, answer))
    assert check(package).ok
    with zipfile.ZipFile(package) as opened:
        names = opened.namelist()
        listed = json.loads(opened.read(next(n for n in names if n.endswith("package.json"))))
    assert any(world["north"] in n for n in names) and not any(left_out in n for n in names)
    assert world["north"] in json.dumps(listed) and left_out not in json.dumps(listed)
    [event] = _exports(locker)
    assert event.details["items"] == [world["north"]] and event.details["case"] == "North"
    assert event.actor == "investigator-1"


def test_an_item_outside_the_case_stops_the_export(world: dict[str, Any], locker: Locker) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    answer = client.post(
        f"/cases/{north}/export",
        data={"csrf": csrf, "profile": "court", "items": [world["north"], world["south"]]},
    )
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"item {world['south'][:12]}: no such item in case {north}"
    assert _exports(locker) == []


def test_reviewers_tick_items_but_do_not_export_them(world: dict[str, Any], locker: Locker) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    page = client.get(f"/cases/{north}").text
    assert 'id="bulk"' in page and "/export" not in page
    refused = client.post(
        f"/cases/{north}/export",
        data={"csrf": csrf, "profile": "court", "items": [world["north"]]},
    )
    assert refused.status_code == 403
    assert _exports(locker) == []
