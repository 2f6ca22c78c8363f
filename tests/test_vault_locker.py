"""A vault locker end to end (issue 15, "What must hold"): `init --vault`, the sample set
ingested and analysed with marker strings in a source, a note, a file name and EXIF values,
then every byte under the locker folder searched for them, for the originals' SHA-256 and
for any run of an original's bytes. Then verify unlocked and locked, a wrong passphrase, and
damaged, truncated and swapped encrypted blobs, each named. Real SQLCipher, ExifTool, ffmpeg."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, findings, marked_evidence, originals

from docket.cli import main
from docket.errors import DocketError, VaultDamagedError, VaultLockedError, WrongPassphraseError
from docket.locker import PRIVATE_KEY, Locker
from docket.vault import slots
from docket.vault.keys import VaultKey

PASSPHRASE = "lantern quarry velvet 42"


@pytest.fixture
def passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    return file


@dataclass(frozen=True)
class Made:
    evidence: list[Path]  # marked_evidence's files, in its order
    vault: Path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """The marked evidence, and a vault it was ingested into and analysed in, made once per
    module (the slot's Argon2, ExifTool and ffmpeg cost seconds); each test copies both."""
    base = tmp_path_factory.mktemp("made")
    evidence = marked_evidence(base / "evidence")
    path = base / "vault"
    (base / "passphrase").write_text(PASSPHRASE + "\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKET_PASSPHRASE_FILE", str(base / "passphrase"))
        patch.delenv("DOCKET_DATABASE_URL", raising=False)
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            assert main(["init", "--vault", str(path)]) == 0
        out = shown.getvalue()
        assert "recovery key (shown only now): " in out and "offline" in out
        stored = ["ingest", "--locker", str(path), "--source", SOURCE, "--note", NOTE]
        assert main([*stored, *map(str, evidence)]) == 0
        assert main(["analyse", "--all", "--locker", str(path)]) == 0
    return Made(evidence, path)


@pytest.fixture
def evidence(made: Made, tmp_path: Path) -> list[Path]:
    folder = made.evidence[0].parent
    shutil.copytree(folder, tmp_path / "evidence")
    return [tmp_path / "evidence" / file.relative_to(folder) for file in made.evidence]


@pytest.fixture
def vault(made: Made, tmp_path: Path, passphrase_file: Path, evidence: list[Path]) -> Path:
    """This test's copy of the module's vault (its evidence in `evidence`)."""
    return Path(shutil.copytree(made.vault, tmp_path / "vault"))


def test_the_disk_gives_nothing_away(vault: Path, evidence: list[Path], cli: Any) -> None:
    with Locker.open(vault, writable=False) as locker, locker.engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
        derived = conn.execute(text("SELECT count(*) FROM derivatives")).scalar_one()
        sources = conn.execute(text("SELECT count(*) FROM acquisitions")).scalar_one()
    # The six sample files, two new members of the zip (the third is a copy), the marked photo.
    assert (held, sources) == (9, 10) and derived > 0  # an arrival each, the copy too
    assert findings(vault, Secrets.of(MARKERS, originals(evidence))) == []
    checked = cli("verify", "--locker", vault)
    assert checked.code == 0, checked.out
    assert "blob hashes" not in checked.out or "FAILED" not in checked.out


def test_the_scan_finds_a_plain_locker_out(tmp_path: Path, cli: Any, evidence: list[Path]) -> None:
    """The same scan on a plain locker finds every kind of secret: it can fail."""
    plain = tmp_path / "plain"
    assert cli("init", plain).code == 0
    assert (
        cli(
            "ingest",
            "--locker",
            plain,
            "--source",
            SOURCE,
            "--note",
            NOTE,
            evidence[0],
            evidence[-1],
        ).code
        == 0
    )
    found = "\n".join(findings(plain, Secrets.of(MARKERS, originals(evidence))))
    assert "catalogue.sqlite: marker" in found
    assert "an original's SHA-256" in found and "a run of an original's bytes" in found


def test_a_locked_vault_verifies_what_needs_no_key(
    vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    locked = cli("verify", "--locker", vault)
    assert locked.code == 0, locked.out
    assert "checkpoints signed by keys/signing.pub" in locked.out
    for name in ("catalogue", "custody log", "blobs", "blob hashes"):
        assert f"not checked  {name}: the vault is locked" in locked.out
    assert "verified what needs no key: no problems" in locked.out  # never a plain "verified"
    assert "verified: no problems" not in locked.out
    as_json = json.loads(cli("verify", "--json", "--locker", vault).out)
    assert as_json["ok"] is True and as_json["complete"] is False
    # A checkpoint line changed on the disk is found without the key.
    log = vault / "checkpoints.log"
    lines = log.read_text().splitlines()
    fields = lines[-1].split(" ")
    fields[-1] = fields[-1][:-4] + ("AAAA" if not fields[-1].endswith("AAAA") else "BBBB")
    log.write_text("\n".join([*lines[:-1], " ".join(fields)]) + "\n")
    tampered = cli("verify", "--locker", vault)
    assert tampered.code != 0 and "FAILED" in tampered.out, tampered.out


def test_a_locked_vault_refuses_to_be_written(
    vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, evidence: list[Path]
) -> None:
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    refused = cli("ingest", "--locker", vault, evidence[0])
    assert refused.code == 1
    assert refused.err.strip().endswith("set DOCKET_PASSPHRASE_FILE")
    assert "Traceback" not in refused.err and len(refused.err.strip().splitlines()) == 1
    with pytest.raises(VaultLockedError):
        Locker.open(vault)


def test_a_wrong_passphrase_is_refused(
    vault: Path, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text(PASSPHRASE + "!\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(wrong))
    for args in (["verify"], ["ls"]):
        refused = cli(*args, "--locker", vault)
        assert refused.code != 0
        assert "no slot opens with this passphrase" in refused.err + refused.out
        assert "Traceback" not in refused.err
    with pytest.raises(WrongPassphraseError):
        Locker.open(vault, writable=False)


def test_another_vaults_key_does_not_open_the_catalogue(vault: Path) -> None:
    config = json.loads((vault / "docket.json").read_text())
    other = VaultKey.generate()
    assert config["vault"] == {"format": 1}
    with pytest.raises(DocketError, match=r"catalogue cannot be read \(file is not a database"):
        Locker.open(vault, writable=False, vault_key=other)


def test_the_signing_key_is_sealed(vault: Path) -> None:
    sealed = (vault / PRIVATE_KEY).read_bytes()
    assert b"PRIVATE KEY" not in sealed
    key = slots.open_with_passphrase(
        vault, json.loads((vault / "docket.json").read_text())["locker_id"], PASSPHRASE
    )
    with Locker.open(vault, writable=False, vault_key=key) as locker:
        assert locker.signing_key.public_key() is not None
    # The sealed file of another locker in its place does not open.
    (vault / PRIVATE_KEY).chmod(0o600)
    (vault / PRIVATE_KEY).write_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with (
        Locker.open(vault, writable=False, vault_key=key) as locker,
        pytest.raises(VaultDamagedError, match=r"signing\.key"),
    ):
        locker.require_signing_key()


def _blob_files(vault: Path) -> list[Path]:
    return sorted(p for p in (vault / "objects").glob("*/*") if p.stat().st_size > 4096)


def _writable(file: Path) -> None:
    file.chmod(0o644)


def test_damaged_truncated_and_swapped_blobs_are_named(
    vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _blob_files(vault)
    assert len(files) >= 5
    flipped, cut, one, two, stub = files[:5]
    for file in (flipped, cut, one, two, stub):
        _writable(file)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[:-100])
    stub.write_bytes(stub.read_bytes()[:60])  # shorter than any sealed blob
    first, second = one.read_bytes(), two.read_bytes()
    one.write_bytes(second)
    two.write_bytes(first)
    for file in (flipped, cut, one, two, stub):
        file.chmod(0o444)
    checked = cli("verify", "--locker", vault)
    assert checked.code != 0
    out = checked.out
    assert "blob does not decrypt: blob " in out  # the flipped segment, named
    assert str(flipped) in out
    for file in (cut, one, two, stub):
        assert file.name in out, (file, out)
    assert out.count("its header does not authenticate (changed") == 3  # the pair, the stub
    assert "Traceback" not in checked.err
    # Locked, only what needs no key: a file shorter than any sealed blob, by its size.
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    locked = cli("verify", "--locker", vault)
    assert locked.code != 0
    assert f"blob file {stub.relative_to(vault)}: cut short or lengthened" in locked.out


def test_init_vault_with_a_server_database_is_refused(
    tmp_path: Path, cli: Any, passphrase_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKET_DATABASE_URL", "postgresql://docket@db.invalid/docket")
    refused = cli("init", "--vault", tmp_path / "v")
    assert refused.code == 1
    assert "a vault with a server database is not supported" in refused.err
    assert "encrypt that disk" in refused.err and "\n" not in refused.err.strip()
    assert not (tmp_path / "v").exists()


def test_a_plain_locker_is_unchanged(tmp_path: Path, cli: Any) -> None:
    assert cli("init", tmp_path / "plain").code == 0
    assert (tmp_path / "plain" / "catalogue.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"
    assert b"PRIVATE KEY" in (tmp_path / "plain" / PRIVATE_KEY).read_bytes()
    assert "vault" not in json.loads((tmp_path / "plain" / "docket.json").read_text())
    assert not (tmp_path / "plain" / "keys" / "vault.json").exists()


def test_the_catalogue_is_sqlcipher_with_temp_in_memory(vault: Path) -> None:
    with Locker.open(vault, writable=False) as locker, locker.engine.connect() as conn:
        assert conn.execute(text("PRAGMA cipher_version")).scalar_one().startswith("4.")
        assert conn.execute(text("PRAGMA temp_store")).scalar_one() == 2  # MEMORY
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
    head = (vault / "catalogue.sqlite").read_bytes()[:16]
    assert head != b"SQLite format 3\x00"


def test_show_says_a_preview_is_sealed_and_names_no_file(vault: Path, cli: Any) -> None:
    listed = cli("ls", "--locker", vault, "--json")
    assert listed.code == 0, listed.err
    pictures = [i["sha256"] for i in listed.json() if i["media_type"] == "image/jpeg"]
    shown = cli("show", "--locker", vault, pictures[0])
    assert shown.code == 0, shown.err
    [line] = [line for line in shown.out.splitlines() if line.startswith("preview")]
    assert "sealed in the vault" in line and str(vault) not in line
