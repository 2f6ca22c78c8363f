"""replicate to an S3-compatible bucket with Object Lock. The server is moto in server mode on
loopback (an emulator of S3, see s3_server.py); set DOCKET_TEST_S3_URL to run the same tests
against a real endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import s3_server
from conftest import photo, take
from copies_help import blob, events, filled, flip_byte, older_catalogue_put_back, verified

from docket.copies.audit import audit
from docket.copies.bucket import Bucket
from docket.copies.destination import Folder
from docket.copies.repair import repair_from_bucket
from docket.copies.replicate import replicate
from docket.copies.restore import restore_from_bucket
from docket.custody import log
from docket.errors import CopyError
from docket.locker import Locker
from docket.store.s3 import S3Bucket
from docket.verify import verify


def to_bucket(locker: Locker, url: str) -> Any:
    with locker.store.scratch("replicate") as work:
        return replicate(locker, Bucket(S3Bucket.open(url), 1, work), "tester", private_key=False)


def test_a_bucket_copy_holds_every_blob_locked_and_moves_only_what_is_new(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint
) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    url = endpoint.locked_url()
    first = to_bucket(locker, url)
    bucket = S3Bucket.open(url)
    names = {key for key, _ in bucket.keys("objects/")}
    held = {name[:2] + "/" + name[2:] for name in locker.store.digests()}
    assert names == {f"objects/{name}" for name in held}
    assert first.blobs_copied == len(held) > 0
    key = sorted(names)[0]
    [version] = [v for v in bucket.versions(key) if v.key == key]
    assert bucket.head(key, version.version_id).lock_mode == "COMPLIANCE"
    again = to_bucket(locker, url)
    assert again.blobs_copied == 0
    take(locker, photo(tmp_path / "b", seed=2))
    third = to_bucket(locker, url)
    assert 0 < third.blobs_copied < first.blobs_copied + 10
    catalogues = [key for key, _ in bucket.keys("catalogue.sqlite/")]
    assert len(catalogues) == 3  # one object per run, none replaced
    witness = b"".join(
        bucket.get(max(k for k, _ in bucket.keys("checkpoints.log/"))).read().splitlines(True)
    )
    assert witness == (locker.path / "checkpoints.log").read_bytes()


def test_a_bucket_holding_another_lockers_copy_is_refused(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint
) -> None:
    url = endpoint.locked_url()
    other = Locker.create(tmp_path / "other", actor="tester")
    to_bucket(other, url)
    with pytest.raises(CopyError, match="a copy of another locker"):
        to_bucket(locker, url)


def test_a_bucket_copy_needs_a_retention(locker: Locker, cli: Any) -> None:
    result = cli("replicate", "--locker", locker.path, "s3://evidence-copies/north")
    assert result.code == 1
    assert (
        result.err == "docket: s3://evidence-copies/north: give --retention-days N for a "
        "bucket copy\n"
    )


def test_a_bucket_without_object_lock_is_refused(
    locker: Locker, moto_endpoint: s3_server.Endpoint, cli: Any
) -> None:
    url = moto_endpoint.plain_url()
    assert url is not None
    result = cli("replicate", "--locker", locker.path, "--retention-days", "30", url)
    assert result.code == 1 and "does not have Object Lock enabled" in result.err


def test_a_locker_is_restored_from_a_bucket_copy(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint, cli: Any
) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    url = endpoint.locked_url()
    to_bucket(locker, url)
    back = tmp_path / "back"
    result = cli("restore", url, back)
    assert result.code == 0, result.err
    with Locker.open(back, writable=False) as restored:
        assert verify(restored).ok
        assert set(restored.store.digests()) == set(locker.store.digests())
    assert not (tmp_path / ".back.download").exists()
    assert not (tmp_path / ".back.restoring").exists()


def test_a_version_put_over_a_blob_in_the_bucket_is_ignored_on_restore(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint
) -> None:
    """Someone with the keys puts a newer version over a blob's key (Object Lock keeps the
    original): restore reads the original, locked version, and the locker comes back whole."""
    take(locker, photo(tmp_path / "a", seed=1))
    url = endpoint.locked_url()
    to_bucket(locker, url)
    bucket = S3Bucket.open(url)
    key = sorted(k for k, _ in bucket.keys("objects/"))[0]
    endpoint.client().put_object(
        Bucket=bucket.location.bucket, Key=bucket.location.prefix + key, Body=b"forged"
    )
    assert bucket.get(key).read() == b"forged"  # what a plain download would take
    restore_from_bucket(Bucket(bucket, 1), tmp_path / "back", "tester")
    with Locker.open(tmp_path / "back", writable=False) as restored:
        assert verify(restored).ok
        assert set(restored.store.digests()) == set(locker.store.digests())


def test_a_bucket_copy_is_audited_beside_a_folder_copy(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint, cli: Any
) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    url = endpoint.locked_url()
    to_bucket(locker, url)
    replicate(locker, Folder(tmp_path / "usb"), "tester", private_key=False)
    result = cli("audit-copies", "--locker", locker.path, "--json", url, tmp_path / "usb")
    assert result.code == 0, result.out
    checks = {c["name"]: c["detail"] for c in result.json()["checks"]}
    assert checks["identity"] == "2 of 2 copies of this locker"
    assert any(note.startswith(f"{url} holds ") for note in result.json()["notes"])
    assert list((locker.path / "tmp").iterdir()) == []  # the download is gone


def test_a_bucket_of_another_locker_is_named_by_the_audit(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint
) -> None:
    url = endpoint.locked_url()
    other = Locker.create(tmp_path / "other", actor="tester")
    to_bucket(other, url)
    report = audit(locker.path, [url], deep=False)
    assert [str(p) for p in report.problems] == [
        f"{url}: a copy of another locker ({other.locker_id}); skipped"
    ]


# repair --from s3://...


def test_a_deleted_and_a_flipped_blob_are_repaired_from_a_bucket_copy(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint, cli: Any
) -> None:
    items = filled(locker, tmp_path, 1, 2)
    url = endpoint.locked_url()
    to_bucket(locker, url)
    blob(locker.path, items[0]).unlink()
    flip_byte(blob(locker.path, items[1]))
    assert verified(locker.path) != []
    result = cli("repair", "--locker", locker.path, "--from", url)
    assert result.code == 0, result.err
    assert f"restored  blob {items[0]}" in result.out
    assert f"replaced  blob {items[1]} (was damaged)" in result.out
    assert f"repaired from {S3Bucket.open(url).url} (event " in result.out
    assert verified(locker.path) == []
    [logged] = events(locker.path, "locker.repaired")
    assert logged["from"] == S3Bucket.open(url).url
    assert (logged["blobs_restored"], logged["blobs_replaced"]) == ([items[0]], [items[1]])
    assert list((locker.path / "tmp").iterdir()) == []  # the download is gone


def test_a_lost_catalogue_tail_is_repaired_from_a_bucket_copy(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint
) -> None:
    filled(locker, tmp_path, 1)
    url = endpoint.locked_url()
    with older_catalogue_put_back(locker, tmp_path):
        [lost] = filled(locker, tmp_path, 2)
        to_bucket(locker, url)
    assert any("are missing" in p for p in verified(locker.path))
    done = repair_from_bucket(locker.path, S3Bucket.open(url), "tester")
    assert done.catalogue is not None and done.catalogue[1] > done.catalogue[0]
    assert verified(locker.path) == []
    with Locker.open(locker.path, writable=False) as opened, opened.engine.connect() as conn:
        assert lost in {e.item for e in log.events(conn)}


def test_a_blob_forged_in_the_bucket_is_repaired_from_its_locked_original(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint
) -> None:
    """Someone with the bucket's keys puts a newer version over the blob the locker lost:
    repair reads the original, locked version, never the forgery."""
    [item] = filled(locker, tmp_path, 1)
    url = endpoint.locked_url()
    to_bucket(locker, url)
    bucket = S3Bucket.open(url)
    key = f"objects/{item[:2]}/{item[2:]}"
    endpoint.client().put_object(
        Bucket=bucket.location.bucket, Key=bucket.location.prefix + key, Body=b"forged"
    )
    original = blob(locker.path, item).read_bytes()
    blob(locker.path, item).unlink()
    done = repair_from_bucket(locker.path, bucket, "tester")
    assert done.restored == [item] and done.unrepaired == []
    assert blob(locker.path, item).read_bytes() == original
    assert verified(locker.path) == []


def test_repair_refuses_a_bucket_copy_of_another_locker(
    locker: Locker, tmp_path: Path, endpoint: s3_server.Endpoint, cli: Any
) -> None:
    [item] = filled(locker, tmp_path, 1)
    other = Locker.create(tmp_path / "other", actor="tester")
    filled(other, tmp_path / "theirs", 1)  # the same photo: a blob of the same name
    url = endpoint.locked_url()
    to_bucket(other, url)
    blob(locker.path, item).unlink()
    result = cli("repair", "--locker", locker.path, "--from", url)
    assert result.code == 1
    assert result.err == (
        f"docket: {S3Bucket.open(url).url}: a copy of another locker ({other.locker_id}); "
        "nothing repaired\n"
    )
    assert not blob(locker.path, item).exists()
    assert events(locker.path, "locker.repaired") == []


def test_repair_from_a_bucket_without_a_copy_says_so(
    locker: Locker, moto_endpoint: s3_server.Endpoint, cli: Any
) -> None:
    url = moto_endpoint.locked_url()
    result = cli("repair", "--locker", locker.path, "--from", url)
    assert result.code == 1
    assert result.err == (
        f"docket: {S3Bucket.open(url).url}: holds no copy of a locker (no docket.json)\n"
    )
