"""`docket vault convert` of a locker whose blobs are in an S3 bucket with Object Lock: each
plain object sealed under its keyed name before the plain one is removed; the plain objects
Object Lock keeps are left, said so in one line, recorded (by version id only) and named by
`verify` as "plain objects left under retention", and removed by a later run once their
lock ends. kill -9 at random moments of a conversion, then a second run: nothing lost,
verify passes, no plaintext in the locker folder. Run against moto in server mode on
loopback (an emulator of S3, s3_server.py), which refuses to remove a locked version as S3
does; the moto-only tests reach into nothing of moto's but its HTTP API."""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import s3_server
from conftest import docket_command, photo
from sqlalchemy import select
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, findings, marked_evidence, originals

from docket.catalogue import schema
from docket.locker import Locker
from docket.store import S3Store, VaultS3Store
from docket.store.bucket import Location
from docket.store.s3 import object_blob
from docket.store.vault_s3 import PLAIN_LEFT
from docket.vault import convert

PASSPHRASE = "juniper tallow quarry 42"


@pytest.fixture
def passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    return file


def _bucket_locker(cli: Any, endpoint: s3_server.Endpoint, path: Path) -> str:
    url = endpoint.locked_url()
    made = cli("init", path, "--store", url, "--retention-days", "1")
    assert made.code == 0, made.err
    return url


def _keys(endpoint: s3_server.Endpoint, url: str) -> list[str]:
    """The key of every version (not delete markers) under the locker's prefix."""
    location = Location.parse(url)
    pages = endpoint.client().get_paginator("list_object_versions")
    return [
        version["Key"][len(location.prefix) :]
        for page in pages.paginate(Bucket=location.bucket, Prefix=location.prefix)
        for version in page.get("Versions", [])
    ]


def _said(err: str) -> list[str]:
    """What docket wrote to stderr: moto's server, in this process, logs its requests there."""
    return [line for line in err.splitlines() if line and not line.startswith("127.0.0.1 - -")]


def _holdings(path: Path) -> tuple[list[tuple[str, int]], int]:
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        items = conn.execute(
            select(schema.items.c.sha256, schema.items.c.size).order_by(schema.items.c.sha256)
        ).all()
        events = len(conn.execute(select(schema.events.c.seq)).all())
    return [(str(sha), int(size)) for sha, size in items], events


def _every_blob_reads_back(path: Path) -> set[str]:
    """Each blob the catalogue references decrypts to its SHA-256; the SHA-256s."""
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        assert isinstance(locker.store, VaultS3Store)
        items = set(conn.execute(select(schema.items.c.sha256)).scalars())
        derived = set(conn.execute(select(schema.derivatives.c.sha256)).scalars())
        for sha256 in items | derived:
            assert locker.store.hash_blob(sha256).sha256 == sha256
        assert items | derived <= set(locker.store.digests())
        return items | derived


def _short_locked_strays(path: Path, count: int, seconds: float) -> list[str]:
    """Blobs put straight into the plain bucket store locked for `seconds` only (moto keeps
    to a retain-until date of any precision), so their lock ends within the test."""
    with Locker.open(path) as locker:
        store = locker.store
        assert isinstance(store, S3Store)
        store.retention_days = seconds / 86400  # type: ignore[assignment]
        rng = random.Random(3)
        return [store.put(io.BytesIO(rng.randbytes(3000 + n))).digest.sha256 for n in range(count)]


