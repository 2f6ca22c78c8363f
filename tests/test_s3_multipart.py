"""A file too big for one PUT goes to the bucket in parts (docket/store/bucket.py): written
once, locked in compliance mode, its parts checked by the server, never completed under a
name its bytes do not have, and no unfinished upload left behind.

S3 refuses one PUT over 5 GiB; the tests lower the threshold (`S3Bucket.multipart_threshold`)
to 8 MiB, and send parts of 5 MiB (S3's smallest part but the last), so a 12 MiB file is
three parts. Run against moto in server mode on loopback (an emulator, see s3_server.py),
and, opt-in, a real endpoint given by DOCKET_TEST_S3_URL."""

from __future__ import annotations

import datetime
import hashlib
import os
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import s3_server

from docket.errors import ObjectStoreError
from docket.locker import Locker
from docket.store.bucket import S3Bucket
from docket.verify import verify

MiB = 1024**2


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S3Bucket, "multipart_threshold", 8 * MiB)
    monkeypatch.setattr(S3Bucket, "part_size", 5 * MiB)


def big_file(path: Path, size: int = 12 * MiB) -> tuple[Path, str]:
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def later() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)


def unfinished(endpoint: s3_server.Endpoint, bucket: S3Bucket) -> list[Any]:
    answer = endpoint.client().list_multipart_uploads(
        Bucket=bucket.location.bucket, Prefix=bucket.location.prefix
    )
    return list(answer.get("Uploads", []))


def only_version(bucket: S3Bucket, key: str) -> str:
    [version] = [v for v in bucket.versions("objects/") if v.key == key]
    return version.version_id


