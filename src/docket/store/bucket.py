"""An S3-compatible bucket with Object Lock in compliance mode, opened by URL.

`S3Bucket` is the bucket (under a prefix), opened by
`s3://bucket/prefix?endpoint=http://host:port&region=...`. Credentials come only from the
standard AWS environment and files (boto3's own chain); a URL that carries any is refused, so
none is ever written into a locker, and no message echoes one. A bucket without Object Lock
is refused. Every object is written once: put-if-absent (`If-None-Match: *`) with a
COMPLIANCE retention date, which not even the bucket's owner can shorten, and with its
SHA-256 sent along so the server checks the bytes it received. A file too big for one PUT
(over `multipart_threshold`, 5 GiB) goes up in parts, each with its own SHA-256 for the
server to check; the upload completes only if the key is still absent, only after the whole
file hashed to the SHA-256 asked for, and is aborted on any failure, so no object appears
half-written or under a name its bytes do not have. Object Lock implies
versioning, so an "overwrite" or "delete" by someone holding the keys only adds a version or
a delete marker: the locked original stays, as the oldest version of its key. Every failed
request is an ObjectStoreError of one line naming the bucket or object.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from docket.errors import ObjectStoreError

SCHEME = "s3://"
_QUERY = ("endpoint", "region")
_MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PUT
_MAX_PARTS = 10_000  # S3's limit of parts in one multipart upload
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")  # the key is held (or being)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # "" or ending in "/"
    endpoint: str | None
    region: str | None

    @classmethod
    def parse(cls, url: str) -> Location:
        parts = urlsplit(url)
        shown = _shown(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise ObjectStoreError(f"{shown}: not an S3 URL (s3://bucket/prefix?endpoint=...)")
        query = parse_qs(parts.query, keep_blank_values=True)
        endpoints = query.get("endpoint", [])
        if parts.username or parts.password or any(urlsplit(e).username for e in endpoints):
            raise ObjectStoreError(
                f"{shown}: credentials never go in the URL (they would be stored in "
                "docket.json); use the standard AWS environment variables or ~/.aws files"
            )
        unknown = sorted(set(query) - set(_QUERY))
        if unknown:
            raise ObjectStoreError(
                f"{shown}: unknown setting {', '.join(unknown)} (only endpoint and region; "
                "credentials come from the AWS environment or ~/.aws files)"
            )
        if any(len(values) != 1 or not values[0] for values in query.values()):
            raise ObjectStoreError(f"{shown}: endpoint and region are given once, not empty")
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            endpoint=endpoints[0] if endpoints else None,
            region=query["region"][0] if "region" in query else None,
        )

    @property
    def url(self) -> str:
        query = "&".join(
            f"{name}={value}"
            for name, value in (("endpoint", self.endpoint), ("region", self.region))
            if value
        )
        return f"{SCHEME}{self.bucket}/{self.prefix}" + (f"?{query}" if query else "")

    def name(self, key: str) -> str:
        """How a key is named in messages: s3://bucket/prefix/key."""
        return f"{SCHEME}{self.bucket}/{self.prefix}{key}"


def _shown(url: str) -> str:
    """`url` fit for a message: no user name or password, and of its settings only the
    values of endpoint and region (a secret given by mistake is never echoed)."""
    parts = urlsplit(url)
    settings = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "endpoint":
            inner = urlsplit(value)
            value = urlunsplit(inner._replace(netloc=inner.netloc.rsplit("@", 1)[-1]))
        settings.append(f"{name}={value if name in _QUERY else '***'}")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(settings), ""))


@dataclass(frozen=True)
class Version:
    """One version of a key, or a delete marker (`size` None). Listed newest first."""

    key: str  # relative to the bucket URL's prefix
    version_id: str
    size: int | None
    modified: datetime.datetime

    @property
    def deleted(self) -> bool:
        return self.size is None


@dataclass(frozen=True)
class Head:
    size: int
    checksum: str | None  # SHA-256 as S3 gives it (base64), None when it kept none
    lock_mode: str | None  # "COMPLIANCE", "GOVERNANCE" or None
    retain_until: datetime.datetime | None


def reason_of(exc: Exception) -> str:
    """One line saying why a request failed."""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE, or write ~/.aws/credentials"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def sha256_checksum(sha256: str) -> str:
    """S3's form of a SHA-256 (x-amz-checksum-sha256): base64 of the raw digest."""
    return base64.b64encode(bytes.fromhex(sha256)).decode()


