"""Near-duplicate search on synthetic photographs: recall over common edits, no false matches."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import photo, take
from media import EDITS, PHOTOGRAPHS, jpeg, sample, slideshow, still
from PIL import Image

from docket import similarity
from docket.catalogue import queries
from docket.errors import DocketError
from docket.locker import Locker


def similar(locker: Locker, sha256: str) -> list[similarity.Match]:
    with locker.engine.connect() as conn, conn.begin():
        return similarity.similar(conn, sha256)


def clusters(locker: Locker) -> list[similarity.Cluster]:
    with locker.engine.connect() as conn, conn.begin():
        return similarity.clusters(conn)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_edited_copies_are_found_and_distinct_photos_are_not(
    locker: Locker, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    distinct = set()
    for name in PHOTOGRAPHS:
        original = sample(name)
        (folder / f"{name}.jpg").write_bytes(jpeg(original))
        distinct.add(jpeg(original))
        for edit, apply in EDITS.items():
            # Grey-scale of a grey photograph gives the same bytes: the same item, held once.
            (folder / f"{name}.{edit}.jpg").write_bytes(jpeg(apply(original)))
            distinct.add(jpeg(apply(original)))
    summary = take(locker, folder)
    assert summary.count("new") == len(distinct)
    sha_of = {Path(o.name).name.removesuffix(".jpg"): o.sha256 or "" for o in summary.outcomes}

    found = {edit: 0 for edit in EDITS}
    worst = 0
    for name in PHOTOGRAPHS:
        matches = {m.item: m.distance for m in similar(locker, sha_of[name])}
        for edit in EDITS:
            copy = sha_of[f"{name}.{edit}"]
            if copy == sha_of[name] or copy in matches:
                found[edit] += 1
                worst = max(worst, matches.get(copy, 0))
    false_pairs = []
    for a, b in itertools.combinations(PHOTOGRAPHS, 2):
        family_b = {sha_of[b]} | {sha_of[f"{b}.{edit}"] for edit in EDITS}
        hits = {m.item for m in similar(locker, sha_of[a])} & family_b
        if hits:
            false_pairs.append((a, b))
    pairs = len(PHOTOGRAPHS) * (len(PHOTOGRAPHS) - 1) // 2
    recall = sum(found.values()) / (len(PHOTOGRAPHS) * len(EDITS))
    print(
        f"\nnear-duplicate recall {recall:.1%} over {len(PHOTOGRAPHS)} photographs x "
        f"{len(EDITS)} edits; per edit: "
        + ", ".join(f"{edit} {n}/{len(PHOTOGRAPHS)}" for edit, n in found.items())
        + f"; worst matching distance {worst} (threshold {similarity.DEFAULT_THRESHOLD}); "
        f"false matches {len(false_pairs)} of {pairs} distinct pairs"
    )
    assert found == {edit: len(PHOTOGRAPHS) for edit in EDITS}
    assert false_pairs == []

    groups = clusters(locker)
    assert len(groups) == len(PHOTOGRAPHS)
    for group in groups:
        name = next(n for n in PHOTOGRAPHS if sha_of[n] in group.items)
        assert set(group.items) == {sha_of[name]} | {sha_of[f"{name}.{e}"] for e in EDITS}


def test_flat_pictures_never_match_everything(locker: Locker, tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    for i, colour in enumerate([(0, 0, 0), (255, 255, 255), (128, 128, 128), (200, 30, 30)]):
        (folder / f"flat{i}.jpg").write_bytes(jpeg(Image.new("RGB", (400, 300), colour)))
    (folder / "photo.jpg").write_bytes(jpeg(sample("astronaut")))
    summary = take(locker, folder)
    shas = [o.sha256 or "" for o in summary.outcomes]
    for flat in shas[:4]:
        with pytest.raises(similarity.NoUsableHashError):
            similar(locker, flat)
    assert similar(locker, shas[4]) == []
    assert clusters(locker) == []


def test_a_still_finds_its_video_and_the_video_finds_the_still(
    locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "v", ["coffee", "rocket", "chelsea"])
    grab = still(video, 3.7, tmp_path / "grab.jpg")  # inside the rocket scene (2.5 s to 5 s)
    summary = take(locker, video, grab)
    video_sha, still_sha = (o.sha256 or "" for o in summary.outcomes)

    from_still = similar(locker, still_sha)
    assert [m.item for m in from_still] == [video_sha]
    assert from_still[0].frame_time is not None and 2.4 <= from_still[0].frame_time <= 5.0

    from_video = similar(locker, video_sha)
    assert [m.item for m in from_video] == [still_sha]
    assert from_video[0].query_frame_time == from_still[0].frame_time


def test_cluster_marks_the_earliest_known_copy(locker: Locker, tmp_path: Path) -> None:
    from conftest import FACTS

    from docket._samples import exif_for

    original = tmp_path / "a" / "camera_original.jpg"
    original.parent.mkdir()
    sample("chelsea").save(original, "JPEG", quality=92, exif=exif_for(FACTS))
    repost = tmp_path / "b" / "repost.jpg"
    repost.parent.mkdir()
    repost.write_bytes(jpeg(EDITS["caption"](sample("chelsea")), 45))
    take(locker, repost)  # the re-post arrives first, with no capture time
    summary = take(locker, original)  # the camera original arrives later, with its EXIF time
    [group] = clusters(locker)
    assert group.earliest == summary.outcomes[0].sha256
    assert group.origins[group.earliest].capture_time == "2024-03-01T12:34:56+03:00"


def test_the_kept_index_sees_items_added_after_it_was_built(locker: Locker, tmp_path: Path) -> None:
    first = tmp_path / "first.jpg"
    first.write_bytes(jpeg(sample("astronaut")))
    original = take(locker, first).outcomes[0].sha256
    assert original is not None
    assert similar(locker, original) == []  # builds and keeps the index
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(jpeg(sample("astronaut").resize((256, 256)), quality=40))
    added = take(locker, copy).outcomes[0].sha256
    assert [m.item for m in similar(locker, original)] == [added]


def test_provenance_reads_big_sets_in_slices(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shots = [photo(tmp_path, f"p{i}.jpg", seed=i) for i in range(3)]
    items = [o.sha256 for o in take(locker, *shots).outcomes if o.sha256]
    with locker.engine.connect() as conn:
        whole = similarity.provenance(conn, items)
        monkeypatch.setattr(queries, "IN_CHUNK", 2)  # two slices: 2 + 1
        assert similarity.provenance(conn, items) == whole
    assert {p.capture_time for p in whole.values()} == {"2024-03-01T12:34:56+03:00"}


def test_a_case_s_near_duplicates_are_its_own_dated_by_its_own_arrivals(
    locker: Locker, tmp_path: Path
) -> None:
    """Asked in a case, only the case's items are matched (the case is asked about the items
    found, not read whole), and each is dated by when it arrived in that case."""
    pictures = tmp_path / "in"
    pictures.mkdir()
    for name, quality in (("original", 92), ("in_north", 40), ("in_south", 30)):
        (pictures / f"{name}.jpg").write_bytes(jpeg(sample("coffee").resize((320, 213)), quality))
    sha = {}
    for name, case in (("original", "North"), ("in_south", "South"), ("in_north", "North")):
        sha[name] = str(take(locker, pictures / f"{name}.jpg", case=case).outcomes[0].sha256)
    take(locker, pictures / "original.jpg", case="South")  # the same bytes, later, in South
    with locker.engine.connect() as conn, conn.begin():
        everywhere = similarity.similar(conn, sha["original"])
        north = similarity.similar(conn, sha["original"], case="North")
        south = similarity.similar(conn, sha["in_south"], case="South")
        from_south = similarity.similar(conn, sha["in_south"])
        with pytest.raises(DocketError, match="no such case"):
            similarity.similar(conn, sha["original"], case="Nowhere")
    assert {m.item for m in everywhere} == {sha["in_north"], sha["in_south"]}
    assert [m.item for m in north] == [sha["in_north"]]
    assert [m.item for m in south] == [sha["original"]]
    in_locker = next(m for m in from_south if m.item == sha["original"]).first_seen
    assert south[0].first_seen > in_locker  # South got the original after North did