def test_a_bucket_locker_becomes_a_vault_and_leaves_only_locked_plain_objects(
    cli: Any,
    moto_endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "locker"
    url = _bucket_locker(cli, moto_endpoint, path)
    evidence = marked_evidence(tmp_path / "evidence")
    stored = cli("ingest", "--locker", path, "--source", SOURCE, "--note", NOTE, *evidence)
    assert stored.code == 0, stored.err + stored.out
    # Locked long enough to outlast the conversion below on a loaded machine (15 s did not).
    strays = _short_locked_strays(path, 2, seconds=45)
    locked_until = time.time() + 45
    before, events = _holdings(path)
    plain_keys = set(_keys(moto_endpoint, url))
    assert list((path / "cache").rglob("*"))  # the plain store's plaintext copies

    done = cli("vault", "convert", "--locker", path)
    assert done.code == 0, done.err
    assert "is now a vault" in done.out
    [warned] = _said(done.err)  # one line, however many objects
    assert f"{len(plain_keys)} plain object version(s) left in the bucket" in warned
    config = json.loads((path / "docket.json").read_text())
    assert config["vault"] == {"format": 1} and config["store"]["url"] == Location.parse(url).url
    assert not (path / convert.JOURNAL).exists()
    assert _holdings(path) == (before, events + 1)
    held = _every_blob_reads_back(path)
    with Locker.open(path, writable=False) as locker:
        assert isinstance(locker.store, VaultS3Store)
        assert set(strays) <= set(locker.store.digests())  # sealed too, though no item
        assert set(locker.store.plain_left()) == {object_blob(k) for k in plain_keys}
    # The bucket: every plain object still there (locked), one sealed object per blob beside.
    after = set(_keys(moto_endpoint, url))
    assert plain_keys <= after and len(after - plain_keys) == len(plain_keys)
    # The locker folder gives nothing away: the record, cache/ and the catalogue included.
    assert findings(path, Secrets.of(MARKERS, originals(evidence))) == []
    assert not any(sha256 in (path / PLAIN_LEFT).read_text() for sha256 in held)
    checked = cli("verify", "--locker", path)
    assert checked.code == 0, checked.out
    assert f"{len(plain_keys)} plain objects left under retention" in checked.out

    # Once the strays' short lock ends, a second run removes their plain objects only.
    time.sleep(max(0.0, locked_until - time.time()) + 1)
    tidied = cli("vault", "convert", "--locker", path)
    assert tidied.code == 0, tidied.err
    assert f"{len(plain_keys) - 2} plain object version(s) left" in tidied.err
    gone = plain_keys - set(_keys(moto_endpoint, url))
    assert gone == {f"objects/{s[:2]}/{s[2:]}" for s in strays}
    again = cli("verify", "--locker", path)
    assert again.code == 0, again.out
    assert f"{len(plain_keys) - 2} plain objects left under retention" in again.out
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        actions = conn.execute(select(schema.events.c.action)).scalars().all()
    assert actions.count("vault.plain_objects_removed") == 1
    # Locked (no key), verify passes over the recorded plain objects too.
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    locked = cli("verify", "--locker", path)
    assert locked.code == 0, locked.out
    assert f"{len(held) + 2} encrypted blob files" in locked.out


def test_a_record_edited_to_name_a_sealed_object_removes_nothing_of_the_vault(
    cli: Any,
    moto_endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
) -> None:
    """Someone adds a sealed object's version to vault-plain-left.json: verify names it
    (no sealed blob holds it as a plain copy), and the tidy-up never removes it."""
    path = tmp_path / "locker"
    url = _bucket_locker(cli, moto_endpoint, path)
    assert cli("ingest", "--locker", path, photo(tmp_path / "in", seed=8)).code == 0
    assert cli("vault", "convert", "--locker", path).code == 0
    assert (path / PLAIN_LEFT).exists()
    with Locker.open(path) as locker:  # a sealed blob whose lock ends within the test
        assert isinstance(locker.store, VaultS3Store)
        locker.store.retention_days = 2 / 86400  # type: ignore[assignment]
        sha256 = locker.store.put(io.BytesIO(b"sealed, locked briefly" * 50)).digest.sha256
        keyed = locker.store.keyed_name(sha256)
    time.sleep(3)
    sealed_key = f"objects/{keyed[:2]}/{keyed[2:]}"
    location = Location.parse(url)
    answer = moto_endpoint.client().list_object_versions(
        Bucket=location.bucket, Prefix=location.prefix + sealed_key
    )
    [version] = answer["Versions"]
    record = json.loads((path / PLAIN_LEFT).read_text())
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).isoformat()
    record["versions"].append({"version_id": version["VersionId"], "retain_until": past})
    (path / PLAIN_LEFT).write_text(json.dumps(record))
    checked = cli("verify", "--locker", path)
    assert checked.code == 1
    assert "recorded in vault-plain-left.json as a plain object" in checked.out, checked.out
    cli("vault", "convert", "--locker", path)
    assert sealed_key in _keys(moto_endpoint, url)


