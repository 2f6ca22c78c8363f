"""Ingest: what is preserved, what is refused and why, and what is recorded."""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take
from sqlalchemy import Table, func, select

from docket._samples import write_video
from docket.catalogue import queries, schema
from docket.errors import DocketError
from docket.ingest.archives import ArchiveLimits
from docket.locker import Locker
from docket.store.filesystem import FilesystemStore
from docket.verify import verify


def count(locker: Locker, table: Table) -> int:
    with locker.engine.connect() as conn, conn.begin():
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def describe(locker: Locker, sha256: str) -> dict[str, Any]:
    with locker.engine.connect() as conn, conn.begin():
        return queries.describe_item(conn, sha256)


def test_file_is_preserved_byte_for_byte(locker: Locker, tmp_path: Path) -> None:
    original = photo(tmp_path / "in")
    summary = take(locker, original)
    stored = summary.outcomes[0]
    assert stored.status == "new"
    assert locker.store.path(stored.sha256 or "").read_bytes() == original.read_bytes()
    assert not os.access(locker.store.path(stored.sha256 or ""), os.W_OK) or os.getuid() == 0
    assert locker.store.path(stored.sha256 or "").stat().st_mode & 0o222 == 0


def test_same_bytes_twice_is_one_item_with_two_acquisitions(locker: Locker, tmp_path: Path) -> None:
    first = photo(tmp_path / "a", "one.jpg")
    second = tmp_path / "b" / "copy.jpg"
    second.parent.mkdir()
    second.write_bytes(first.read_bytes())
    take(locker, first, source="W-1")
    summary = take(locker, second, source="W-2")
    assert [o.status for o in summary.outcomes] == ["held"]
    detail = describe(locker, summary.outcomes[0].sha256 or "")
    acquisitions = detail["acquisitions"]
    assert isinstance(acquisitions, list)
    assert [a["source"] for a in acquisitions] == ["W-1", "W-2"]
    assert [a["original_path"] for a in acquisitions] == [str(first), str(second)]
    assert count(locker, schema.items) == 1


def test_media_type_comes_from_content_not_name(locker: Locker, tmp_path: Path) -> None:
    disguised = tmp_path / "notes.txt"
    disguised.write_bytes(photo(tmp_path / "in").read_bytes())
    video = write_video(tmp_path / "clip.jpg", seconds=1)
    summary = take(locker, disguised, video)
    assert [o.media_type for o in summary.outcomes] == ["image/jpeg", "video/mp4"]


def test_folders_are_walked_recursively(locker: Locker, tmp_path: Path) -> None:
    for depth in range(3):
        photo(tmp_path / "card" / Path(*["sub"] * depth), f"p{depth}.jpg", seed=depth)
    summary = take(locker, tmp_path / "card")
    assert summary.count("new") == 3


def test_metadata_fields_are_normalised(locker: Locker, tmp_path: Path) -> None:
    summary = take(locker, photo(tmp_path / "in"), write_video(tmp_path / "in" / "v.mp4", 2))
    image, video = (describe(locker, o.sha256 or "")["metadata"] for o in summary.outcomes)
    assert isinstance(image, dict) and isinstance(video, dict)
    assert image["capture_time"] == "2024-03-01T12:34:56+03:00"
    assert image["capture_time_has_offset"] is True
    assert abs(image["gps_latitude"] - 33.5043) < 1e-3
    assert abs(image["gps_longitude"] - 36.2842) < 1e-3
    assert image["gps_altitude"] == 712.5
    assert (image["make"], image["model"], image["serial"]) == ("Larkspur", "LK-7", "LK7-000417")
    assert (image["width"], image["height"]) == (640, 480)
    assert video["capture_time"] == "2024-03-01T09:15:00Z"
    assert abs(video["duration"] - 2.0) < 0.2
    assert (video["width"], video["height"]) == (320, 240)


def test_raw_exiftool_record_is_kept(locker: Locker, tmp_path: Path) -> None:
    summary = take(locker, photo(tmp_path / "in"))
    with locker.engine.connect() as conn, conn.begin():
        raw = queries.raw_metadata(conn, summary.outcomes[0].sha256 or "")
    assert raw is not None and '"ExifIFD:SerialNumber": "LK7-000417"' in raw


