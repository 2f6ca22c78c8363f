"""The S3 store's local cache/ stays under its cap: least recently used files go first, files
served in the last few minutes stay, and only blobs the bucket holds are ever there. Run
against moto in server mode on loopback (an emulator, see s3_server.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import s3_server
from conftest import take

from docket.errors import DocketError, ObjectStoreError
from docket.locker import Locker
from docket.store import s3
from docket.store.s3 import S3Store

KiB = 1024


def s3_locker(endpoint: s3_server.Endpoint, tmp_path: Path) -> Locker:
    url = endpoint.locked_url()
    return Locker.create(tmp_path / "locker", "tester", store_url=url, retention_days=1)


def stored(locker: Locker, tmp_path: Path, name: str, size: int = 40 * KiB) -> str:
    source = tmp_path / "in" / name
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(os.urandom(size))
    [outcome] = take(locker, source, defer_analysis=True).outcomes
    assert outcome.status == "new" and outcome.sha256 is not None
    return outcome.sha256


def cached(store: S3Store) -> set[str]:
    return {p.parent.name + p.name for p in store.cache.glob("*/*")}


def test_the_least_recently_used_blob_leaves_the_cache_first(
    moto_endpoint: s3_server.Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "CACHE_IDLE", -60.0)  # no file counts as in use
    with s3_locker(moto_endpoint, tmp_path) as locker:
        store = locker.store
        assert isinstance(store, S3Store)
        store.cache_limit = 100 * KiB
        first = stored(locker, tmp_path, "first.bin")
        second = stored(locker, tmp_path, "second.bin")
        original = store.path(first).read_bytes()  # served: now the more recently used
        third = stored(locker, tmp_path, "third.bin")
        assert cached(store) == {first, third}
        assert sum(p.stat().st_size for p in store.cache.glob("*/*")) <= 100 * KiB
        assert store.path(second).is_file()  # fetched again from the bucket, checked
        assert store.hash_blob(second).sha256 == second
        assert store.path(first).read_bytes() == original


def test_a_file_served_a_moment_ago_is_kept_over_the_cap(
    moto_endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    with s3_locker(moto_endpoint, tmp_path) as locker:
        store = locker.store
        assert isinstance(store, S3Store)
        store.cache_limit = 50 * KiB
        names = {stored(locker, tmp_path, f"{n}.bin") for n in range(3)}
        assert cached(store) == names  # a caller may hold any of their paths still
        assert store.trim_cache() == 0


def test_only_blobs_the_bucket_holds_are_ever_cached(
    moto_endpoint: s3_server.Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with s3_locker(moto_endpoint, tmp_path) as locker:
        store = locker.store
        assert isinstance(store, S3Store)
        kept = stored(locker, tmp_path, "kept.bin")

        def refused(*args: object, **kwargs: object) -> bool:
            raise ObjectStoreError("the bucket refused the upload (a test's fault)")

        monkeypatch.setattr(store.bucket, "put_if_absent", refused)
        source = tmp_path / "in" / "refused.bin"
        source.write_bytes(os.urandom(40 * KiB))
        with pytest.raises(ObjectStoreError, match="the bucket refused the upload"):
            take(locker, source, defer_analysis=True)
        assert cached(store) == {kept}
        assert cached(store) <= set(store.digests())


def test_the_cap_is_read_from_docket_json(
    moto_endpoint: s3_server.Endpoint, tmp_path: Path
) -> None:
    s3_locker(moto_endpoint, tmp_path).close()
    config_file = tmp_path / "locker" / "docket.json"
    config = json.loads(config_file.read_text())
    assert Locker.open(tmp_path / "locker").store.cache_limit == s3.CACHE_LIMIT  # type: ignore[attr-defined]
    config["store"]["cache_limit_mib"] = 3
    config_file.write_text(json.dumps(config))
    with Locker.open(tmp_path / "locker") as locker:
        assert locker.store.cache_limit == 3 << 20  # type: ignore[attr-defined]
    config["store"]["cache_limit_mib"] = "lots"
    config_file.write_text(json.dumps(config))
    with pytest.raises(DocketError, match="cache_limit_mib must be a whole number of MiB"):
        Locker.open(tmp_path / "locker")