class S3Bucket:
    """A bucket (under a prefix) whose objects are written once and locked."""

    multipart_threshold = _MAX_SINGLE_PUT  # a file larger than this goes up in parts
    # An upload started longer ago than this was left by a writer that died: the largest
    # object (5 TiB) goes up in well under a day at the speeds a locker sees.
    unfinished_after = datetime.timedelta(days=2)
    part_size = 64 * 1024**2  # at least; S3 wants 5 MiB or more for all parts but the last

    def __init__(self, location: Location, client: Any) -> None:
        self.location = location
        self._client = client

    @classmethod
    def open(cls, url: str) -> S3Bucket:
        location = Location.parse(url)
        # Imported here: boto3 costs every command ~0.14 s to import, and most lockers are folders.
        import boto3
        from botocore.config import Config

        try:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=location.endpoint,
                region_name=location.region,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}),
            )
        except (BotoCoreError, ValueError) as exc:
            raise ObjectStoreError(f"{location.url}: cannot connect ({reason_of(exc)})") from exc
        return cls(location, client)

    @property
    def url(self) -> str:
        return self.location.url

    def _call(self, what: str, key: str | None, method: str, **kwargs: Any) -> Any:
        """One request; any failure is one line naming the bucket or object and the reason."""
        try:
            return getattr(self._client, method)(Bucket=self.location.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            subject = self.url if key is None else self.location.name(key)
            raise ObjectStoreError(f"{subject}: {what} failed ({reason_of(exc)})") from exc

    def require_object_lock(self) -> None:
        """Refuse a bucket that cannot lock objects: its originals could be deleted."""
        try:
            answer = self._client.get_object_lock_configuration(Bucket=self.location.bucket)
        except ClientError as exc:
            if _code(exc) != "ObjectLockConfigurationNotFoundError":
                raise ObjectStoreError(f"{self.url}: cannot be read ({reason_of(exc)})") from exc
            answer = {}
        except BotoCoreError as exc:
            raise ObjectStoreError(f"{self.url}: cannot be reached ({reason_of(exc)})") from exc
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise ObjectStoreError(
                f"{SCHEME}{self.location.bucket}: the bucket does not have Object Lock enabled, "
                "so its objects could be deleted or overwritten; create a bucket with Object Lock"
            )

    def put_if_absent(
        self, key: str, file: Path, retain_until: datetime.datetime, sha256: str | None = None
    ) -> bool:
        """Upload `file` under `key` unless the key is held already; True when it was written.
        The object is locked in COMPLIANCE mode until `retain_until`. With `sha256` the server
        checks the bytes it received against it and refuses the upload if they differ."""
        size = file.stat().st_size
        if size > self.multipart_threshold:
            return self._put_in_parts(key, file, size, retain_until, sha256)
        extra = {"ChecksumAlgorithm": "SHA256"}  # S3 needs a checksum with a lock
        if sha256 is not None:
            extra["ChecksumSHA256"] = sha256_checksum(sha256)
        with file.open("rb") as body:
            try:
                self._client.put_object(
                    Bucket=self.location.bucket,
                    Key=self.location.prefix + key,
                    Body=body,
                    ContentLength=size,
                    IfNoneMatch="*",
                    ObjectLockMode="COMPLIANCE",
                    ObjectLockRetainUntilDate=retain_until,
                    **extra,
                )
            except ClientError as exc:
                if _code(exc) in _TAKEN:
                    return False  # held already (or being written by another at this moment)
                raise ObjectStoreError(
                    f"{self.location.name(key)}: upload failed ({reason_of(exc)})"
                ) from exc
            except BotoCoreError as exc:
                raise ObjectStoreError(
                    f"{self.location.name(key)}: upload failed ({reason_of(exc)})"
                ) from exc
        return True

    def _put_in_parts(
        self,
        key: str,
        file: Path,
        size: int,
        retain_until: datetime.datetime,
        sha256: str | None,
    ) -> bool:
        """`put_if_absent` for a file too big for one PUT: a multipart upload (see the module
        docstring). A key already held is not uploaded again."""
        if self.exists(key):
            return False
        full_key = self.location.prefix + key
        lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        started = self._call(
            "upload",
            key,
            "create_multipart_upload",
            Key=full_key,
            ChecksumAlgorithm="SHA256",
            **lock,
        )
        upload = {"Bucket": self.location.bucket, "Key": full_key, "UploadId": started["UploadId"]}
        try:
            parts = self._send_parts(upload, file, max(self.part_size, -(-size // _MAX_PARTS)))
            if sha256 is not None and parts[0] != sha256:
                raise ObjectStoreError(
                    f"{self.location.name(key)}: upload stopped: {file} changed while it was "
                    f"sent (its SHA-256 is {parts[0]}, not {sha256})"
                )
            answer = self._client.complete_multipart_upload(
                **upload, MultipartUpload={"Parts": parts[1]}, IfNoneMatch="*"
            )
        except (ClientError, BotoCoreError, ObjectStoreError, OSError) as exc:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(**upload)
            if isinstance(exc, ClientError) and _code(exc) in _TAKEN:
                return False
            if isinstance(exc, (ObjectStoreError, OSError)):
                raise
            raise ObjectStoreError(
                f"{self.location.name(key)}: upload failed ({reason_of(exc)})"
            ) from exc
        version = answer.get("VersionId")
        if version is not None and self.head(key, version).lock_mode != "COMPLIANCE":
            # A server that drops the lock asked for at the start (as moto does): lock it now.
            self.extend_retention(key, version, retain_until)
        return True

    def abort_unfinished(self) -> int:
        """Abort the multipart uploads under the prefix started more than `unfinished_after`
        ago, and say how many."""
        before = datetime.datetime.now(datetime.UTC) - self.unfinished_after
        stale: list[dict[str, Any]] = []
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.location.bucket, Prefix=self.location.prefix
            )
            for page in pages:
                stale += [u for u in page.get("Uploads", []) if u["Initiated"] < before]
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(
                f"{self.url}: listing unfinished uploads failed ({reason_of(exc)})"
            ) from exc
        for upload in stale:
            self._call(
                "aborting an unfinished upload",
                upload["Key"][len(self.location.prefix) :],
                "abort_multipart_upload",
                Key=upload["Key"],
                UploadId=upload["UploadId"],
            )
        return len(stale)

    def _send_parts(
        self, upload: dict[str, str], file: Path, part_size: int
    ) -> tuple[str, list[dict[str, Any]]]:
        """Send `file` in parts of `part_size` bytes; its SHA-256 and the parts sent."""
        whole = hashlib.sha256()
        parts: list[dict[str, Any]] = []
        with file.open("rb") as handle:
            while chunk := handle.read(part_size):
                whole.update(chunk)
                checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                number = len(parts) + 1
                answer = self._client.upload_part(
                    **upload,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
                parts.append(
                    {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}
                )
        return whole.hexdigest(), parts

    def exists(self, key: str) -> bool:
        """Whether any version of `key` is held (a delete marker does not hide an original).
        One HEAD answers for a key that is there; only a missing or hidden one is listed."""
        try:
            self._client.head_object(Bucket=self.location.bucket, Key=self.location.prefix + key)
            return True
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchKey", "405", "MethodNotAllowed"):
                raise ObjectStoreError(
                    f"{self.location.name(key)}: reading failed ({reason_of(exc)})"
                ) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"{self.location.name(key)}: reading failed ({reason_of(exc)})"
            ) from exc
        return any(not v.deleted for v in self.versions(key) if v.key == key)

    def keys(self, under: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of every current object whose key begins with `under`."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix + under
        )
        try:
            for page in pages:
                for entry in page.get("Contents", []):
                    yield entry["Key"][len(self.location.prefix) :], int(entry["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(f"{self.url}: listing failed ({reason_of(exc)})") from exc

    def versions(self, under: str = "") -> Iterator[Version]:
        """Every version of keys beginning with `under`, each key's versions newest first (the
        order S3 lists them in; times alone cannot order versions made within one second),
        then its delete markers. A key's original is its last version that is not a marker."""
        pages = self._client.get_paginator("list_object_versions").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix + under
        )
        cut = len(self.location.prefix)
        try:
            for page in pages:
                found = [(entry, int(entry["Size"])) for entry in page.get("Versions", [])] + [
                    (entry, None) for entry in page.get("DeleteMarkers", [])
                ]
                found.sort(key=lambda pair: pair[0]["Key"])  # stable: keeps S3's order
                for entry, size in found:
                    yield Version(
                        entry["Key"][cut:], entry["VersionId"], size, entry["LastModified"]
                    )
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(f"{self.url}: listing failed ({reason_of(exc)})") from exc

    def get(self, key: str, version_id: str | None = None, first: int | None = None) -> Readable:
        """A stream of the object's bytes (of one version when given; only its `first` bytes
        when given); the caller closes it."""
        extra = {} if version_id is None else {"VersionId": version_id}
        if first is not None:
            extra["Range"] = f"bytes=0-{first - 1}"
        answer = self._call("reading", key, "get_object", Key=self.location.prefix + key, **extra)
        return cast(Readable, answer["Body"])

    def head(self, key: str, version_id: str) -> Head:
        """What the server keeps about one version: its SHA-256 and its lock."""
        answer = self._call(
            "reading",
            key,
            "head_object",
            Key=self.location.prefix + key,
            VersionId=version_id,
            ChecksumMode="ENABLED",
        )
        checksum = answer.get("ChecksumSHA256")
        return Head(
            size=int(answer["ContentLength"]),
            checksum=None if checksum is None or "-" in checksum else str(checksum),
            lock_mode=answer.get("ObjectLockMode"),
            retain_until=answer.get("ObjectLockRetainUntilDate"),
        )

    def extend_retention(self, key: str, version_id: str, retain_until: datetime.datetime) -> None:
        """Lock one version until a later date (compliance mode allows lengthening only)."""
        self._call(
            "extending its retention",
            key,
            "put_object_retention",
            Key=self.location.prefix + key,
            VersionId=version_id,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": retain_until},
        )

    def delete(self, key: str, version_id: str) -> None:
        """Remove one version for good (S3 refuses while it is locked)."""
        self._call(
            "removing", key, "delete_object", Key=self.location.prefix + key, VersionId=version_id
        )
