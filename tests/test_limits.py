"""Limits before work: zip members, however small, never expand past the archive's limits."""

from __future__ import annotations

import random
import struct
import zipfile
from pathlib import Path
from typing import Any

from conftest import photo, take

from docket.ingest.archives import NOT_EXPANDED
from docket.locker import Locker


def compressible(size: int, seed: int = 7) -> bytes:
    """Bytes that deflate about 100:1: under the ratio limit on their own."""
    rng = random.Random(seed)
    return b"".join(
        rng.randbytes(8) + bytes(792) if i % 2 else bytes(800) for i in range(size // 800)
    )


def test_zip_members_of_16_mib_or_less_skip_the_ratio_test(locker: Locker, tmp_path: Path) -> None:
    """A few KB of zip that would expand to 24 MiB of items: each small member is refused."""
    archive = tmp_path / "phone.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        bundle.write(photo(tmp_path / "in", "first.jpg", 1), "DCIM/first.jpg")
        for i in range(12):
            bundle.writestr(f"cache/blank{i}.bin", bytes(2 << 20))
        bundle.writestr("tiny.bin", bytes(64 << 10))  # 64 KiB of zeros: far under any floor
        bundle.write(photo(tmp_path / "in", "last.jpg", 2), "DCIM/last.jpg")
    assert archive.stat().st_size < 200_000
    after = photo(tmp_path / "in", "after.jpg", 3)
    summary = take(locker, archive, after)
    refused = {o.name: o.reason or "" for o in summary.outcomes if o.status == "refused"}
    assert sorted(refused) == sorted(
        [f"{archive}!/cache/blank{i}.bin" for i in range(12)] + [f"{archive}!/tiny.bin"]
    )
    assert all("zip bomb" in reason for reason in refused.values())
    # one bad member never stops the batch: the photos around them and the next file are taken
    assert [o.name for o in summary.outcomes if o.status == "new"] == [
        str(archive),
        f"{archive}!/DCIM/first.jpg",
        f"{archive}!/DCIM/last.jpg",
        str(after),
    ]


def overlapping_zip(path: Path, payload: bytes, copies: int) -> None:
    """One deflated member and `copies` central-directory entries that all point at it:
    each entry's declared sizes look honest, but the compressed bytes are shared."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("shared.bin", payload)
    data = path.read_bytes()
    central = data.index(b"PK\x01\x02")
    end = data.index(b"PK\x05\x06")
    entry = data[central:end]
    directory = entry * copies
    tail = bytearray(data[end:])
    struct.pack_into("<HHII", tail, 8, copies, copies, len(directory), central)
    path.write_bytes(data[:central] + directory + bytes(tail))


def test_members_sharing_compressed_bytes_count_against_the_archive(
    locker: Locker, tmp_path: Path
) -> None:
    archive = tmp_path / "overlap.zip"
    payload = compressible(1 << 20)
    overlapping_zip(archive, payload, copies=40)
    size = archive.stat().st_size
    assert len(payload) < 200 * size / 2  # each entry alone is within the ratio
    summary = take(locker, archive)
    taken = [o for o in summary.outcomes if o.name.endswith("!/shared.bin") and o.sha256]
    refused = [o for o in summary.outcomes if o.status == "refused"]
    assert 1 <= len(taken) <= 200 * size // len(payload)
    assert len(taken) + len(refused) == 40
    assert all("times its own size" in (o.reason or "") for o in refused)


def test_a_nested_archive_is_held_and_not_expanded(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as bundle:
        bundle.write(photo(tmp_path / "in", "deep.jpg", 4), "deep.jpg")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as bundle:
        bundle.write(inner, "export/inner.zip")
        bundle.write(photo(tmp_path / "in", "top.jpg", 5), "top.jpg")
    result = cli("ingest", "--locker", locker.path, outer)
    assert result.code == 0, result.err
    assert f"{outer}!/export/inner.zip" in result.out
    assert NOT_EXPANDED in result.out
    assert "deep.jpg" not in result.out
    assert "2 new" not in result.out and "3 new" in result.out  # outer, inner, top.jpg


def test_a_bad_member_is_named_with_its_zip_on_one_line(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    archive = tmp_path / "witness.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("notes/empty-page.txt", bytes(300 << 10))
    result = cli("ingest", "--locker", locker.path, archive)
    lines = [line for line in result.out.splitlines() if line.startswith("refused")]
    assert lines == [
        f"refused  {archive}!/notes/empty-page.txt: expands more than 200 times its compressed "
        f"size ({zipfile.ZipFile(archive).infolist()[0].compress_size} bytes): looks like a "
        "zip bomb"
    ]
