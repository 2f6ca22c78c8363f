"""Collection fields (issue 13): how, where from and when the collector got a file are kept on
the acquisition, in its custody event, shown by `show`, and checked before anything is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take
from sqlalchemy import select

from docket.catalogue import queries, schema
from docket.errors import CollectionFieldError
from docket.locker import Locker
from docket.verify import verify

URL = "https://example.invalid/posts/4471?lang=uk"


def test_collection_fields_are_on_the_acquisition_and_its_event(
    locker: Locker, tmp_path: Path
) -> None:
    summary = take(
        locker,
        photo(tmp_path / "in"),
        method="messenger",
        url_of_origin=URL,
        collected_at="2026-03-01T14:05:00+02:00",
    )
    sha = summary.outcomes[0].sha256 or ""
    with locker.engine.connect() as conn, conn.begin():
        acq = queries.describe_item(conn, sha)["acquisitions"][0]
        details = conn.execute(
            select(schema.events.c.details).where(schema.events.c.seq == acq["event"])
        ).scalar_one()
    assert acq["method"] == "messenger"
    assert acq["url_of_origin"] == URL
    assert acq["collected_at"] == "2026-03-01T14:05:00+02:00"
    logged = json.loads(details)["acquisition"]
    assert logged["url_of_origin"] == URL and logged["collected_at"] == acq["collected_at"]
    assert verify(locker, quick=True).ok


def test_an_edited_url_of_origin_is_found_by_verify(locker: Locker, tmp_path: Path) -> None:
    take(locker, photo(tmp_path / "in"), url_of_origin=URL)
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(schema.acquisitions.update().values(url_of_origin="https://other.invalid/"))
    report = verify(locker, quick=True)
    assert not report.ok
    assert any("differs from event" in p.message for p in report.problems)


def test_an_arrival_without_collection_fields_logs_none(locker: Locker, tmp_path: Path) -> None:
    """Events logged before the fields existed must keep verifying: absent means not given."""
    take(locker, photo(tmp_path / "in"))
    with locker.engine.connect() as conn, conn.begin():
        details = conn.execute(
            select(schema.events.c.details).where(schema.events.c.action == "item.acquired")
        ).scalar_one()
    logged = json.loads(details)["acquisition"]
    assert "url_of_origin" not in logged and "collected_at" not in logged
    assert verify(locker, quick=True).ok


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"collected_at": "2026-03-01T14:05:00"}, "no UTC offset"),
        ({"collected_at": "yesterday"}, "not an ISO 8601 time"),
        ({"collected_at": "2999-01-01T00:00:00Z"}, "in the future"),
        ({"url_of_origin": "not a url"}, "not an absolute URL"),
        ({"url_of_origin": "https://a.invalid/x\nforged: line"}, "not an absolute URL"),
        ({"url_of_origin": "https://a.invalid/" + "x" * 9000}, "not an absolute URL"),
        ({"method": "carrier-pigeon"}, "is not one of"),
    ],
)
def test_bad_collection_fields_store_nothing(
    locker: Locker, tmp_path: Path, fields: dict[str, str], reason: str
) -> None:
    with pytest.raises(CollectionFieldError, match=reason):
        take(locker, photo(tmp_path / "in"), **fields)
    with locker.engine.connect() as conn, conn.begin():
        assert conn.execute(select(schema.items.c.sha256)).first() is None


def test_ingest_command_takes_and_show_prints_collection_fields(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    args = ["--url-of-origin", URL, "--collected-at", "2026-03-01T14:05:00Z"]
    result = cli("ingest", "--locker", locker, "--method", "downloaded", *args, photo(tmp_path))
    assert result.code == 0, result.err
    shown = cli(
        "show",
        "--locker",
        locker,
        "--json",
        cli("ls", "--locker", locker, "--json").json()[0]["sha256"],
    )
    acq = shown.json()["acquisitions"][0]
    assert (acq["method"], acq["url_of_origin"]) == ("downloaded", URL)
    assert acq["collected_at"] == "2026-03-01T14:05:00+00:00"
    text = cli("show", "--locker", locker, shown.json()["sha256"]).out
    assert f"origin       {URL}" in text and "(downloaded)" in text
    assert "collected    2026-03-01T14:05:00+00:00" in text


def test_ingest_command_refuses_a_time_without_offset_in_one_line(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    result = cli(
        "ingest", "--locker", locker, "--collected-at", "2026-03-01 14:05", photo(tmp_path)
    )
    assert result.code != 0
    assert result.err.count("\n") == 1 and "no UTC offset" in result.err
