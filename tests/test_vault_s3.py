"""A vault whose store is an S3 bucket with Object Lock (docket/store/vault_s3.py), end to
end: `init --vault --store s3://...`, the marked sample set ingested and analysed, then every
byte of every object version in the bucket, every key, its metadata and tags, and every file
of the locker folder searched for the markers, the originals' SHA-256 and any run of their
bytes. Then verify, a re-arrival held once, damage in the bucket and in cache/ named, and
kill -9 during ingest. Run against moto in server mode on loopback (an emulator, see
s3_server.py), and against a real endpoint when DOCKET_TEST_S3_URL is set."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import s3_server
from conftest import photo
from kills import ingest_killed
from sqlalchemy import text
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, findings, marked_evidence, originals

from docket import gc
from docket.errors import BlobLockedError, VaultDamagedError
from docket.locker import Locker
from docket.store import VaultS3Store
from docket.store.bucket import Location, S3Bucket
from docket.verify import verify

PASSPHRASE = "harbour lichen copper 19"


@pytest.fixture
def passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    return file


def _vault(cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path) -> tuple[Path, str]:
    url = endpoint.locked_url()
    path = tmp_path / "vault"
    made = cli("init", "--vault", path, "--store", url, "--retention-days", "1")
    assert made.code == 0, made.err
    assert "recovery key (shown only now): " in made.out
    assert "each locked for 1 day(s)" in made.out
    return path, url


def _objects(endpoint: s3_server.Endpoint, url: str) -> list[dict[str, Any]]:
    """Every version of every object under the locker's prefix, as boto3 lists them."""
    location = Location.parse(url)
    pages = endpoint.client().get_paginator("list_object_versions")
    return [
        version
        for page in pages.paginate(Bucket=location.bucket, Prefix=location.prefix)
        for version in page.get("Versions", [])
    ]


def _download(endpoint: s3_server.Endpoint, url: str, into: Path) -> list[str]:
    """Every version of every object written to `into` (one file each); their keys. Each
    object's metadata and tags are checked to be empty on the way."""
    location = Location.parse(url)
    client = endpoint.client()
    into.mkdir()
    keys = []
    for n, version in enumerate(_objects(endpoint, url)):
        asked = {
            "Bucket": location.bucket,
            "Key": version["Key"],
            "VersionId": version["VersionId"],
        }
        answer = client.get_object(**asked)
        assert answer.get("Metadata", {}) == {}, version["Key"]
        assert client.get_object_tagging(**asked).get("TagSet", []) == [], version["Key"]
        assert answer.get("ObjectLockMode") == "COMPLIANCE", version["Key"]
        (into / f"object{n:04}").write_bytes(answer["Body"].read())
        keys.append(version["Key"])
    return keys


@pytest.fixture
def evidence(tmp_path: Path) -> list[Path]:
    return marked_evidence(tmp_path / "evidence")


def test_a_vault_in_a_bucket_gives_nothing_away_and_verifies(
    cli: Any,
    endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
    evidence: list[Path],
) -> None:
    path, url = _vault(cli, endpoint, tmp_path)
    stored = cli("ingest", "--locker", path, "--source", SOURCE, "--note", NOTE, *evidence)
    assert stored.code == 0, stored.err + stored.out
    analysed = cli("analyse", "--all", "--locker", path)
    assert analysed.code == 0, analysed.err + analysed.out
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        assert isinstance(locker.store, VaultS3Store)
        items = conn.execute(text("SELECT sha256 FROM items")).scalars().all()
        derived = conn.execute(text("SELECT sha256 FROM derivatives")).scalars().all()
        # Each blob reads back as its plaintext, decrypted from the bucket's sealed object.
        for sha256 in [*items, *derived]:
            with locker.store.open(sha256) as plain:
                assert hashlib.sha256(plain.read()).hexdigest() == sha256
        assert set(locker.store.digests()) == {*items, *derived}
    assert len(items) == 9 and derived
    secrets = Secrets.of(MARKERS, originals(evidence))
    keys = _download(endpoint, url, tmp_path / "bucket")
    assert len(keys) == len({*items, *derived})  # one sealed object per blob, no more
    named = "\n".join(keys)
    assert not [d for d in secrets.digests if d.decode("latin-1") in named]
    assert not [s for s in [*items, *derived] if s in named or s[:16] in named]
    assert findings(tmp_path / "bucket", secrets) == []
    assert findings(path, secrets) == []
    assert list((path / "cache").rglob("*"))  # the cache holds sealed copies, scanned above
    checked = cli("verify", "--locker", path)
    assert checked.code == 0, checked.out
    assert "encrypted" in checked.out


