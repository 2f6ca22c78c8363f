"""An S3-compatible server for tests: moto in server mode on loopback.

moto is an emulator of Amazon S3, not S3 itself: it speaks the same HTTP API (Object Lock,
versioning, conditional writes) from memory in this process. Where it differs from a real
server (it accepts a wrong x-amz-checksum-sha256 that S3 would refuse), the tests do not rely
on that part. To run the same tests against a real endpoint (MinIO, Ceph, AWS), set
DOCKET_TEST_S3_URL to `s3://bucket/prefix?endpoint=...&region=...` of a bucket with Object
Lock, with credentials in the standard AWS environment; see `real`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

from docket.store.bucket import Location

REAL_URL_VARIABLE = "DOCKET_TEST_S3_URL"
# moto accepts any credentials; these name no real account.
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "docket-test-key",
    "AWS_SECRET_ACCESS_KEY": "docket-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Endpoint:
    """Where the tests put lockers: moto's server, or a real bucket given by URL."""

    endpoint: str | None
    region: str
    real_bucket: str | None = None  # a real endpoint: one given bucket, a new prefix per test
    real_prefix: str = ""

    def client(self) -> Any:
        """A boto3 client of the server, as anyone holding the keys would have."""
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region)

    def locked_url(self) -> str:
        """The URL of a new, empty place in a bucket with Object Lock."""
        if self.real_bucket is not None:
            return self._url(self.real_bucket, f"{self.real_prefix}docket-test-{uuid.uuid4().hex}")
        return self._url(self._new_bucket(object_lock=True), "locker")

    def plain_url(self) -> str | None:
        """A bucket without Object Lock (None on a real endpoint: the tests cannot make one)."""
        if self.real_bucket is not None:
            return None
        return self._url(self._new_bucket(object_lock=False), "locker")

    def _new_bucket(self, object_lock: bool) -> str:
        name = f"docket-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name

    def _url(self, bucket: str, prefix: str) -> str:
        query = f"region={self.region}" + (f"&endpoint={self.endpoint}" if self.endpoint else "")
        return f"s3://{bucket}/{prefix}?{query}"


_CONDITIONAL_PUTS = threading.Lock()
_moto_put_object = S3Response.put_object


def _put_object_atomically(self: S3Response) -> Any:
    """moto checks If-None-Match and then writes, in two steps: two uploads of one key at the
    same moment can both pass the check on its threaded server, where S3 lets one only (the
    test of many stores putting the same bytes at once failed so on a loaded machine). A
    conditional upload holds this lock across both steps, as S3 is atomic."""
    if self.headers.get("If-None-Match") is None:
        return _moto_put_object(self)
    with _CONDITIONAL_PUTS:
        return _moto_put_object(self)


S3Response.put_object = _put_object_atomically  # type: ignore[method-assign]


@contextmanager
def moto() -> Iterator[Endpoint]:
    """moto on 127.0.0.1 at a free port, with invented credentials in the environment."""
    saved = {name: os.environ.get(name) for name in _FAKE_CREDENTIALS}
    os.environ.update(_FAKE_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield Endpoint(f"http://{host}:{port}", "us-east-1")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def real() -> Endpoint | None:
    """The real endpoint named by DOCKET_TEST_S3_URL, if set (credentials from the AWS
    environment, as Docket itself takes them)."""
    url = os.environ.get(REAL_URL_VARIABLE)
    if not url:
        return None
    location = Location.parse(url)
    return Endpoint(
        location.endpoint,
        location.region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        real_bucket=location.bucket,
        real_prefix=location.prefix,
    )
