"""Blobs in an S3-compatible bucket with Object Lock (docket/store/bucket.py and s3.py).

Run against moto in server mode on loopback (an emulator, see s3_server.py), and, opt-in,
against a real endpoint given by DOCKET_TEST_S3_URL (skipped, with the reason, when unset).
The thief in these tests holds the bucket's keys and uses boto3 directly.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import s3_server
from botocore.exceptions import ClientError
from conftest import PASSWORD, fresh_database, photo, sign_in, take
from fastapi.testclient import TestClient
from kills import ingest_killed
from sqlalchemy import select

from docket import accounts, gc
from docket.catalogue import queries, schema
from docket.custody import log
from docket.disclose.check import check
from docket.errors import (
    BlobLockedError,
    BlobMismatchError,
    DiskFullError,
    DocketError,
    ObjectStoreError,
)
from docket.locker import Locker
from docket.store.bucket import Location, S3Bucket
from docket.verify import verify
from docket.web.app import create_app


def _later(days: int = 1) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)


def _versions(client: Any, location: Location, key: str) -> list[dict[str, Any]]:
    answer = client.list_object_versions(Bucket=location.bucket, Prefix=location.prefix + key)
    return [v for v in answer.get("Versions", []) if v["Key"] == location.prefix + key]


def _put_original(endpoint: s3_server.Endpoint, tmp_path: Path) -> tuple[S3Bucket, bytes]:
    bucket = S3Bucket.open(endpoint.locked_url())
    original = b"an original: witness statement, page 1\n"
    file = tmp_path / "original"
    file.write_bytes(original)
    digest = hashlib.sha256(original).hexdigest()
    assert bucket.put_if_absent("objects/original", file, _later(), digest) is True
    return bucket, original


def test_a_bucket_without_object_lock_is_refused(endpoint: s3_server.Endpoint) -> None:
    url = endpoint.plain_url()
    if url is None:
        pytest.skip("a real endpoint: the tests cannot make a bucket without Object Lock there")
    bucket = S3Bucket.open(url)
    with pytest.raises(ObjectStoreError, match="does not have Object Lock enabled") as caught:
        bucket.require_object_lock()
    assert Location.parse(url).bucket in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bucket_with_object_lock_is_accepted(endpoint: s3_server.Endpoint) -> None:
    S3Bucket.open(endpoint.locked_url()).require_object_lock()


@pytest.mark.parametrize(
    ("url", "shown", "reason"),
    [
        ("s3://AKIAEXAMPLE:hunter2@bucket/p", "s3://bucket/p", "credentials never go in the URL"),
        (
            "s3://bucket/p?endpoint=http://AKIAEXAMPLE:hunter2@127.0.0.1:9000",
            "s3://bucket/p?endpoint=http://127.0.0.1:9000",
            "credentials never go in the URL",
        ),
        (
            "s3://bucket/p?aws_secret_access_key=hunter2&region=eu-west-1",
            "s3://bucket/p?aws_secret_access_key=***&region=eu-west-1",
            "unknown setting aws_secret_access_key",
        ),
        ("s3://bucket/p?endpoint=", "s3://bucket/p?endpoint=", "not empty"),
        ("https://bucket/p", "https://bucket/p", "not an S3 URL"),
    ],
)
def test_a_bad_url_is_one_line_naming_it_and_never_echoes_a_secret(
    url: str, shown: str, reason: str
) -> None:
    with pytest.raises(ObjectStoreError, match=reason) as caught:
        S3Bucket.open(url)
    message = str(caught.value)
    assert message.startswith(f"{shown}: ") and "\n" not in message
    assert "hunter2" not in message and "AKIAEXAMPLE" not in message


def test_an_unreachable_endpoint_is_one_line(moto_endpoint: s3_server.Endpoint) -> None:
    bucket = S3Bucket.open("s3://nowhere/p?endpoint=http://127.0.0.1:9&region=us-east-1")
    with pytest.raises(ObjectStoreError, match="cannot be reached"):
        bucket.require_object_lock()


def test_put_if_absent_writes_once_and_locks_in_compliance_mode(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    bucket, original = _put_original(endpoint, tmp_path)
    other = tmp_path / "other"
    other.write_bytes(b"something else entirely")
    assert bucket.put_if_absent("objects/original", other, _later()) is False
    assert bucket.exists("objects/original")
    assert not bucket.exists("objects/missing")
    with closing(bucket.get("objects/original")) as stream:
        assert stream.read() == original
    (version,) = [v for v in bucket.versions("objects/") if v.key == "objects/original"]
    head = bucket.head("objects/original", version.version_id)
    assert head.lock_mode == "COMPLIANCE"
    assert head.retain_until is not None and head.retain_until > _later(0)
    assert list(bucket.keys("objects/")) == [("objects/original", len(original))]


def test_a_thief_with_the_keys_cannot_delete_the_original(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    bucket, original = _put_original(endpoint, tmp_path)
    client, location = endpoint.client(), bucket.location
    (version,) = _versions(client, location, "objects/original")
    for bypass in (False, True):
        with pytest.raises(ClientError) as caught:
            client.delete_object(
                Bucket=location.bucket,
                Key=location.prefix + "objects/original",
                VersionId=version["VersionId"],
                BypassGovernanceRetention=bypass,
            )
        assert caught.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(DocketError, match="removing failed"):
        bucket.delete("objects/original", version["VersionId"])
    # A plain delete only hides it behind a marker: the locked original is still held.
    client.delete_object(Bucket=location.bucket, Key=location.prefix + "objects/original")
    assert bucket.exists("objects/original")
    with closing(bucket.get("objects/original", version["VersionId"])) as stream:
        assert stream.read() == original


def test_a_thief_with_the_keys_cannot_overwrite_the_original(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    bucket, original = _put_original(endpoint, tmp_path)
    client, location = endpoint.client(), bucket.location
    client.put_object(
        Bucket=location.bucket, Key=location.prefix + "objects/original", Body=b"forged"
    )
    versions = _versions(client, location, "objects/original")
    assert len(versions) == 2  # the overwrite added a version; the original stays under it
    oldest = [v for v in bucket.versions("objects/") if v.key == "objects/original"][-1]
    with closing(bucket.get("objects/original", oldest.version_id)) as stream:
        assert stream.read() == original


def test_a_thief_with_the_keys_cannot_shorten_the_retention(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    if endpoint.real_bucket is None:
        pytest.skip(
            "moto (an emulator) lets a COMPLIANCE retention be shortened, which S3 refuses; "
            "this runs only against a real endpoint"
        )
    bucket, _ = _put_original(endpoint, tmp_path)
    client, location = endpoint.client(), bucket.location
    (version,) = _versions(client, location, "objects/original")
    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=location.bucket,
            Key=location.prefix + "objects/original",
            VersionId=version["VersionId"],
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _later(0)},
        )


# A locker whose blobs are in the bucket.


@pytest.fixture
def database(backend: str) -> Iterator[str | None]:
    """None for the locker's own SQLite file, else a new PostgreSQL database's URL."""
    with fresh_database(backend) as url:
        yield url


def _s3_locker(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, database: str | None = None
) -> tuple[Path, str]:
    """A locker whose blobs are in a new place in the bucket (made by `docket init` unless
    its catalogue is to be in `database`, which the command line does not take)."""
    url = endpoint.locked_url()
    path = tmp_path / "team"
    if database is None:
        made = cli("init", path, "--store", url, "--retention-days", "1")
        assert made.code == 0, made.err
    else:
        Locker.create(path, "tester", database, store_url=url, retention_days=1).close()
    return path, url


def _item(path: Path, tmp_path: Path, cli: Any, seed: int = 1) -> str:
    """Ingest one synthetic photo into case North (analysis deferred); its SHA-256."""
    source = photo(tmp_path / f"in{seed}", seed=seed)
    result = cli(
        "ingest", "--locker", path, "--case", "North", "--defer-analysis", "--json", source
    )
    assert result.code == 0, result.err
    [stored] = [line for line in map(json.loads, result.out.splitlines()) if line["type"] == "file"]
    assert stored["status"] == "new"
    return str(stored["sha256"])


def test_init_refuses_a_bucket_without_object_lock(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    url = endpoint.plain_url()
    if url is None:
        pytest.skip("a real endpoint: the tests cannot make a bucket without Object Lock there")
    result = cli("init", tmp_path / "team", "--store", url, "--retention-days", "30")
    assert result.code != 0
    [line] = result.err.strip().splitlines()
    assert "does not have Object Lock enabled" in line and Location.parse(url).bucket in line
    assert "Traceback" not in result.err
    assert not (tmp_path / "team").exists()  # nothing made


@pytest.mark.parametrize("days", [None, "0", "-5", "99999999"])
def test_init_needs_a_sensible_retention_with_a_bucket(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, days: str | None
) -> None:
    retention = [] if days is None else ["--retention-days", days]
    result = cli("init", tmp_path / "team", "--store", endpoint.locked_url(), *retention)
    assert result.code != 0
    [line] = result.err.strip().splitlines()
    assert "--retention-days" in line and "Traceback" not in result.err
    assert not (tmp_path / "team").exists()


def test_a_retention_without_a_bucket_is_refused(cli: Any, tmp_path: Path) -> None:
    result = cli("init", tmp_path / "solo", "--retention-days", "30")
    assert result.code != 0 and "--store" in result.err
    assert not (tmp_path / "solo").exists()


def test_init_refuses_a_prefix_that_already_holds_objects(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path)
    _item(path, tmp_path, cli)
    result = cli("init", tmp_path / "second", "--store", url, "--retention-days", "1")
    assert result.code != 0 and "already holds objects" in result.err
    assert not (tmp_path / "second").exists()


def test_init_records_url_and_retention_and_no_credentials(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path)
    config = json.loads((path / "docket.json").read_text())
    assert config["store"] == {"url": Location.parse(url).url, "retention_days": 1}
    assert not (path / "objects").exists()  # blobs are in the bucket only
    secrets = [os.environ.get(n) for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    everything = b"".join(
        f.read_bytes() for f in path.rglob("*") if f.is_file() and f.name != "signing.key"
    )
    for secret in filter(None, secrets):
        assert secret.encode() not in everything
    with Locker.open(path) as locker, locker.engine.connect() as conn:
        genesis = next(iter(log.events(conn)))
    assert genesis.details["store"] == config["store"]


def test_ingest_analyse_export_verify_on_a_bucket(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, database: str | None
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path, database)
    sha256 = _item(path, tmp_path, cli)
    analysed = cli("analyse", "--locker", path, "--all")
    assert analysed.code == 0, analysed.err
    bucket = S3Bucket.open(url)
    key = f"objects/{sha256[:2]}/{sha256[2:]}"
    assert bucket.exists(key)
    with Locker.open(path) as locker, locker.engine.connect() as conn:
        rows = conn.execute(
            select(schema.results.c.step, schema.results.c.status, schema.results.c.data).where(
                schema.results.c.item_sha256 == sha256
            )
        ).all()
        derived = conn.execute(select(schema.derivatives.c.sha256)).scalars().all()
    metadata = {step: (status, data) for step, status, data in rows}["metadata"]
    assert metadata[0] == "ok" and "33.5043" in metadata[1]  # ExifTool read the GPS
    assert derived and all(bucket.exists(f"objects/{d[:2]}/{d[2:]}") for d in derived)
    # Another member of the team, with an empty cache, reads the same blobs from the bucket.
    shutil.rmtree(path / "cache")
    (path / "cache").mkdir()
    package = tmp_path / "package"
    exported = cli(
        "export", "--locker", path, "--case", "North", "--profile", "court", "-o", package
    )
    assert exported.code == 0, exported.err
    assert (package / "data").is_dir()
    assert check(package).ok
    held = {hashlib.sha256(f.read_bytes()).hexdigest() for f in package.rglob("*") if f.is_file()}
    assert sha256 in held  # the original, fetched from the bucket, is in the package
    verified = cli("verify", "--locker", path)
    assert verified.code == 0, verified.out
    with Locker.open(path, writable=False) as locker:
        report = verify(locker)
    assert report.ok, report.problems
    [guard] = [c for c in report.checks if c.name == "blob permissions"]
    assert guard.passed is True and "locked" in guard.detail


def _thief_overwrites(endpoint: s3_server.Endpoint, url: str, sha256: str, body: bytes) -> None:
    location = Location.parse(url)
    endpoint.client().put_object(
        Bucket=location.bucket,
        Key=f"{location.prefix}objects/{sha256[:2]}/{sha256[2:]}",
        Body=body,
    )


def test_an_overwrite_in_the_bucket_is_named_by_verify_and_never_served(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, database: str | None
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path, database)
    sha256 = _item(path, tmp_path, cli)
    original = (path / "cache" / sha256[:2] / sha256[2:]).read_bytes()
    _thief_overwrites(endpoint, url, sha256, b"a forged photo")
    result = cli("verify", "--locker", path)
    assert result.code == 1
    assert f"blob {sha256[:16]}: overwritten in the bucket" in result.out
    assert "the locked original is kept" in result.out
    shutil.rmtree(path / "cache")  # a member with an empty cache reads the original
    with Locker.open(path) as locker:
        assert locker.store.path(sha256).read_bytes() == original
        assert locker.store.hash_blob(sha256).sha256 == sha256
        report = verify(locker)  # re-hashes what is in the bucket
    assert not report.ok
    assert not [p for p in report.problems if "content changed" in p.message]
    [guard] = [c for c in report.checks if c.name == "blob permissions"]
    assert guard.passed is False


def test_a_delete_in_the_bucket_is_named_by_verify_and_the_original_is_still_read(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path)
    sha256 = _item(path, tmp_path, cli)
    location = Location.parse(url)
    endpoint.client().delete_object(
        Bucket=location.bucket, Key=f"{location.prefix}objects/{sha256[:2]}/{sha256[2:]}"
    )
    result = cli("verify", "--locker", path)
    assert result.code == 1
    assert f"blob {sha256[:16]}: deleted in the bucket" in result.out
    shutil.rmtree(path / "cache")
    with Locker.open(path) as locker:
        assert hashlib.sha256(locker.store.path(sha256).read_bytes()).hexdigest() == sha256


def test_bytes_planted_under_a_blobs_name_are_refused_not_served(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    """Someone with the keys puts other bytes (locked) under the name a file will have."""
    path, url = _s3_locker(cli, endpoint, tmp_path)
    source = photo(tmp_path / "in", seed=7)
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    bucket = S3Bucket.open(url)
    planted = tmp_path / "planted"
    planted.write_bytes(b"planted before the file arrived")
    assert bucket.put_if_absent(f"objects/{sha256[:2]}/{sha256[2:]}", planted, _later())
    result = cli("ingest", "--locker", path, source)
    assert result.code != 0
    assert "the bucket holds other bytes under this blob's name" in result.out + result.err
    assert "Traceback" not in result.out + result.err
    with Locker.open(path) as locker:
        with locker.engine.connect() as conn:
            assert conn.execute(select(schema.items.c.sha256)).scalars().all() == []
        with pytest.raises(BlobMismatchError, match="not the blob they are named for"):
            locker.store.path(sha256)
        assert not (path / "cache" / sha256[:2] / sha256[2:]).exists()
        assert list((path / "tmp").iterdir()) == []


def test_gc_delete_is_refused_on_a_locked_stray(
    cli: Any,
    endpoint: s3_server.Endpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database: str | None,
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path, database)
    _item(path, tmp_path, cli)
    with Locker.open(path) as locker:
        stray = locker.store.put(io.BytesIO(b"stored by an ingest that was killed")).digest
    # The bucket's clock cannot be set back: a stray is "old enough" at once here.
    monkeypatch.setattr(gc, "MIN_AGE", -3600.0)
    listed = cli("gc", "--locker", path)
    assert listed.code == 0 and stray.sha256 in listed.out
    refused = cli("gc", "--locker", path, "--delete")
    assert refused.code != 0
    [line] = refused.err.strip().splitlines()
    assert f"blob {stray.sha256[:16]} is locked in the bucket" in line
    assert "nothing was removed" in line
    assert S3Bucket.open(url).exists(f"objects/{stray.sha256[:2]}/{stray.sha256[2:]}")
    with Locker.open(path) as locker:
        with locker.engine.connect() as conn:
            assert not [e for e in log.events(conn) if e.action == "store.collected"]
        with pytest.raises(BlobLockedError, match="locked by S3 Object Lock"):
            locker.store.remove_stray(stray.sha256)


def test_a_full_disk_under_the_cache_is_a_clear_error(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, small_disk: Path
) -> None:
    url = endpoint.locked_url()
    path = small_disk / "team"
    assert cli("init", path, "--store", url, "--retention-days", "1").code == 0
    sha256 = _item(path, tmp_path, cli)
    shutil.rmtree(path / "cache")
    (path / "cache").mkdir()
    with Locker.open(path) as locker:  # a running server, say, whose disk then fills up
        fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, bytes(1 << 16))
        os.close(fd)
        assert full.value.errno == errno.ENOSPC
        with pytest.raises(DiskFullError) as caught:
            locker.store.path(sha256)
    [line] = str(caught.value).splitlines()
    assert f"objects/{sha256[:2]}/{sha256[2:]}" in line and "local cache" in line
    assert not (path / "cache" / sha256[:2]).exists()
    assert list((path / "tmp").iterdir()) == []  # the partial fetch is gone
    (small_disk / "filler").unlink()
    with Locker.open(path) as locker:  # with room again, the same call works
        assert hashlib.sha256(locker.store.path(sha256).read_bytes()).hexdigest() == sha256


def _without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_a_bucket_that_cannot_be_used_stops_ingest_with_one_line_and_loses_nothing(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _s3_locker(cli, endpoint, tmp_path)
    first = _item(path, tmp_path, cli, seed=1)
    with monkeypatch.context() as env:
        _without_credentials(env, tmp_path)
        result = cli("ingest", "--locker", path, photo(tmp_path / "second", seed=2))
        assert result.code == 1
        [line] = result.err.strip().splitlines()
        assert "no AWS credentials found" in line and "the batch stopped there" in line
        assert "Traceback" not in result.err
        assert list((path / "tmp").iterdir()) == []
        report = cli("verify", "--locker", path)
        assert report.code == 1 and "Traceback" not in report.out + report.err
        assert "blobs: could not be checked" in report.out
    with Locker.open(path) as locker, locker.engine.connect() as conn:
        assert conn.execute(select(schema.items.c.sha256)).scalars().all() == [first]
    assert cli("verify", "--locker", path).code == 0  # with the keys back, all is well


def test_a_changed_local_copy_is_named_by_verify(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, _ = _s3_locker(cli, endpoint, tmp_path)
    sha256 = _item(path, tmp_path, cli)
    cached = path / "cache" / sha256[:2] / sha256[2:]
    cached.chmod(0o644)
    cached.write_bytes(b"edited on the server's disk")
    result = cli("verify", "--locker", path)
    assert result.code == 1
    assert f"blob {sha256[:16]}: its local copy {cached} is writable" in result.out


def test_a_lost_catalogue_is_not_replaced_while_the_bucket_holds_blobs(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, _ = _s3_locker(cli, endpoint, tmp_path)
    _item(path, tmp_path, cli)
    (path / "catalogue.sqlite").unlink()
    (path / "checkpoints.log").write_bytes(b"")  # only the bucket still shows evidence
    result = cli("ingest", "--locker", path, photo(tmp_path / "later", seed=5))
    assert result.code != 0 and "the catalogue is missing or empty" in result.err
    assert not (path / "catalogue.sqlite").exists()


KILLED_RUNS = int(os.environ.get("DOCKET_S3_KILL_RUNS", "5"))  # more by hand


def test_sigkill_during_ingest_to_a_bucket_loses_nothing_acknowledged(
    cli: Any, moto_endpoint: s3_server.Endpoint, tmp_path: Path, database: str | None
) -> None:
    """kill -9 at random points of ingests into a bucket (moto's server lives on in this
    process): every file reported stored is in the catalogue and its original in the bucket."""
    path, _ = _s3_locker(cli, moto_endpoint, tmp_path, database)
    rng = random.Random(20261126)
    acknowledged: set[str] = set()
    killed = 0
    for run in range(KILLED_RUNS):
        batch = tmp_path / f"batch{run}"
        batch.mkdir()
        photo(batch, "photo.jpg", seed=100 + run)
        for i in range(12):
            (batch / f"blob{i:02}.bin").write_bytes(rng.randbytes(rng.choice([1, 64, 256]) << 10))
        was_running, stored = ingest_killed(path, batch, rng, 12, 0.05)
        killed += was_running
        acknowledged.update(stored)
        with Locker.open(path) as locker:
            report = verify(locker)
            assert report.ok, f"run {run}: " + "; ".join(str(p) for p in report.problems)
            with locker.engine.connect() as conn:
                items = set(conn.execute(select(schema.items.c.sha256)).scalars())
            assert acknowledged <= items, f"run {run}: acknowledged items lost"
            for sha256 in acknowledged:
                assert locker.store.hash_blob(sha256).sha256 == sha256
            assert not list((path / "tmp").glob("*.part"))  # the dead run's partial spool went
    assert killed >= KILLED_RUNS // 2, f"only {killed} of {KILLED_RUNS} runs were killed mid-way"
    assert len(acknowledged) > 20


def test_the_same_bytes_arriving_again_are_held_once(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, database: str | None
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path, database)
    sha256 = _item(path, tmp_path, cli, seed=3)
    shutil.rmtree(path / "cache")  # the check of the held copy must ask the bucket
    again = cli("ingest", "--locker", path, "--json", photo(tmp_path / "again", seed=3))
    assert again.code == 0, again.err
    [line] = [r for r in map(json.loads, again.out.splitlines()) if r["type"] == "file"]
    assert (line["status"], line["sha256"]) == ("held", sha256)
    key = f"objects/{sha256[:2]}/{sha256[2:]}"
    assert len([v for v in S3Bucket.open(url).versions(key) if v.key == key]) == 1


@pytest.mark.parametrize(
    "entry",
    [
        {"url": "s3://bucket/p"},
        {"url": 7, "retention_days": 1},
        {"url": "s3://bucket/p", "retention_days": "30"},
        "s3://bucket/p",
        {"url": "s3://AKIAEXAMPLE:hunter2@bucket/p", "retention_days": 1},
    ],
)
def test_a_damaged_store_entry_in_docket_json_is_one_line(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, entry: Any
) -> None:
    path, _ = _s3_locker(cli, endpoint, tmp_path)
    config = json.loads((path / "docket.json").read_text())
    (path / "docket.json").write_text(json.dumps({**config, "store": entry}))
    result = cli("verify", "--locker", path)
    assert result.code != 0 and "Traceback" not in result.err
    [line] = result.err.strip().splitlines()
    assert "docket.json" in line or "credentials never go in the URL" in line


def test_the_same_bytes_stored_by_many_at_once_are_one_locked_original(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path)
    payload = random.Random(4).randbytes(3 << 20)
    start = threading.Barrier(4)

    def store() -> bool:
        with Locker.open(path) as locker:
            start.wait()
            return locker.store.put(io.BytesIO(payload)).new

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: store(), range(4)))
    assert sorted(outcomes) == [False, False, False, True]
    sha256 = hashlib.sha256(payload).hexdigest()
    key = f"objects/{sha256[:2]}/{sha256[2:]}"
    [version] = [v for v in S3Bucket.open(url).versions(key) if v.key == key]
    assert version.size == len(payload)


def test_strip_reads_the_original_from_the_bucket_and_locks_its_copy(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    path, url = _s3_locker(cli, endpoint, tmp_path)
    sha256 = _item(path, tmp_path, cli)
    shutil.rmtree(path / "cache")  # the original must come from the bucket
    stripped = cli("strip", "--locker", path, sha256[:12], "--json")
    assert stripped.code == 0, stripped.err
    copy = Path(stripped.json()["path"])
    assert copy.is_relative_to(path / "cache")
    gps = subprocess.run(
        ["exiftool", "-json", "-n", "-GPSLatitude", str(copy)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "GPSLatitude" not in json.loads(gps.stdout)[0]
    copy_sha256 = hashlib.sha256(copy.read_bytes()).hexdigest()
    key = f"objects/{copy_sha256[:2]}/{copy_sha256[2:]}"
    bucket = S3Bucket.open(url)
    [version] = [v for v in bucket.versions(key) if v.key == key]
    assert bucket.head(key, version.version_id).lock_mode == "COMPLIANCE"
    assert cli("verify", "--locker", path).code == 0


def test_gc_delete_removes_an_unlocked_stray_and_logs_it(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stray whose retention is over (here: one put without a lock) can be collected."""
    path, url = _s3_locker(cli, endpoint, tmp_path)
    _item(path, tmp_path, cli)
    body = b"a stray never recorded, with no lock"
    sha256 = hashlib.sha256(body).hexdigest()
    location = Location.parse(url)
    key = f"objects/{sha256[:2]}/{sha256[2:]}"
    client = endpoint.client()
    client.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=body)
    if client.head_object(Bucket=location.bucket, Key=location.prefix + key).get("ObjectLockMode"):
        pytest.skip("this bucket locks every object by default (a default retention rule)")
    monkeypatch.setattr(gc, "MIN_AGE", -3600.0)  # the bucket's clock cannot be set back
    removed = cli("gc", "--locker", path, "--delete")
    assert removed.code == 0, removed.err
    assert f"removed  {sha256}" in removed.out
    assert not S3Bucket.open(url).exists(key)
    with Locker.open(path) as locker:
        with locker.engine.connect() as conn:
            [event] = [e for e in log.events(conn) if e.action == "store.collected"]
        assert event.details == {"blobs": [{"sha256": sha256, "size": len(body)}]}
        assert verify(locker).ok