def test_the_scan_of_the_bucket_can_fail(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, evidence: list[Path]
) -> None:
    """The same scan on a plain bucket locker finds the originals' bytes and names."""
    url = endpoint.locked_url()
    path = tmp_path / "plain"
    assert cli("init", path, "--store", url, "--retention-days", "1").code == 0
    assert cli("ingest", "--locker", path, evidence[-1]).code == 0
    keys = _download(endpoint, url, tmp_path / "bucket")
    sha256 = hashlib.sha256(evidence[-1].read_bytes()).hexdigest()
    assert any(sha256[2:] in key for key in keys)
    found = "\n".join(findings(tmp_path / "bucket", Secrets.of(MARKERS, originals(evidence))))
    assert "marker" in found and "a run of an original's bytes" in found


def _one_item(cli: Any, path: Path, tmp_path: Path, seed: int = 1) -> tuple[str, Path]:
    source = photo(tmp_path / f"in{seed}", seed=seed)
    done = cli("ingest", "--locker", path, "--defer-analysis", "--json", source)
    assert done.code == 0, done.err
    [line] = [r for r in map(json.loads, done.out.splitlines()) if r["type"] == "file"]
    return str(line["sha256"]), source


def test_a_re_arrival_is_held_once_by_its_keyed_name(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    path, url = _vault(cli, endpoint, tmp_path)
    sha256, source = _one_item(cli, path, tmp_path)
    again = cli("ingest", "--locker", path, "--defer-analysis", "--json", source)
    assert again.code == 0, again.err
    [line] = [r for r in map(json.loads, again.out.splitlines()) if r["type"] == "file"]
    assert (line["status"], line["sha256"]) == ("held", sha256)
    assert len(_objects(endpoint, url)) == 1  # one version: the second seal was not uploaded


def _sealed_key(path: Path, sha256: str) -> str:
    with Locker.open(path, writable=False) as locker:
        assert isinstance(locker.store, VaultS3Store)
        keyed = locker.store.keyed_name(sha256)
    return f"objects/{keyed[:2]}/{keyed[2:]}"


def test_an_overwrite_of_a_sealed_object_is_named_and_never_read(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    """Someone with the bucket's keys puts a damaged copy (one byte flipped) over a sealed
    object: Object Lock keeps the original, verify names the later version."""
    path, url = _vault(cli, endpoint, tmp_path)
    sha256, source = _one_item(cli, path, tmp_path)
    location = Location.parse(url)
    key = location.prefix + _sealed_key(path, sha256)
    client = endpoint.client()
    body = bytearray(client.get_object(Bucket=location.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket=location.bucket, Key=key, Body=bytes(body))
    result = cli("verify", "--locker", path)
    assert result.code == 1
    assert f"blob {sha256[:16]}: overwritten in the bucket" in result.out
    shutil.rmtree(path / "cache")  # read again from the bucket: the locked original
    with Locker.open(path) as locker, locker.store.open(sha256) as plain:
        assert plain.read() == source.read_bytes()


def test_a_flipped_byte_in_the_original_object_is_named_by_verify(
    cli: Any, moto_endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    """Damage no client can do (Object Lock forbids it), done inside moto, as a failing
    disk at the provider would: the original's bytes change in place. verify names the
    blob; a reader with an empty cache gets an error, never the damaged bytes."""
    from moto.s3.models import s3_backends  # moto runs in this process (s3_server.py)

    path, url = _vault(cli, moto_endpoint, tmp_path)
    sha256, _source = _one_item(cli, path, tmp_path)
    location = Location.parse(url)
    [stored] = [
        key
        for backend in s3_backends.values()
        for region in backend.values()
        if location.bucket in region.buckets
        for key in region.buckets[location.bucket].keys.getlist(
            location.prefix + _sealed_key(path, sha256)
        )
    ]
    body = bytearray(stored.value)
    body[-40] ^= 0x01  # inside the last segment
    stored.value = bytes(body)
    result = cli("verify", "--locker", path)
    assert result.code == 1
    assert f"item {sha256[:16]}: blob does not decrypt" in result.out, result.out
    assert "do not match the checksum stored with them (damaged)" in result.out
    shutil.rmtree(path / "cache")
    with Locker.open(path) as locker, pytest.raises(VaultDamagedError, match="damaged"):
        locker.store.path(sha256)
    assert not (path / "cache").exists() or not list((path / "cache").rglob("*"))


def test_a_damaged_cache_copy_is_named_and_never_served(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    path, _url = _vault(cli, endpoint, tmp_path)
    sha256, _source = _one_item(cli, path, tmp_path)
    [cached] = [f for f in (path / "cache").rglob("*") if f.is_file()]
    body = bytearray(cached.read_bytes())
    body[-40] ^= 0x01
    cached.chmod(0o644)
    cached.write_bytes(bytes(body))
    cached.chmod(0o444)
    result = cli("verify", "--locker", path)
    assert result.code == 1
    assert str(cached) in result.out and "does not authenticate" in result.out
    assert f"local copy of blob {sha256}" in result.out


KILLED_RUNS = 5


def test_sigkill_during_ingest_into_a_vault_bucket_loses_nothing_acknowledged(
    cli: Any, moto_endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    """kill -9 at random points of ingests into a vault's bucket (moto's server lives on in
    this process): every file reported stored is in the catalogue, its sealed original in
    the bucket, and verify passes after each run."""
    path, _url = _vault(cli, moto_endpoint, tmp_path)
    rng = random.Random(20261127)
    acknowledged: set[str] = set()
    killed = 0
    for run in range(KILLED_RUNS):
        batch = tmp_path / f"batch{run}"
        batch.mkdir()
        photo(batch, "photo.jpg", seed=200 + run)
        for i in range(10):
            (batch / f"blob{i:02}.bin").write_bytes(rng.randbytes(rng.choice([1, 64, 256]) << 10))
        was_running, stored = ingest_killed(path, batch, rng, 10, 0.05)
        killed += was_running
        acknowledged.update(stored)
        with Locker.open(path) as locker:
            report = verify(locker)
            assert report.ok, f"run {run}: " + "; ".join(str(p) for p in report.problems)
            with locker.engine.connect() as conn:
                items = set(conn.execute(text("SELECT sha256 FROM items")).scalars())
            assert acknowledged <= items, f"run {run}: acknowledged items lost"
            for sha256 in acknowledged:
                assert locker.store.hash_blob(sha256).sha256 == sha256
            assert not list((path / "tmp").glob("*.part"))  # the dead run's partial seal went
    assert killed >= KILLED_RUNS // 2, f"only {killed} of {KILLED_RUNS} runs were killed mid-way"
    assert len(acknowledged) > 10
    # Whatever a kill left behind, the locker folder holds no plaintext of any batch.
    batches = sorted(f for f in tmp_path.glob("batch*/*") if f.is_file())
    assert findings(path, Secrets.of([], originals(batches))) == []


def test_an_object_planted_under_a_keyed_name_is_refused_on_arrival(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    """Someone who learnt a keyed name puts their own bytes under it before the file
    arrives: they are no seal of this vault, so the arrival is refused by name and nothing
    of the planted object is ever read as the blob."""
    path, url = _vault(cli, endpoint, tmp_path)
    source = photo(tmp_path / "in", seed=7)
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    location = Location.parse(url)
    key = location.prefix + _sealed_key(path, sha256)
    endpoint.client().put_object(Bucket=location.bucket, Key=key, Body=b"planted" * 40)
    arrived = cli("ingest", "--locker", path, "--defer-analysis", "--json", source)
    assert arrived.code != 0
    assert "another object under this blob's keyed name" in arrived.out + arrived.err
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM items")).scalar_one() == 0
        assert list(locker.store.digests()) == []  # its header does not authenticate
        problems = [p for _name, p in locker.store.protection() if p]
    assert ["does not authenticate" in p for p in problems] == [True]


def test_the_same_bytes_stored_by_many_at_once_are_one_sealed_original(
    cli: Any, endpoint: s3_server.Endpoint, tmp_path: Path, passphrase_file: Path
) -> None:
    path, url = _vault(cli, endpoint, tmp_path)
    data = random.Random(5).randbytes(300_000)
    with Locker.open(path) as locker, ThreadPoolExecutor(4) as pool:
        stored = list(pool.map(lambda _: locker.store.put(io.BytesIO(data)), range(4)))
        assert {s.digest.sha256 for s in stored} == {hashlib.sha256(data).hexdigest()}
        assert sum(s.new for s in stored) == 1
        with locker.store.open(stored[0].digest.sha256) as plain:
            assert plain.read() == data
    assert len(_objects(endpoint, url)) == 1


def test_a_sealed_blob_too_big_for_one_put_goes_up_in_parts_and_reads_back(
    cli: Any,
    endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The threshold lowered from 5 GiB to 8 MiB (as test_s3_multipart.py does): a 12 MiB
    blob's sealed file goes up in three parts, locked, and decrypts whole."""
    monkeypatch.setattr(S3Bucket, "multipart_threshold", 8 << 20)
    monkeypatch.setattr(S3Bucket, "part_size", 5 << 20)
    path, url = _vault(cli, endpoint, tmp_path)
    data = random.Random(9).randbytes(12 << 20)
    with Locker.open(path) as locker:
        sha256 = locker.store.put(io.BytesIO(data)).digest.sha256
        shutil.rmtree(path / "cache")
        assert locker.store.hash_blob(sha256).sha256 == sha256
        with locker.store.plain_file(sha256) as plain:
            assert plain.read_bytes() == data
        assert [p for _name, p in locker.store.protection()] == [None]
    [only] = _objects(endpoint, url)
    assert only["Size"] > len(data)  # the sealed file, not the plaintext


def test_a_locked_vault_in_a_bucket_checks_its_objects_without_the_key(
    cli: Any,
    endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, url = _vault(cli, endpoint, tmp_path)
    sha256, _source = _one_item(cli, path, tmp_path)
    key = _sealed_key(path, sha256)
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    locked = cli("verify", "--locker", path)
    assert locked.code == 0, locked.out
    assert "1 encrypted blob files" in locked.out
    location = Location.parse(url)
    endpoint.client().put_object(Bucket=location.bucket, Key=location.prefix + key, Body=b"x")
    touched = cli("verify", "--locker", path)
    assert touched.code == 1
    assert f"blob object {key}: overwritten in the bucket" in touched.out


def test_gc_lists_a_stray_by_its_sha256_and_refuses_to_delete_it_while_locked(
    cli: Any,
    endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, url = _vault(cli, endpoint, tmp_path)
    _one_item(cli, path, tmp_path)
    with Locker.open(path) as locker:
        stray = locker.store.put(io.BytesIO(b"sealed by an ingest that was killed")).digest
    key = _sealed_key(path, stray.sha256)
    monkeypatch.setattr(gc, "MIN_AGE", -3600.0)  # the bucket's clock cannot be set back
    listed = cli("gc", "--locker", path)
    assert listed.code == 0 and stray.sha256 in listed.out
    refused = cli("gc", "--locker", path, "--delete")
    assert refused.code != 0
    assert f"blob {stray.sha256[:16]} is locked in the bucket" in refused.err
    assert S3Bucket.open(url).exists(key)
    with Locker.open(path) as locker, pytest.raises(BlobLockedError, match="Object Lock"):
        locker.store.remove_stray(stray.sha256)
