"""A vault copied to an S3 bucket with Object Lock (`docket replicate s3://...`): the same
vault, its sealed files byte for byte under their keyed names, its catalogue encrypted, its
key slots; nothing in the bucket gives a secret away. audit-copies, repair --from and restore
work from that copy; a damaged sealed object in it is named by the audit, and a damaged blob
of the vault is repaired from it (unless the copy's is damaged too). Run against moto in
server mode on loopback (an emulator of S3, s3_server.py); damage no client can do to a
locked object (a failing disk at the provider) is done inside moto, which runs in this
process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import s3_server
from copies_help import flip_byte
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, files_under, findings, marked_evidence
from vault_scan import originals as originals_of

from docket.locker import Locker
from docket.store.bucket import Location
from docket.store.vault import VaultStore

PASSPHRASE = "saffron kiln ledger 58"


@pytest.fixture
def passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    return file


@pytest.fixture
def evidence(tmp_path: Path) -> list[Path]:
    return marked_evidence(tmp_path / "evidence")


@pytest.fixture
def vault(tmp_path: Path, cli: Any, passphrase_file: Path, evidence: list[Path]) -> Path:
    path = tmp_path / "vault"
    assert cli("init", "--vault", path).code == 0
    stored = cli("ingest", "--locker", path, "--source", SOURCE, "--note", NOTE, *evidence)
    assert stored.code == 0, stored.err + stored.out
    return path


def _replicated(cli: Any, vault: Path, endpoint: s3_server.Endpoint, *extra: str) -> str:
    url = endpoint.locked_url()
    done = cli("replicate", "--locker", vault, "--retention-days", "1", *extra, url)
    assert done.code == 0, done.err
    return url


def _sealed_files(path: Path) -> dict[str, bytes]:
    return {
        str(file.relative_to(path / "objects")): file.read_bytes()
        for file in files_under(path / "objects")
    }


def _bucket_objects(endpoint: s3_server.Endpoint, url: str, into: Path) -> dict[str, bytes]:
    """Every version of every object under the copy's prefix, by key (a stamped file's
    versions each under its own key), each also written into `into` for the scan."""
    location = Location.parse(url)
    client = endpoint.client()
    into.mkdir()
    found = {}
    pages = client.get_paginator("list_object_versions")
    for page in pages.paginate(Bucket=location.bucket, Prefix=location.prefix):
        for n, version in enumerate(page.get("Versions", [])):
            answer = client.get_object(
                Bucket=location.bucket, Key=version["Key"], VersionId=version["VersionId"]
            )
            assert answer.get("ObjectLockMode") == "COMPLIANCE", version["Key"]
            body = answer["Body"].read()
            found[version["Key"][len(location.prefix) :]] = body
            (into / f"object{n:04}").write_bytes(body)
    return found


def _flip_in_moto(url: str, key: str, offset: int) -> None:
    """Flip one byte of the original object `key` inside moto (S3 itself forbids it)."""
    from moto.s3.models import s3_backends  # moto runs in this process (s3_server.py)

    location = Location.parse(url)
    [stored] = [
        held
        for backend in s3_backends.values()
        for region in backend.values()
        if location.bucket in region.buckets
        for held in region.buckets[location.bucket].keys.getlist(location.prefix + key)
    ]
    body = bytearray(stored.value)
    body[offset] ^= 0x01
    stored.value = bytes(body)


def test_a_vault_is_copied_to_a_bucket_as_the_same_vault_and_gives_nothing_away(
    vault: Path,
    cli: Any,
    moto_endpoint: s3_server.Endpoint,
    tmp_path: Path,
    evidence: list[Path],
) -> None:
    url = _replicated(cli, vault, moto_endpoint)
    objects = _bucket_objects(moto_endpoint, url, tmp_path / "bucket")
    # The sealed files byte for byte under the same keyed names, and nothing else in objects/.
    sealed = {k[len("objects/") :]: v for k, v in objects.items() if k.startswith("objects/")}
    assert sealed == _sealed_files(vault) and sealed
    # Catalogue encrypted, key slots as the vault's, docket.json a vault's.
    [catalogue] = [v for k, v in objects.items() if k.startswith("catalogue.sqlite/")]
    assert not catalogue.startswith(b"SQLite format 3\x00")
    [slots] = [v for k, v in objects.items() if k.startswith("keys/vault.json/")]
    assert slots == (vault / "keys/vault.json").read_bytes()
    assert json.loads(objects["docket.json"])["vault"] == {"format": 1}
    assert not any(k.startswith("keys/signing.key") for k in objects)
    # No object, nor any key, holds a marker, an original's SHA-256 or a run of its bytes.
    secrets = Secrets.of(MARKERS, originals_of(evidence))
    assert findings(tmp_path / "bucket", secrets) == []
    keys = "\n".join(objects)
    assert not [d for d in secrets.digests if d.decode("latin-1") in keys]
    with Locker.open(vault, writable=False) as locker, locker.engine.connect() as conn:
        held = [str(s) for s in conn.exec_driver_sql("SELECT sha256 FROM items").scalars()]
    assert held and not [s for s in held if s[2:] in keys]
    # A second run moves nothing; the audit, re-hashing every blob, finds them agreeing.
    again = cli("replicate", "--locker", vault, "--retention-days", "1", url)
    assert again.code == 0 and " 0 blob(s) copied (0 bytes)" in again.out, again.out
    agreed = cli("audit-copies", "--locker", vault, "--deep", url)
    assert agreed.code == 0, agreed.out
    assert not list((vault / "tmp").iterdir())  # the scratch of both went


def test_a_damaged_sealed_object_in_the_bucket_copy_is_named_and_never_used_in_a_repair(
    vault: Path, cli: Any, moto_endpoint: s3_server.Endpoint
) -> None:
    url = _replicated(cli, vault, moto_endpoint)
    files = files_under(vault / "objects")
    one, two = files[0], files[1]
    name = str(one.relative_to(vault))
    _flip_in_moto(url, name, offset=300)  # inside its first segment
    audited = cli("audit-copies", "--locker", vault, "--deep", url)
    assert audited.code == 1, audited.out
    [difference] = [line for line in audited.out.splitlines() if "DIFFERENCE" in line]
    assert f"DIFFERENCE   {url}: blob " in difference and "damaged: " in difference
    assert name.replace("/", "") in difference or "checksum" in difference
    # The vault's own file of that blob damaged too: not repaired from the damaged copy;
    # another damaged blob of the vault is replaced by the copy's sealed object, proven.
    flip_byte(one, offset=400)
    flip_byte(two, offset=300)
    assert cli("verify", "--locker", vault).code == 1
    damaged_one = one.read_bytes()
    repaired = cli("repair", "--locker", vault, "--from", url)
    assert repaired.code == 1, repaired.out + repaired.err
    assert f"damaged in {Location.parse(url).url} too" in repaired.out
    assert "replaced  blob" in repaired.out and "(was damaged)" in repaired.out
    assert one.read_bytes() == damaged_one  # nothing put in its place
    assert two.read_bytes() == _object(moto_endpoint, url, str(two.relative_to(vault)))


def _object(endpoint: s3_server.Endpoint, url: str, key: str) -> bytes:
    location = Location.parse(url)
    answer = endpoint.client().get_object(Bucket=location.bucket, Key=location.prefix + key)
    return bytes(answer["Body"].read())


def test_a_damaged_blob_and_a_lost_catalogue_are_repaired_from_the_bucket_copy(
    vault: Path, cli: Any, moto_endpoint: s3_server.Endpoint, evidence: list[Path]
) -> None:
    url = _replicated(cli, vault, moto_endpoint)
    damaged = files_under(vault / "objects")[0]
    flip_byte(damaged, offset=300)
    fixed = cli("repair", "--locker", vault, "--from", url)
    assert fixed.code == 0, fixed.err + fixed.out
    assert "replaced  blob" in fixed.out
    assert damaged.read_bytes() == _sealed_files(vault)[str(damaged.relative_to(vault / "objects"))]
    assert cli("verify", "--locker", vault).code == 0
    for suffix in ("", "-wal", "-shm"):
        (vault / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    back = cli("repair", "--locker", vault, "--from", url)
    assert back.code == 0, back.err + back.out
    assert "restored  catalogue: 0 ->" in back.out
    assert (vault / "catalogue.sqlite").read_bytes()[:16] != b"SQLite format 3\x00"
    checked = cli("verify", "--locker", vault)
    assert checked.code == 0, checked.out
    assert findings(vault, Secrets.of(MARKERS, originals_of(evidence))) == []


def test_restore_from_the_bucket_copy_brings_back_the_same_vault(
    vault: Path,
    cli: Any,
    moto_endpoint: s3_server.Endpoint,
    tmp_path: Path,
    evidence: list[Path],
) -> None:
    url = _replicated(cli, vault, moto_endpoint, "--include-private-key")
    back = tmp_path / "back"
    done = cli("restore", url, back)
    assert done.code == 0, done.err
    assert json.loads((back / "docket.json").read_text())["vault"] == {"format": 1}
    assert _sealed_files(back) == _sealed_files(vault)
    assert (back / "keys/vault.json").read_bytes() == (vault / "keys/vault.json").read_bytes()
    checked = cli("verify", "--locker", back)
    assert checked.code == 0, checked.out
    assert findings(back, Secrets.of(MARKERS, originals_of(evidence))) == []
    with Locker.open(back, writable=False) as opened:
        assert isinstance(opened.store, VaultStore)
    assert not list(tmp_path.glob(".back.*"))  # the download and staging folders went


def test_a_plain_copy_in_a_bucket_is_never_mixed_with_the_vault_it_became(
    tmp_path: Path,
    cli: Any,
    passphrase_file: Path,
    moto_endpoint: s3_server.Endpoint,
    evidence: list[Path],
) -> None:
    locker = tmp_path / "locker"
    assert cli("init", locker).code == 0
    assert cli("ingest", "--locker", locker, evidence[0]).code == 0
    url = _replicated(cli, locker, moto_endpoint)
    converted = cli("vault", "convert", "--locker", locker)
    assert converted.code == 0, converted.err
    refused = cli("replicate", "--locker", locker, "--retention-days", "1", url)
    assert refused.code == 1
    last = refused.err.strip().splitlines()[-1]
    assert "never mixed; not written to" in last, refused.err
    audited = cli("audit-copies", "--locker", locker, url)
    assert audited.code == 1 and "never mixed; skipped" in audited.out, audited.out