def test_unparseable_file_is_held_and_the_failure_recorded(locker: Locker, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(photo(tmp_path / "in").read_bytes()[:500])
    summary = take(locker, empty, corrupt)
    assert summary.count("new") == 2
    failures = {(name, step): reason for name, step, reason in summary.analysis_failures}
    assert "empty" in failures[(str(empty), "metadata")].lower()
    assert "cannot decode" in failures[(str(corrupt), "previews")]
    assert "cannot decode" in failures[(str(corrupt), "perceptual")]
    with locker.engine.connect() as conn, conn.begin():
        statuses = dict(
            conn.execute(
                select(schema.results.c.step, schema.results.c.status).where(
                    schema.results.c.item_sha256 == summary.outcomes[1].sha256
                )
            ).all()
        )
    assert statuses == {
        "metadata": "ok",
        "previews": "failed",
        "perceptual": "failed",
        "picture-signals": "failed",
        "metadata-signals": "ok",
        "content-credentials": "ok",
    }
    assert verify(locker).ok


def test_zip_members_become_items_and_the_zip_is_kept(locker: Locker, tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(photo(tmp_path / "in", "a.jpg", 1), "DCIM/a.jpg")
        bundle.write(photo(tmp_path / "in", "b.jpg", 2), "DCIM/b.jpg")
    summary = take(locker, archive)
    assert summary.count("new") == 3
    names = [o.name for o in summary.outcomes]
    assert names == [str(archive), f"{archive}!/DCIM/a.jpg", f"{archive}!/DCIM/b.jpg"]
    member = describe(locker, summary.outcomes[1].sha256 or "")["acquisitions"]
    assert isinstance(member, list)
    assert member[0]["container"] == summary.outcomes[0].sha256
    assert member[0]["path_in_container"] == "DCIM/a.jpg"


def mark_encrypted(archive: Path, name: bytes) -> None:
    """Set the 'encrypted' flag of one member (zipfile cannot write encrypted members)."""
    data = bytearray(archive.read_bytes())
    local = data.index(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.index(b"PK\x03\x04", local + 4)
    data[local + 6] |= 0x1
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 8] |= 0x1
    archive.write_bytes(bytes(data))


def test_dangerous_zip_members_are_refused_and_the_rest_taken(
    locker: Locker, tmp_path: Path
) -> None:
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("../../escape.jpg", b"slip")
        bundle.writestr("/etc/absolute.jpg", b"abs")
        bundle.writestr("bomb.bin", b"\0" * (40 << 20))
        bundle.writestr("locked.jpg", b"pretend ciphertext")
        link = zipfile.ZipInfo("link.jpg")
        link.external_attr = 0o120777 << 16
        bundle.writestr(link, b"/etc/passwd")
        bundle.writestr("fine.txt", b"an ordinary member")
    mark_encrypted(archive, b"locked.jpg")
    summary = take(locker, archive)
    reasons = {
        o.name.rsplit("!/", 1)[-1]: o.reason for o in summary.outcomes if o.status == "refused"
    }
    assert "zip slip" in (reasons["../../escape.jpg"] or "")
    assert "zip slip" in (reasons["/etc/absolute.jpg"] or "")
    assert "zip bomb" in (reasons["bomb.bin"] or "")
    assert "encrypted" in (reasons["locked.jpg"] or "")
    assert "symbolic link" in (reasons["link.jpg"] or "")
    assert summary.count("new") == 2  # the zip itself and fine.txt
    assert not (tmp_path / "escape.jpg").exists() and not Path("/etc/absolute.jpg").exists()


def damaged_member(archive: Path, method: int) -> Path:
    """A zip of a member whose compressed bytes are damaged (its CRC is never reached), then a
    good member."""
    with zipfile.ZipFile(archive, "w", method) as bundle:
        bundle.writestr("damaged.bin", os.urandom(5000))
        bundle.writestr("after.txt", f"the member after the damaged one in {archive.name}")
    raw = bytearray(archive.read_bytes())
    data = 30 + int.from_bytes(raw[26:28], "little") + int.from_bytes(raw[28:30], "little")
    if method == zipfile.ZIP_DEFLATED:
        raw[data] = 0x07  # the last block, of the reserved type 11
    else:
        for at in range(data + 4, data + 40):  # past LZMA's own header, into its properties
            raw[at] ^= 0x5A
    archive.write_bytes(raw)
    return archive


def test_a_member_whose_compressed_data_is_damaged_is_refused_and_the_batch_goes_on(
    locker: Locker, tmp_path: Path
) -> None:
    """zlib's and lzma's errors are neither OSError nor BadZipFile: a damaged deflate or LZMA
    stream stopped the whole ingest with a traceback, on every run again."""
    folder = tmp_path / "in"
    folder.mkdir()
    damaged_member(folder / "a.zip", zipfile.ZIP_DEFLATED)
    damaged_member(folder / "b.zip", zipfile.ZIP_LZMA)
    (folder / "c.txt").write_bytes(b"a plain file after the zips")
    summary = take(locker, folder)
    reasons = {o.name: o.reason for o in summary.outcomes if o.status == "refused"}
    for archive in ("a.zip", "b.zip"):
        [reason] = [r for name, r in reasons.items() if name.endswith(f"{archive}!/damaged.bin")]
        assert (reason or "").startswith("member cannot be read: damaged compressed data ("), reason
    stored = [o.name for o in summary.outcomes if o.status == "new"]
    for name in ("a.zip", "b.zip", "a.zip!/after.txt", "b.zip!/after.txt", "c.txt"):
        assert any(s.endswith(f"/in/{name}") for s in stored), (name, stored)
    assert summary.checkpoint is not None and verify(locker, quick=True).ok


def test_archive_total_size_limit(locker: Locker, tmp_path: Path) -> None:
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for i in range(4):
            bundle.writestr(f"part{i}.bin", os.urandom(1000))
    summary = take(locker, archive, limits=ArchiveLimits(total_bytes=2500))
    assert summary.count("new") == 3
    assert "past the limit" in (summary.outcomes[-1].reason or "")


def test_corrupt_zip_is_held_but_not_expanded(locker: Locker, tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04" + os.urandom(200))
    summary = take(locker, archive)
    assert [o.status for o in summary.outcomes] == ["new", "refused"]
    assert "archive not expanded" in (summary.outcomes[1].reason or "")


def test_fifo_is_refused_without_hanging(locker: Locker, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    photo(folder)
    os.mkfifo(folder / "pipe.jpg")
    done = threading.Event()
    result: list[object] = []

    def run() -> None:
        result.append(take(locker, folder))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(60), "ingest hung on a FIFO"
    summary = result[0]
    refused = [o for o in summary.outcomes if o.status == "refused"]  # type: ignore[attr-defined]
    assert len(refused) == 1 and "FIFO" in (refused[0].reason or "")
    assert summary.count("new") == 1  # type: ignore[attr-defined]


def test_symlink_leaving_the_input_is_refused(locker: Locker, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"not evidence")
    folder = tmp_path / "in"
    inside = photo(folder, "real.jpg")
    (folder / "escape.jpg").symlink_to(secret)
    (folder / "alias.jpg").symlink_to(inside)
    (folder / "dangling.jpg").symlink_to(tmp_path / "missing")
    (folder / "loop").symlink_to(folder)
    summary = take(locker, folder)
    by_name = {Path(o.name).name: o for o in summary.outcomes}
    assert "outside" in (by_name["escape.jpg"].reason or "")
    assert by_name["alias.jpg"].status in ("new", "held")
    assert by_name["dangling.jpg"].status == "refused"
    assert by_name["loop"].status == "refused"
    held = {locker.store.path(o.sha256).read_bytes() for o in summary.outcomes if o.sha256}
    assert secret.read_bytes() not in held


def test_missing_input_is_refused_and_the_batch_goes_on(locker: Locker, tmp_path: Path) -> None:
    summary = take(locker, tmp_path / "nope.jpg", photo(tmp_path / "in"))
    assert [o.status for o in summary.outcomes] == ["refused", "new"]
    assert "No such file" in (summary.outcomes[0].reason or "")


def test_a_file_failing_mid_batch_is_refused_and_the_others_are_recorded(
    locker: Locker, tmp_path: Path
) -> None:
    """Files are committed a batch at a time: one that fails to read while the files around
    it are stored is refused with its reason, and the others are stored, recorded and
    reported in order, with nothing left behind in tmp/. /proc/self/mem is a regular file
    that fails every read at its start (EIO)."""
    folder = tmp_path / "in"
    before = photo(folder, "before.jpg", seed=1)
    after = [photo(folder, f"after{i}.jpg", seed=2 + i) for i in range(3)]
    summary = take(locker, before, b"/proc/self/mem", *after)
    assert [o.status for o in summary.outcomes] == ["new", "refused", "new", "new", "new"]
    refused = summary.outcomes[1]
    assert (refused.name, refused.reason) == ("/proc/self/mem", "cannot read: Input/output error")
    assert count(locker, schema.acquisitions) == 4
    stored = [o for o in summary.outcomes if o.status == "new"]
    assert [o.name for o in stored] == [str(p) for p in (before, *after)]
    for outcome, original in zip(stored, (before, *after), strict=True):
        assert locker.store.path(outcome.sha256 or "").read_bytes() == original.read_bytes()
    assert [o.event for o in stored] == sorted(o.event or 0 for o in stored)
    assert list(locker.store.tmp.glob("*.part")) == []
    assert verify(locker).ok


def test_a_batch_the_store_cannot_take_is_one_line_naming_the_locker(
    locker: Locker, tmp_path: Path
) -> None:
    """The files were read; publishing the batch failed: the locker's fault, said so, nothing
    recorded, and the staged copies are removed."""
    store = locker.store
    assert isinstance(store, FilesystemStore)
    store.objects.rmdir()
    store.objects.write_bytes(b"")  # objects/ is a file: no blob can be linked
    with pytest.raises(DocketError) as raised:
        take(locker, photo(tmp_path / "in"))
    assert str(raised.value) == (
        f"{locker.store.root}: cannot store a batch of 1 file (Not a directory)"
    )
    assert count(locker, schema.acquisitions) == 0
    assert list(locker.store.tmp.glob("*.part")) == []


def test_odd_names_are_kept_exactly_and_shown_safely(locker: Locker, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    latin1 = os.fsencode(folder) + b"/caf\xe9.jpg"
    newline = os.fsencode(folder) + b"/two\nlines.jpg"
    for i, raw in enumerate((latin1, newline)):
        with open(raw, "wb") as handle:
            handle.write(photo(tmp_path / "src", f"{i}.jpg", seed=i).read_bytes())
    summary = take(locker, os.fsencode(folder))
    names = sorted(o.name for o in summary.outcomes)
    assert names == sorted([f"{folder}/caf\\xe9.jpg", f"{folder}/two\\nlines.jpg"])
    with locker.engine.connect() as conn, conn.begin():
        raws = set(conn.execute(select(schema.acquisitions.c.original_path_raw)).scalars())
    assert raws == {latin1, newline}
    assert verify(locker).ok


def test_case_links_items(locker: Locker, tmp_path: Path) -> None:
    take(locker, photo(tmp_path / "a", seed=1), case="Northern district")
    take(locker, photo(tmp_path / "b", seed=2))
    with locker.engine.connect() as conn, conn.begin():
        in_case = queries.list_items(conn, "Northern district")
        everything = queries.list_items(conn)
    assert len(in_case) == 1 and len(everything) == 2


def test_every_run_ends_with_a_checkpoint(locker: Locker, tmp_path: Path) -> None:
    summary = take(locker, photo(tmp_path / "in"))
    assert summary.checkpoint is not None
    assert summary.checkpoint.checkpoint.verify(locker.public_key)
    assert verify(locker).ok


def test_device_is_refused(locker: Locker) -> None:
    summary = take(locker, Path("/dev/null"))
    assert [o.status for o in summary.outcomes] == ["refused"]
    assert summary.outcomes[0].reason == "a character device, not a regular file"


def test_deferred_analysis_reads_metadata_now_and_the_rest_later(
    locker: Locker, tmp_path: Path
) -> None:
    from docket.analyse.batch import analyse

    summary = take(locker, photo(tmp_path / "in"), defer_analysis=True)
    sha256 = summary.outcomes[0].sha256 or ""
    first = describe(locker, sha256)["analysis"]
    assert [run["step"] for run in first] == ["metadata"]
    later = analyse(locker, None, "tester")
    assert sorted(step for _, step in later.done) == [
        "content-credentials",
        "metadata-signals",
        "perceptual",
        "picture-signals",
        "previews",
    ]
    assert describe(locker, sha256)["incomplete"] is False