def test_a_full_disk_under_tmp_stops_ingest_to_a_bucket_with_one_line(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, small_disk: Path
) -> None:
    """The bytes are spooled to the locker's tmp/ before upload: no room there is the
    locker's fault, named as such, and nothing half-written reaches the bucket."""
    url = endpoint.locked_url()
    path = small_disk / "team"
    assert cli("init", path, "--store", url, "--retention-days", "1").code == 0
    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(9).randbytes(8 << 20))  # more than the 6 MiB disk holds
    result = cli("ingest", "--locker", path, big)
    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert "locker disk full while storing" in line and "big.bin" in line
    assert list((path / "tmp").iterdir()) == []
    assert list(S3Bucket.open(url).keys("objects/")) == []


def test_the_web_app_serves_a_preview_from_the_bucket_and_never_a_forged_one(
    endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    url = endpoint.locked_url()
    with Locker.create(tmp_path / "team", "tester", store_url=url, retention_days=1) as locker:
        [outcome] = take(locker, photo(tmp_path / "in", seed=2), case="North").outcomes
        sha256 = str(outcome.sha256)
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            preview = queries.derivative_paths(conn, sha256)["safe_preview"]
        _thief_overwrites(endpoint, url, preview, b"\xff\xd8 a forged preview")
        shutil.rmtree(tmp_path / "team" / "cache")
        client = TestClient(create_app(locker))
        sign_in(client, "ada")
        served = client.get(f"/items/{sha256}/safe-preview")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == preview  # the locked original


def test_bytes_held_without_a_lock_are_locked_when_they_arrive(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    """The same bytes put under the blob's name without a lock (another tool, say) are
    locked in compliance mode when the blob arrives, so they can no longer be taken away."""
    path, url = _s3_locker(cli, endpoint, tmp_path)
    body = b"the same bytes, put earlier without any lock"
    sha256 = hashlib.sha256(body).hexdigest()
    location, key = Location.parse(url), f"objects/{sha256[:2]}/{sha256[2:]}"
    endpoint.client().put_object(Bucket=location.bucket, Key=location.prefix + key, Body=body)
    with Locker.open(path) as locker:
        assert locker.store.put(io.BytesIO(body)).new is False
    bucket = S3Bucket.open(url)
    [version] = [v for v in bucket.versions(key) if v.key == key]
    head = bucket.head(key, version.version_id)
    assert head.lock_mode == "COMPLIANCE"
    assert head.retain_until is not None and head.retain_until > _later(0) + datetime.timedelta(
        hours=23
    )


def test_a_blob_arriving_again_near_the_end_of_its_lock_is_locked_anew(
    cli: Any, moto_endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    """Its lock is made to end soon the only way a test can: moto (an emulator) lets a
    retention be shortened, which S3 refuses."""
    path, url = _s3_locker(cli, moto_endpoint, tmp_path)
    body = b"arrives again a day later"
    with Locker.open(path) as locker:
        sha256 = locker.store.put(io.BytesIO(body)).digest.sha256
    location, key = Location.parse(url), f"objects/{sha256[:2]}/{sha256[2:]}"
    bucket = S3Bucket.open(url)
    [version] = [v for v in bucket.versions(key) if v.key == key]
    soon = _later(0) + datetime.timedelta(minutes=5)
    moto_endpoint.client().put_object_retention(
        Bucket=location.bucket,
        Key=location.prefix + key,
        VersionId=version.version_id,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon},
    )
    shortened = bucket.head(key, version.version_id).retain_until
    assert shortened is not None and shortened < _later(0) + datetime.timedelta(hours=1)
    with Locker.open(path) as locker:
        assert locker.store.put(io.BytesIO(body)).new is False
        until = locker.store.retained_until(sha256)
    assert until is not None and until > _later(0) + datetime.timedelta(hours=23)