def test_a_plain_object_that_is_not_its_name_stops_the_conversion_and_is_kept(
    cli: Any,
    moto_endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
) -> None:
    path = tmp_path / "locker"
    url = _bucket_locker(cli, moto_endpoint, path)
    name = hashlib.sha256(b"what the name promises").hexdigest()
    location = Location.parse(url)
    key = f"objects/{name[:2]}/{name[2:]}"
    moto_endpoint.client().put_object(
        Bucket=location.bucket, Key=location.prefix + key, Body=b"other bytes"
    )
    refused = cli("vault", "convert", "--locker", path)
    assert refused.code == 1
    last = refused.err.strip().splitlines()[-1]  # one line (moto logs its requests before)
    assert f"{location.name(key)}: its content is not the blob its name says" in last
    assert key in _keys(moto_endpoint, url)


RUNS = int(os.environ.get("DOCKET_VAULT_CONVERT_S3_KILL_RUNS", "2"))
MORE_RUNS = 6  # at most, while no kill has landed


def _killed(path: Path, rng: random.Random, most_pause: float) -> bool:
    process = subprocess.Popen(
        [*docket_command(), "vault", "convert", "--locker", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(0, most_pause))
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.wait()
    return killed


def test_kill_9_during_convert_of_a_bucket_locker_then_run_again(
    cli: Any,
    moto_endpoint: s3_server.Endpoint,
    tmp_path: Path,
    passphrase_file: Path,
) -> None:
    rng = random.Random(int(os.environ.get("DOCKET_KILL_SEED", "1515")))
    batch = tmp_path / "batch"
    batch.mkdir()
    photo(batch, "photo.jpg", seed=5)
    for i in range(8):
        (batch / f"blob{i:02}.bin").write_bytes(rng.randbytes(rng.choice([1, 64, 300]) << 10))
    secrets = Secrets.of([], originals(sorted(batch.iterdir())))
    most_pause = 0.0
    kills = 0
    # Runs after RUNS, while no kill has landed (a later run much faster than the timed one,
    # on a loaded machine), each with half the last pause.
    for run in itertools.count():
        if run > RUNS and (kills or run > RUNS + MORE_RUNS):
            break
        if run > RUNS:
            most_pause /= 2
        path = tmp_path / f"run{run}"
        _bucket_locker(cli, moto_endpoint, path)
        stored = cli("ingest", "--locker", path, "--defer-analysis", batch)
        assert stored.code == 0, stored.err
        before, events = _holdings(path)
        if run == 0:  # a whole run, timed: the kills land within that time
            started = time.monotonic()
            subprocess.run(
                [*docket_command(), "vault", "convert", "--locker", str(path)],
                check=True,
                capture_output=True,
            )
            most_pause = (time.monotonic() - started) * 1.1
        else:
            kills += _killed(path, rng, most_pause)
            finished = cli("vault", "convert", "--locker", path)
            assert finished.code in (0, 1), finished.err
            if finished.code == 1:
                assert "already a vault" in finished.err, (run, finished.err)
        assert _holdings(path) == (before, events + 1), run  # nothing lost, logged once
        _every_blob_reads_back(path)
        checked = cli("verify", "--locker", path)
        assert checked.code == 0, (run, checked.out)
        assert "plain objects left under retention" in checked.out
        assert findings(path, secrets) == [], run
        assert not list((path / "tmp").glob("*.part")), run
    assert kills >= 1, "no run was killed part-way"
