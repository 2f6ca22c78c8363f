"""Blobs in an S3-compatible bucket with Object Lock (docket/store/s3.py).

Run against moto in server mode on loopback (an emulator, see s3_server.py), and, opt-in,
against a real endpoint given by DOCKET_TEST_S3_URL (skipped, with the reason, when unset).
The thief in these tests holds the bucket's keys and uses boto3 directly.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import s3_server
from botocore.exceptions import ClientError

from docket.errors import DocketError, ObjectStoreError
from docket.store.s3 import Location, S3Bucket


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[s3_server.Endpoint]:
    with s3_server.moto() as endpoint:
        yield endpoint


@pytest.fixture(params=["moto", "real"])
def endpoint(
    request: pytest.FixtureRequest, moto_endpoint: s3_server.Endpoint
) -> s3_server.Endpoint:
    if request.param == "moto":
        return moto_endpoint
    real = s3_server.real()
    if real is None:
        pytest.skip(
            f"no real S3 endpoint: set {s3_server.REAL_URL_VARIABLE}=s3://bucket/prefix?"
            "endpoint=...&region=... (a bucket with Object Lock; AWS credentials in the "
            "environment) to run these tests against it"
        )
    return real


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
    ("url", "reason"),
    [
        ("s3://AKIAEXAMPLE:hunter2@bucket/p", "credentials never go in the URL"),
        ("s3://bucket/p?aws_secret_access_key=hunter2", "unknown setting"),
        ("s3://bucket/p?endpoint=", "not empty"),
        ("https://bucket/p", "not an S3 URL"),
    ],
)
def test_a_bad_url_is_one_line_naming_it(url: str, reason: str) -> None:
    with pytest.raises(ObjectStoreError, match=reason) as caught:
        S3Bucket.open(url)
    assert str(caught.value).startswith(url)


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
