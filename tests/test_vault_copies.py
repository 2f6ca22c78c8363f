"""Copies of a vault (issue 12 meets issue 15): `replicate` makes a copy that is the same vault
(sealed blob files as they are, the catalogue encrypted under the same key, the key slots),
and no copy gives anything away; audit-copies, repair --from COPY and restore work on a vault
and its copies with the key; a vault's copy and a plain locker's are never mixed. Real
SQLCipher, ExifTool and ffmpeg; the key from DOCKET_PASSPHRASE_FILE, as a script has it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, files_under, findings, marked_evidence
from vault_scan import originals as originals_of

from docket.locker import Locker
from docket.store.vault import VaultStore
from docket.vault import slots

PASSPHRASE = "harbour willow cobalt 19"
RECOVERY = "recovery key (shown only now): "


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


def make_vault(path: Path, cli: Any, evidence: list[Path], analyse: bool) -> str:
    """A vault holding the marked evidence; its recovery key."""
    made = cli("init", "--vault", path)
    assert made.code == 0, made.err
    stored = cli("ingest", "--locker", path, "--source", SOURCE, "--note", NOTE, *evidence)
    assert stored.code == 0, stored.err + stored.out
    if analyse:
        done = cli("analyse", "--all", "--locker", path)
        assert done.code == 0, done.err + done.out
    return str(made.out.split(RECOVERY)[1].split()[0])


@pytest.fixture
def vault(tmp_path: Path, cli: Any, passphrase_file: Path, evidence: list[Path]) -> Path:
    path = tmp_path / "vault"
    make_vault(path, cli, evidence, analyse=False)
    return path


def verified(cli: Any, path: Path) -> None:
    checked = cli("verify", "--locker", path)
    assert checked.code == 0, checked.out + checked.err


def sealed_files(path: Path) -> dict[str, bytes]:
    return {
        str(file.relative_to(path)): file.read_bytes() for file in files_under(path / "objects")
    }


def test_a_vault_copy_is_the_same_vault_and_gives_nothing_away(
    tmp_path: Path, cli: Any, passphrase_file: Path, evidence: list[Path]
) -> None:
    source = tmp_path / "vault"
    recovery = make_vault(source, cli, evidence, analyse=True)
    copy = tmp_path / "copy"
    done = cli("replicate", "--locker", source, copy)
    assert done.code == 0, done.err
    # Every byte of the copy scanned: no marker, no original's SHA-256, no 64-byte run.
    assert findings(copy, Secrets.of(MARKERS, originals_of(evidence))) == []
    # The sealed files, byte for byte, under the same keyed names; the catalogue encrypted.
    assert sealed_files(copy) == sealed_files(source) and sealed_files(copy)
    assert (copy / "catalogue.sqlite").read_bytes()[:16] != b"SQLite format 3\x00"
    assert (copy / "keys/vault.json").read_bytes() == (source / "keys/vault.json").read_bytes()
    assert not (copy / "keys/signing.key").exists()  # only with --include-private-key
    # It opens with the passphrase and with the recovery key, and verify passes on it.
    locker_id = json.loads((copy / "docket.json").read_text())["locker_id"]
    key = slots.open_with_secret(copy, locker_id, PASSPHRASE)
    assert slots.open_with_secret(copy, locker_id, recovery) == key
    verified(cli, copy)
    passphrase_file.write_text(recovery + "\n")
    verified(cli, copy)
    with Locker.open(copy, writable=False) as opened:
        assert isinstance(opened.store, VaultStore)
        with Locker.open(source, writable=False) as original:
            assert set(opened.store.digests()) == set(original.store.digests())
    agreed = cli("audit-copies", "--locker", source, "--deep", copy)
    assert agreed.code == 0, agreed.out
    # A second replicate moves nothing.
    again = cli("replicate", "--locker", source, copy)
    assert again.code == 0, again.err
    assert " 0 blob(s) copied (0 bytes)" in again.out, again.out
