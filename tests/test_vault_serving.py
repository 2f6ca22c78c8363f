"""Serving a blob over HTTP from its store: a vault's is decrypted as it is sent, with byte
ranges for a video's player, never cached, and a damaged blob sends nothing."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import Response

from docket.errors import VaultDamagedError
from docket.store import BlobStore, FilesystemStore, VaultStore
from docket.store.sealed_stream import HEADER_BYTES, SEGMENT
from docket.vault.keys import VaultKey
from docket.web.serving import byte_range, evidence_response

DATA = random.Random(5).randbytes(2 * SEGMENT + 333)


def _client(store: BlobStore, media_type: str = "video/mp4") -> Iterator[tuple[TestClient, str]]:
    sha256 = store.put(io.BytesIO(DATA)).digest.sha256
    app = FastAPI()

    @app.get("/blob")
    def blob() -> Response:
        return evidence_response(store, sha256, media_type)

    with TestClient(app) as client:
        yield client, sha256


@pytest.fixture(params=["vault", "folder"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    root = tmp_path / "locker"
    if request.param == "vault":
        yield from _client(VaultStore.create(root, VaultKey.generate()))
    else:
        yield from _client(FilesystemStore.create(root))


def test_the_whole_blob_with_its_guard_headers(served: tuple[TestClient, str]) -> None:
    client, sha256 = served
    answer = client.get("/blob")
    assert answer.status_code == 200 and answer.content == DATA
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("sandbox")
    assert answer.headers["content-length"] == str(len(DATA))
    assert answer.headers["accept-ranges"] == "bytes"
    assert answer.headers["content-type"] == "video/mp4"
    assert answer.headers["content-disposition"] == f'inline; filename="{sha256[:12]}.mp4"'


@pytest.mark.parametrize(
    ("asked", "start", "end"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=0-", 0, len(DATA)),
        (f"bytes={SEGMENT - 3}-{SEGMENT + 2}", SEGMENT - 3, SEGMENT + 3),
        (f"bytes={2 * SEGMENT + 100}-", 2 * SEGMENT + 100, len(DATA)),
        ("bytes=-50", len(DATA) - 50, len(DATA)),
        (f"bytes=10-{10 * len(DATA)}", 10, len(DATA)),
        (f"bytes=-{10 * len(DATA)}", 0, len(DATA)),
    ],
)
def test_one_byte_range(served: tuple[TestClient, str], asked: str, start: int, end: int) -> None:
    client, _ = served
    answer = client.get("/blob", headers={"Range": asked})
    assert answer.status_code == 206
    assert answer.content == DATA[start:end]
    assert answer.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert answer.headers["cache-control"] == "no-store"


def test_random_ranges_equal_the_plaintext(served: tuple[TestClient, str]) -> None:
    client, _ = served
    rng = random.Random(11)
    for _ in range(25):
        start = rng.randrange(len(DATA))
        end = min(len(DATA), start + rng.randrange(1, 3 * SEGMENT))
        answer = client.get("/blob", headers={"Range": f"bytes={start}-{end - 1}"})
        assert answer.content == DATA[start:end]


@pytest.mark.parametrize("asked", ["bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=x-"])
def test_ranges_not_understood_send_the_whole_blob(
    served: tuple[TestClient, str], asked: str
) -> None:
    client, _ = served
    answer = client.get("/blob", headers={"Range": asked})
    assert answer.status_code == 200 and answer.content == DATA


def test_a_range_past_the_end_is_416(served: tuple[TestClient, str]) -> None:
    client, _ = served
    answer = client.get("/blob", headers={"Range": f"bytes={len(DATA)}-"})
    assert answer.status_code == 416 and answer.content == b""
    assert answer.headers["content-range"] == f"bytes */{len(DATA)}"


def test_byte_range_of_an_empty_blob() -> None:
    assert byte_range("bytes=0-", 0) is False
    assert byte_range("bytes=-5", 0) is False
    assert byte_range(None, 0) is None


def test_a_damaged_blob_sends_no_byte(tmp_path: Path) -> None:
    store = VaultStore.create(tmp_path / "locker", VaultKey.generate())
    for client, sha256 in _client(store):
        path = store.path(sha256)
        path.chmod(0o644)
        with path.open("r+b") as file:
            file.seek(HEADER_BYTES + SEGMENT + 40)  # inside the second segment
            byte = file.read(1)
            file.seek(-1, 1)
            file.write(bytes([byte[0] ^ 0x80]))
        first = client.get("/blob", headers={"Range": "bytes=0-99"})
        assert first.content == DATA[:100]  # the first segment still authenticates
        with pytest.raises(VaultDamagedError, match=sha256):
            client.get("/blob", headers={"Range": f"bytes={SEGMENT}-{SEGMENT + 9}"})
        with path.open("r+b") as file:
            file.write(b"XXXX")  # its header
        with pytest.raises(VaultDamagedError, match=sha256):
            client.get("/blob")
