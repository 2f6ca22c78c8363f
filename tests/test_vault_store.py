"""The vault's blob store: round trips, seeking, and every way an adversary with the disk
could change a sealed blob (each refused, naming the blob), and what the folder gives away."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
from pathlib import Path

import pytest

from docket.errors import DocketError, VaultDamagedError, VaultLockedError
from docket.store import VaultS3Store, VaultStore, create, open_store, scratch
from docket.store.sealed_stream import HEADER_BYTES, SEGMENT, TAG, plain_size
from docket.vault.keys import VaultKey

SIZES = [0, 1, SEGMENT, 3 * SEGMENT + 7]


def _store(tmp_path: Path, key: VaultKey | None = None) -> VaultStore:
    return VaultStore.create(tmp_path / "locker", key or VaultKey.generate())


def _data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def _writable(path: Path) -> None:
    path.chmod(0o644)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip(tmp_path: Path, size: int) -> None:
    store = _store(tmp_path)
    data = _data(size)
    stored = store.put(io.BytesIO(data))
    sha256 = hashlib.sha256(data).hexdigest()
    assert stored.new and stored.digest.sha256 == sha256 and stored.digest.size == size
    assert stored.digest.sha512 == hashlib.sha512(data).hexdigest()
    assert stored.head == data[:8192]
    with store.open(sha256) as stream:
        assert stream.read() == data
    assert store.size(sha256) == size
    assert store.sizes() == {sha256: size}
    assert list(store.digests()) == [sha256]
    assert store.hash_blob(sha256) == stored.digest
    assert list(store.protection()) == [(sha256, None)]
    assert plain_size(store.path(sha256).stat().st_size) == size


def test_second_put_is_not_new_and_keeps_the_blob(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _data(5000)
    store.put(io.BytesIO(data))
    before = store.path(hashlib.sha256(data).hexdigest()).read_bytes()
    assert not store.put(io.BytesIO(data)).new
    assert store.path(hashlib.sha256(data).hexdigest()).read_bytes() == before


def test_seek_and_read_at_random_offsets(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _data(3 * SEGMENT + 7)
    sha256 = store.put(io.BytesIO(data)).digest.sha256
    rng = random.Random(7)
    offsets = [0, SEGMENT - 1, SEGMENT, 2 * SEGMENT + 3, len(data) - 1, len(data)]
    offsets += [rng.randrange(len(data) + 1) for _ in range(40)]
    with store.open(sha256) as stream:
        for offset in offsets:
            count = rng.choice([1, 17, SEGMENT + 5, 3 * SEGMENT])
            assert stream.seek(offset) == offset
            assert stream.read(count) == data[offset : offset + count]
        stream.seek(-10, os.SEEK_END)
        assert stream.read() == data[-10:]


def test_a_pipe_with_short_reads_seals_the_same_plaintext(tmp_path: Path) -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self.data.readinto(memoryview(buffer)[:1000])

    store = _store(tmp_path)
    data = _data(SEGMENT + 4321)
    sha256 = store.put(Trickle(data)).digest.sha256  # type: ignore[arg-type]
    with store.open(sha256) as stream:
        assert stream.read() == data


def _sealed(tmp_path: Path, size: int = 3 * SEGMENT + 7) -> tuple[VaultStore, str, Path]:
    store = _store(tmp_path)
    sha256 = store.put(io.BytesIO(_data(size))).digest.sha256
    path = store.path(sha256)
    _writable(path)
    return store, sha256, path


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x01]))


def _refused(store: VaultStore, sha256: str, reason: str) -> None:
    with pytest.raises(VaultDamagedError, match=reason) as caught, store.open(sha256) as stream:
        while stream.read(SEGMENT):
            pass
    assert sha256 in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(VaultDamagedError, match=sha256):
        store.hash_blob(sha256)


@pytest.mark.parametrize("offset", [0, 4, 5, 12, 30, HEADER_BYTES - 1])
def test_a_flipped_bit_in_the_header_is_refused(tmp_path: Path, offset: int) -> None:
    store, sha256, path = _sealed(tmp_path)
    _flip(path, offset)
    _refused(store, sha256, "header|not a vault blob|format")
    assert sha256 not in set(store.digests())
    assert next(problem for _, problem in store.protection()) is not None


def test_a_flipped_bit_in_a_middle_segment_is_refused(tmp_path: Path) -> None:
    store, sha256, path = _sealed(tmp_path)
    _flip(path, HEADER_BYTES + SEGMENT + TAG + 12345)
    _refused(store, sha256, "segment 2 of 4")
    with store.open(sha256) as stream:  # the segments before it still read
        assert stream.read(SEGMENT) == _data(3 * SEGMENT + 7)[:SEGMENT]


def test_a_flipped_bit_in_the_last_tag_is_refused(tmp_path: Path) -> None:
    store, sha256, path = _sealed(tmp_path)
    _flip(path, path.stat().st_size - 1)
    _refused(store, sha256, "segment 4 of 4")


@pytest.mark.parametrize("segments_kept", [1, 2, 3])
def test_a_truncation_at_a_segment_boundary_is_refused(tmp_path: Path, segments_kept: int) -> None:
    store, sha256, path = _sealed(tmp_path)
    os.truncate(path, HEADER_BYTES + segments_kept * (SEGMENT + TAG))
    _refused(store, sha256, f"segment {segments_kept} of {segments_kept}")


def test_a_truncation_inside_a_tag_is_refused_by_its_size(tmp_path: Path) -> None:
    store, sha256, path = _sealed(tmp_path)
    os.truncate(path, HEADER_BYTES + 3 * (SEGMENT + TAG) + 5)
    _refused(store, sha256, "cut short or lengthened")
    with pytest.raises(VaultDamagedError, match=sha256):
        store.size(sha256)


def test_an_appended_segment_is_refused(tmp_path: Path) -> None:
    store, sha256, path = _sealed(tmp_path, size=2 * SEGMENT)
    with path.open("ab") as file:
        file.write(path.read_bytes()[HEADER_BYTES : HEADER_BYTES + SEGMENT + TAG])
    _refused(store, sha256, "segment 2 of 3")


def test_blobs_swapped_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    one = store.put(io.BytesIO(_data(5000, seed=1))).digest.sha256
    two = store.put(io.BytesIO(_data(5000, seed=2))).digest.sha256
    a, b = store.path(one), store.path(two)
    _writable(a)
    _writable(b)
    held = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(held)
    _refused(store, one, "header does not authenticate")
    _refused(store, two, "header does not authenticate")
    assert list(store.digests()) == []


def test_another_vaults_blob_is_refused(tmp_path: Path) -> None:
    data = _data(100)
    mine, theirs = _store(tmp_path / "a"), _store(tmp_path / "b")
    sha256 = mine.put(io.BytesIO(data)).digest.sha256
    theirs.put(io.BytesIO(_data(100, seed=9)))
    mine.path(sha256).parent.mkdir(exist_ok=True)
    _writable(mine.path(sha256))
    shutil.copyfile(theirs.path(hashlib.sha256(_data(100, seed=9)).hexdigest()), mine.path(sha256))
    _refused(mine, sha256, "header does not authenticate")


def test_the_folder_holds_no_plaintext_and_no_digest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _data(2 * SEGMENT + 99, seed=3)
    text = (b"Witness Amara Quill, checkpoint at Velmor bridge. " * 3000)[: SEGMENT + 5]
    stored = [store.put(io.BytesIO(blob)).digest for blob in (data, text, b"", b"x")]
    secrets = [bytes.fromhex(d.sha256) for d in stored] + [bytes.fromhex(d.sha512) for d in stored]
    secrets += [d.sha256.encode() for d in stored] + [d.sha512.encode() for d in stored]
    runs = {blob[i : i + 64] for blob in (data, text) for i in range(0, len(blob) - 64, 4096)}
    files = [p for p in (tmp_path / "locker").rglob("*") if p.is_file()]
    assert len(files) == 4
    for file in files:
        held = file.read_bytes()
        assert not any(secret in held for secret in secrets), file
        assert not any(run in held for run in runs), file
        assert file.name not in {d.sha256[2:] for d in stored}
    assert set(store.digests()) == {d.sha256 for d in stored}


def test_plain_file_is_in_memory_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _data(SEGMENT + 3)
    sha256 = store.put(io.BytesIO(data)).digest.sha256
    with store.plain_file(sha256) as path:
        assert path.read_bytes() == data
        assert path.is_relative_to(Path("/dev/shm"))
        assert path.parent.stat().st_mode & 0o077 == 0
        assert not path.is_relative_to(tmp_path)
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(RuntimeError), store.plain_file(sha256) as again:
        raise RuntimeError("a parser failed")
    assert not again.parent.exists()
    mine = [p for p in again.parent.parent.iterdir() if p.name.startswith(f"{scratch.owner()}-")]
    assert mine == []


def test_plain_file_of_a_damaged_blob_leaves_nothing(tmp_path: Path) -> None:
    store, sha256, path = _sealed(tmp_path)
    _flip(path, path.stat().st_size - 1)
    root = store.scratch_root
    before = {p.name for p in root.iterdir()}
    with pytest.raises(VaultDamagedError, match=sha256), store.plain_file(sha256):
        pass
    assert {p.name for p in root.iterdir()} <= before


def test_scratch_is_memory_backed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.scratch("analysis") as folder:
        (folder / "thumb.jpg").write_bytes(b"x")
        assert folder.is_relative_to(Path("/dev/shm")) and not folder.is_relative_to(tmp_path)
    assert not folder.exists()


def test_the_wrong_key_reads_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha256 = store.put(io.BytesIO(_data(10))).digest.sha256
    other = VaultStore(store.root, VaultKey.generate())
    assert list(other.digests()) == [] and not other.has(sha256)
    stranger = VaultStore(store.root, VaultKey(bytes(32)))
    assert next(problem for _, problem in stranger.protection()) is not None


def test_open_store_needs_the_key_of_a_vault(tmp_path: Path) -> None:
    key = VaultKey.generate()
    config = {"vault": {"format": 1}}
    made = create(tmp_path / "locker", config, key)
    assert isinstance(made, VaultStore)
    sha256 = made.put(io.BytesIO(b"abc")).digest.sha256
    with open_store(tmp_path / "locker", config, key).open(sha256) as stream:
        assert stream.read() == b"abc"
    with pytest.raises(VaultLockedError, match="locked"):
        open_store(tmp_path / "locker", config)
    with pytest.raises(DocketError, match="format 2"):
        open_store(tmp_path / "locker", {"vault": {"format": 2}}, key)


def test_remove_stray_removes_the_sealed_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha256 = store.put(io.BytesIO(b"stray")).digest.sha256
    store.remove_stray(sha256)
    assert not store.has(sha256) and list(store.digests()) == []


def test_a_vault_in_a_bucket_opens_as_the_sealed_bucket_store(tmp_path: Path) -> None:
    """The bucket's own behaviour is in tests/test_vault_s3.py (against moto)."""
    config = {"vault": {"format": 1}, "store": {"url": "s3://bucket/x", "retention_days": 1}}
    assert isinstance(open_store(tmp_path, config, VaultKey.generate()), VaultS3Store)
    with pytest.raises(VaultLockedError):
        open_store(tmp_path, config, None)


@pytest.mark.parametrize("planted", ["open to others", "a link elsewhere"])
def test_a_memory_folder_not_private_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    monkeypatch.setattr(scratch, "MEMORY", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    mine = tmp_path / "shm" / f"docket-{os.getuid()}"
    if planted == "open to others":
        mine.mkdir(mode=0o777)
        mine.chmod(0o777)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        mine.symlink_to(tmp_path / "elsewhere")
    store = _store(tmp_path)
    sha256 = store.put(io.BytesIO(b"secret")).digest.sha256
    with pytest.raises(DocketError, match="not a private folder"), store.plain_file(sha256):
        pass
    assert list(mine.iterdir()) == []
