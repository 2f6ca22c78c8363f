"""A vault's exported package is identical in form to a plain locker's: the same files, the
originals' plain bytes and SHA-256, and `docket check` passes it with no key at all."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from media import jpeg, sample

PASSPHRASE = "the heron waits at the east quay"


def package_of(cli: Any, locker: Path, photo: Path, out: Path, *init: str) -> Path:
    made = cli("init", *init, locker)
    assert made.code == 0, made.err
    stored = cli("ingest", "--case", "North", "--locker", locker, photo)
    assert stored.code == 0, stored.err
    exported = cli("export", "--case", "North", "--profile", "court", "-o", out, "--locker", locker)
    assert exported.code == 0, exported.err
    return out


def layout(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_a_vaults_package_is_a_plain_lockers_in_form(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    photo = tmp_path / "quay.jpg"
    photo.write_bytes(jpeg(sample("rocket")))
    plain = package_of(cli, tmp_path / "plain", photo, tmp_path / "plain-package")
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(secret))
    sealed = package_of(cli, tmp_path / "vault", photo, tmp_path / "vault-package", "--vault")
    assert layout(sealed) == layout(plain)
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    original = sealed / "data" / "items" / digest / "quay.jpg"
    assert original.read_bytes() == photo.read_bytes()
    assert digest in (sealed / "manifest-sha256.txt").read_text()
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")  # the checker needs no key
    checked = cli("check", "--key", tmp_path / "vault" / "keys" / "signing.pub", sealed)
    assert checked.code == 0, checked.out + checked.err