def test_a_big_file_goes_up_in_parts_and_is_locked(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    bucket = S3Bucket.open(endpoint.locked_url())
    file, sha256 = big_file(tmp_path / "card-dump.bin")
    assert bucket.put_if_absent("objects/big", file, later(), sha256) is True
    with closing(bucket.get("objects/big")) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == sha256
    head = bucket.head("objects/big", only_version(bucket, "objects/big"))
    assert head.size == file.stat().st_size
    assert head.lock_mode == "COMPLIANCE"
    assert head.retain_until is not None and head.retain_until > datetime.datetime.now(datetime.UTC)
    answer = endpoint.client().head_object(
        Bucket=bucket.location.bucket, Key=bucket.location.prefix + "objects/big"
    )
    assert answer["ETag"].strip('"').endswith("-3")  # a multipart ETag counts its parts
    assert unfinished(endpoint, bucket) == []


def test_a_held_key_is_not_uploaded_again_in_parts(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    bucket = S3Bucket.open(endpoint.locked_url())
    file, sha256 = big_file(tmp_path / "first.bin")
    assert bucket.put_if_absent("objects/big", file, later(), sha256) is True
    other, _ = big_file(tmp_path / "other.bin")
    assert bucket.put_if_absent("objects/big", other, later()) is False
    only_version(bucket, "objects/big")  # still one version: the first
    with closing(bucket.get("objects/big")) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == sha256


def test_a_key_written_while_the_parts_went_up_is_not_overwritten(
    endpoint: s3_server.Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer's object appears after the check that the key is free (the check is
    made to miss it here): the server refuses the completion (If-None-Match), the upload is
    aborted, and the first object stays the only version."""
    bucket = S3Bucket.open(endpoint.locked_url())
    first, sha256 = big_file(tmp_path / "first.bin")
    assert bucket.put_if_absent("objects/big", first, later(), sha256) is True
    monkeypatch.setattr(bucket, "exists", lambda _key: False)
    second, _ = big_file(tmp_path / "second.bin")
    assert bucket.put_if_absent("objects/big", second, later()) is False
    only_version(bucket, "objects/big")
    with closing(bucket.get("objects/big")) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == sha256
    assert unfinished(endpoint, bucket) == []


def test_bytes_that_do_not_hash_to_the_name_are_never_completed(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    bucket = S3Bucket.open(endpoint.locked_url())
    file, sha256 = big_file(tmp_path / "changed.bin")
    wrong = hashlib.sha256(b"the bytes that were hashed before the file changed").hexdigest()
    with pytest.raises(ObjectStoreError) as refused:
        bucket.put_if_absent("objects/big", file, later(), wrong)
    assert str(refused.value) == (
        f"{bucket.location.name('objects/big')}: upload stopped: {file} changed while it was "
        f"sent (its SHA-256 is {sha256}, not {wrong})"
    )
    assert not bucket.exists("objects/big")
    assert unfinished(endpoint, bucket) == []


def test_a_big_file_ingested_into_a_bucket_locker_verifies(
    endpoint: s3_server.Endpoint, tmp_path: Path, cli: Any
) -> None:
    path = tmp_path / "team"
    made = cli("init", path, "--store", endpoint.locked_url(), "--retention-days", "1")
    assert made.code == 0, made.err
    (tmp_path / "in").mkdir()
    file, sha256 = big_file(tmp_path / "in" / "recording.bin")
    taken = cli("ingest", "--locker", path, file)
    assert taken.code == 0, taken.err
    with Locker.open(path) as locker:
        assert locker.store.has(sha256)
        report = verify(locker)
        assert report.ok, [str(p) for p in report.problems]


def test_gc_aborts_an_upload_its_writer_left_unfinished(
    endpoint: s3_server.Endpoint, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer killed midway leaves its parts stored and no object. `gc` aborts such an
    upload once it is older than any live one could be (`unfinished_after`, two days; the
    test lowers it to nothing), and leaves a recent one alone (checked on a real endpoint
    only: moto reports a fixed start date in 2010 for every upload)."""
    url = endpoint.locked_url()
    path = tmp_path / "team"
    assert cli("init", path, "--store", url, "--retention-days", "1").code == 0
    bucket = S3Bucket.open(url)
    client, key = endpoint.client(), bucket.location.prefix + "objects/ab/" + "c" * 62
    upload = client.create_multipart_upload(
        Bucket=bucket.location.bucket, Key=key, ChecksumAlgorithm="SHA256"
    )
    client.upload_part(
        Bucket=bucket.location.bucket,
        Key=key,
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=os.urandom(5 * MiB),
    )
    if endpoint.real_bucket is not None:  # moto says every upload began in 2010: not there
        recent = cli("gc", "--locker", path)
        assert recent.code == 0, recent.err
        assert "unfinished upload" not in recent.out
        assert [u["UploadId"] for u in unfinished(endpoint, bucket)] == [upload["UploadId"]]
    monkeypatch.setattr(S3Bucket, "unfinished_after", datetime.timedelta(0))
    stale = cli("gc", "--locker", path)
    assert stale.code == 0, stale.err
    assert "1 unfinished upload(s) of dead processes aborted" in stale.out
    assert unfinished(endpoint, bucket) == []
    assert not bucket.exists("objects/ab/" + "c" * 62)


def test_an_ingest_killed_during_a_multipart_upload_leaves_no_object_and_gc_aborts_it(
    endpoint: s3_server.Endpoint, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = endpoint.locked_url()
    path = tmp_path / "team"
    assert cli("init", path, "--store", url, "--retention-days", "1").code == 0
    bucket = S3Bucket.open(url)
    (tmp_path / "in").mkdir()
    file, sha256 = big_file(tmp_path / "in" / "recording.bin", 40 * MiB)
    # The CLI in a process of its own, with the same small parts as this test.
    program = (
        "import sys; from docket.store.bucket import S3Bucket; from docket.cli import main; "
        f"S3Bucket.multipart_threshold = {8 * MiB}; S3Bucket.part_size = {5 * MiB}; "
        "sys.exit(main(sys.argv[1:]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program, "ingest", "--locker", str(path), str(file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = endpoint.client()
    try:
        while process.poll() is None:
            uploads = unfinished(endpoint, bucket)
            if uploads and client.list_parts(
                Bucket=bucket.location.bucket,
                Key=uploads[0]["Key"],
                UploadId=uploads[0]["UploadId"],
            ).get("Parts"):
                break
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(unfinished(endpoint, bucket)) == 1, "the kill missed the upload"
    assert not bucket.exists(f"objects/{sha256[:2]}/{sha256[2:]}")
    monkeypatch.setattr(S3Bucket, "unfinished_after", datetime.timedelta(0))
    cleaned = cli("gc", "--locker", path)
    assert cleaned.code == 0, cleaned.err
    assert "1 unfinished upload(s) of dead processes aborted" in cleaned.out
    assert unfinished(endpoint, bucket) == []
    again = cli("ingest", "--locker", path, file)
    assert again.code == 0, again.err
    with Locker.open(path) as locker:
        assert locker.store.has(sha256)
        report = verify(locker)
        assert report.ok, [str(p) for p in report.problems]
