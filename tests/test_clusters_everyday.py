"""Near-duplicate groups (issue 18): one numbering in `docket clusters`, `docket ls` and
`docket show`, groups named by their files, and the earliest copy chosen by capture time,
then the collector's collection time, then first arrival, with the rule that decided said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import FACTS
from media import jpeg, sample

from docket._samples import exif_for


def picture(folder: Path, name: str, scene: str, quality: int = 90, exif: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if exif:
        sample(scene).save(path, "JPEG", quality=quality, exif=exif_for(FACTS))
    else:
        path.write_bytes(jpeg(sample(scene), quality))
    return path


def test_one_numbering_with_names_across_commands(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    files = [
        picture(tmp_path / "1", "coffee-a.jpg", "coffee"),
        picture(tmp_path / "2", "cat-a.jpg", "chelsea"),
        picture(tmp_path / "3", "coffee-b.jpg", "coffee", quality=50),
        picture(tmp_path / "4", "cat-b.jpg", "chelsea", quality=50),
    ]
    assert cli("ingest", "--locker", locker, "--case", "North", *files).code == 0
    groups = cli("clusters", "--locker", locker, "--json").json()
    assert len(groups) == 2
    named = {g["cluster"]: sorted(i["name"].rsplit("/", 1)[-1] for i in g["items"]) for g in groups}
    listed = cli("ls", "--locker", locker, "--json").json()
    for row in listed:
        assert row["name"].rsplit("/", 1)[-1] in named[row["cluster"]]
    in_case = cli("ls", "--locker", locker, "--case", "North", "--json").json()
    assert {r["sha256"]: r["cluster"] for r in in_case} == {
        r["sha256"]: r["cluster"] for r in listed
    }
    for row in listed:
        shown = cli("show", "--locker", locker, row["sha256"][:12], "--json").json()
        assert shown["cluster"]["number"] == row["cluster"]
    text = cli("clusters", "--locker", locker).out
    assert "coffee-a.jpg" in text and "cat-b.jpg" in text


def test_earliest_copy_by_capture_time_says_so(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    repost = picture(tmp_path / "r", "repost.jpg", "chelsea", quality=45)
    original = picture(tmp_path / "o", "camera.jpg", "chelsea", exif=True)
    assert cli("ingest", "--locker", locker, repost).code == 0
    assert cli("ingest", "--locker", locker, original).code == 0
    [group] = cli("clusters", "--locker", locker, "--json").json()
    assert group["items"][0]["name"].endswith("camera.jpg")
    assert group["decided_by"] == "capture time"
    assert "earliest by capture time" in cli("clusters", "--locker", locker).out


def test_earliest_copy_by_collection_time_then_first_seen(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    late = picture(tmp_path / "a", "forwarded.jpg", "coffee", quality=60)
    early = picture(tmp_path / "b", "handed.jpg", "coffee", quality=80)
    third = picture(tmp_path / "c", "mirror.jpg", "coffee", quality=70)
    at = "--collected-at"
    assert cli("ingest", "--locker", locker, at, "2026-02-03T10:00:00+02:00", late).code == 0
    assert cli("ingest", "--locker", locker, at, "2026-02-03T09:00:00+00:00", early).code == 0
    assert cli("ingest", "--locker", locker, third).code == 0
    [group] = cli("clusters", "--locker", locker, "--json").json()
    order = [i["name"].rsplit("/", 1)[-1] for i in group["items"]]
    assert order == ["forwarded.jpg", "handed.jpg", "mirror.jpg"]  # 08:00Z before 09:00Z
    assert group["decided_by"] == "collection time"


def test_earliest_copy_by_first_seen(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    first = picture(tmp_path / "a", "first.jpg", "coffee", quality=60)
    second = picture(tmp_path / "b", "second.jpg", "coffee", quality=80)
    assert cli("ingest", "--locker", locker, first).code == 0
    assert cli("ingest", "--locker", locker, second).code == 0
    [group] = cli("clusters", "--locker", locker, "--json").json()
    assert group["items"][0]["name"].endswith("first.jpg")
    assert group["decided_by"] == "first seen"


def test_a_case_s_groups_hold_only_its_own_items(cli: Any, tmp_path: Path) -> None:
    """North's copy of a picture and South's near-duplicate of it are a group only in the
    locker's view: neither case's groups hold the other's item, or group its own alone."""
    locker = tmp_path / "locker"
    cli("init", locker)
    north = [picture(tmp_path / "n", "coffee-north.jpg", "coffee")]
    north.append(picture(tmp_path / "n", "cat-north.jpg", "chelsea"))
    north.append(picture(tmp_path / "n", "cat-north-again.jpg", "chelsea", quality=50))
    south = picture(tmp_path / "s", "coffee-south.jpg", "coffee", quality=50)
    assert cli("ingest", "--locker", locker, "--case", "North", *north).code == 0
    assert cli("ingest", "--locker", locker, "--case", "South", south).code == 0

    def names(*case: str) -> list[list[str]]:
        found = cli("clusters", "--locker", locker, *case, "--json").json()
        return sorted(sorted(i["name"].rsplit("/", 1)[-1] for i in g["items"]) for g in found)

    everywhere = [
        ["cat-north-again.jpg", "cat-north.jpg"],
        ["coffee-north.jpg", "coffee-south.jpg"],
    ]
    assert names() == everywhere
    assert names("--case", "North") == [["cat-north-again.jpg", "cat-north.jpg"]]
    assert names("--case", "South") == []
