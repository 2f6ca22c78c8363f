"""Copies of a vault (issue 12 meets issue 15): `replicate` makes a copy that is the same vault
(sealed blob files as they are, the catalogue encrypted under the same key, the key slots),
and no copy gives anything away; audit-copies, repair --from COPY and restore work on a vault
and its copies with the key; a vault's copy and a plain locker's are never mixed. Real
SQLCipher, ExifTool and ffmpeg; the key from DOCKET_PASSPHRASE_FILE, as a script has it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import docket_command, photo
from copies_help import flip_byte
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, files_under, findings, marked_evidence
from vault_scan import originals as originals_of

from docket.cli import main
from docket.errors import WrongPassphraseError
from docket.locker import Locker
from docket.store.vault import VaultStore
from docket.vault import slots

if TYPE_CHECKING:
    import s3_server

PASSPHRASE = "harbour willow cobalt 19"
RECOVERY = "recovery key (shown only now): "


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
    """The marked evidence, and a vault holding it (`make_vault`, not analysed), made once per
    module (the slot's Argon2, ExifTool and ffmpeg cost seconds); each test copies both."""
    base = tmp_path_factory.mktemp("made")
    evidence = marked_evidence(base / "evidence")
    path = base / "vault"
    (base / "passphrase").write_text(PASSPHRASE + "\n")
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("DOCKET_PASSPHRASE_FILE", str(base / "passphrase"))
        patch.delenv("DOCKET_DATABASE_URL", raising=False)
        assert main(["init", "--vault", str(path)]) == 0
        stored = ["ingest", "--locker", str(path), "--source", SOURCE, "--note", NOTE]
        assert main([*stored, *map(str, evidence)]) == 0
    return Made(evidence, path)


@pytest.fixture
def evidence(made: Made, tmp_path: Path) -> list[Path]:
    folder = made.evidence[0].parent
    shutil.copytree(folder, tmp_path / "evidence")
    return [tmp_path / "evidence" / file.relative_to(folder) for file in made.evidence]


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
def vault(made: Made, tmp_path: Path, passphrase_file: Path, evidence: list[Path]) -> Path:
    """This test's copy of the module's vault (its evidence in `evidence`)."""
    return Path(shutil.copytree(made.vault, tmp_path / "vault"))


def verified(cli: Any, path: Path) -> None:
    checked = cli("verify", "--locker", path)
    assert checked.code == 0, checked.out + checked.err


def sealed_files(path: Path) -> dict[str, bytes]:
    return {
        str(file.relative_to(path)): file.read_bytes() for file in files_under(path / "objects")
    }


def held(path: Path) -> dict[str, bytes]:
    """Every file of a copy but what SQLite keeps beside a catalogue it reads (-wal, -shm)."""
    return {
        str(f): f.read_bytes()
        for f in files_under(path)
        if not f.name.startswith("catalogue.sqlite-")
    }


def test_a_vault_copy_is_the_same_vault_and_gives_nothing_away(
    tmp_path: Path,
    cli: Any,
    passphrase_file: Path,
    evidence: list[Path],
    monkeypatch: pytest.MonkeyPatch,
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
    # Locked (no key at all), the copy is verified as far as the public key goes.
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    locked = cli("verify", "--locker", copy)
    assert locked.code == 0 and "not checked  blobs: the vault is locked" in locked.out


def test_a_damaged_blob_and_a_lost_catalogue_are_repaired_from_the_copy(
    vault: Path, cli: Any, tmp_path: Path, evidence: list[Path]
) -> None:
    copy = tmp_path / "copy"
    assert cli("replicate", "--locker", vault, copy).code == 0
    damaged = files_under(vault / "objects")[0]
    flip_byte(damaged, offset=300)  # inside its first segment
    assert cli("verify", "--locker", vault).code != 0
    fixed = cli("repair", "--locker", vault, "--from", copy)
    assert fixed.code == 0, fixed.err + fixed.out
    assert "replaced  blob" in fixed.out and "(was damaged)" in fixed.out
    assert damaged.read_bytes() == (copy / damaged.relative_to(vault)).read_bytes()
    verified(cli, vault)
    # The catalogue lost: the locker refuses to open, repair brings it back from the copy.
    for suffix in ("", "-wal", "-shm"):
        (vault / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    assert cli("verify", "--locker", vault).code != 0
    back = cli("repair", "--locker", vault, "--from", copy)
    assert back.code == 0, back.err + back.out
    assert "restored  catalogue: 0 ->" in back.out
    assert (vault / "catalogue.sqlite").read_bytes()[:16] != b"SQLite format 3\x00"
    verified(cli, vault)
    found = cli("search", "--locker", vault, "orchid_lane_marker_0098")
    assert found.code == 0 and "orchid_lane_marker_0098.jpg" in found.out, found.out
    assert findings(vault, Secrets.of(MARKERS, originals_of(evidence))) == []


def test_restore_brings_the_vault_back_as_the_same_vault(
    vault: Path, cli: Any, tmp_path: Path, evidence: list[Path]
) -> None:
    copy, back = tmp_path / "copy", tmp_path / "back"
    assert cli("replicate", "--locker", vault, "--include-private-key", copy).code == 0
    done = cli("restore", copy, back)
    assert done.code == 0, done.err
    assert json.loads((back / "docket.json").read_text())["vault"] == {"format": 1}
    assert sealed_files(back) == sealed_files(vault)
    verified(cli, back)
    assert findings(back, Secrets.of(MARKERS, originals_of(evidence))) == []
    # It records evidence again: its sealed signing key came with it, and opens with the key.
    more = cli("ingest", "--locker", back, photo(tmp_path / "later", "later.jpg", 41))
    assert more.code == 0, more.err + more.out
    verified(cli, back)


def test_a_vault_and_a_plain_copy_are_never_mixed(
    tmp_path: Path, cli: Any, passphrase_file: Path, evidence: list[Path]
) -> None:
    """A plain locker replicated, then made a vault in place (same locker id): its old plain
    copy is refused by replicate, repair and audit-copies, and left as it was."""
    locker, copy = tmp_path / "locker", tmp_path / "copy"
    assert cli("init", locker).code == 0
    assert cli("ingest", "--locker", locker, evidence[0]).code == 0
    assert cli("replicate", "--locker", locker, copy).code == 0
    before = held(copy)
    converted = cli("vault", "convert", "--locker", locker)
    assert converted.code == 0, converted.err + converted.out
    for args in (
        ("replicate", "--locker", locker, copy),
        ("repair", "--locker", locker, "--from", copy),
    ):
        refused = cli(*args)
        assert refused.code == 1, refused.out
        assert "never mixed" in refused.err and len(refused.err.strip().splitlines()) == 1
        assert "Traceback" not in refused.err
    audited = cli("audit-copies", "--locker", locker, copy)
    assert audited.code == 1 and "never mixed; skipped" in audited.out, audited.out
    assert held(copy) == before


RUNS = int(os.environ.get("DOCKET_COPIES_CRASH_RUNS", "2"))


def replicate_killed(rng: random.Random, within: float, vault: Path, copy: Path) -> bool:
    """Run replicate in a process of its own and SIGKILL it at a random moment after it
    began writing (its /proc io counter moved), within `within` seconds of its start (one
    whole run's time); whether it was still running."""
    started = time.monotonic()
    child = subprocess.Popen(
        [*docket_command(), "replicate", "--locker", str(vault), str(copy)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    io_file = Path(f"/proc/{child.pid}/io")
    while child.poll() is None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(io_file.read_text().split("wchar: ")[1].split()[0]):
                break
        time.sleep(0.002)
    time.sleep(rng.uniform(0, max(within - (time.monotonic() - started), 0.05)))
    running = child.poll() is None
    if running:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    return running


def test_kill_9_during_replicate_of_a_vault_then_a_rerun_gives_a_copy_that_verifies(
    vault: Path, cli: Any, tmp_path: Path, evidence: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    seed = random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    secrets = Secrets.of(MARKERS, originals_of(evidence))
    started = time.monotonic()
    subprocess.run(
        [*docket_command(), "replicate", "--locker", str(vault), str(tmp_path / "timed")],
        check=True,
        capture_output=True,
    )
    within = time.monotonic() - started
    kills = 0
    for run in range(RUNS):
        copy = tmp_path / f"copy{run}"
        kills += replicate_killed(rng, within, vault, copy)
        assert findings(copy, secrets) == [], seed  # a killed copy gives nothing away either
        done = cli("replicate", "--locker", vault, copy)
        assert done.code == 0, (seed, done.err)
        verified(cli, copy)
        assert sealed_files(copy) == sealed_files(vault), seed
        assert not any((copy / "tmp").iterdir()), seed
        assert findings(copy, secrets) == [], seed
    copies = [tmp_path / f"copy{run}" for run in range(RUNS)]
    agreed = cli("audit-copies", "--locker", vault, "--deep", *copies)
    assert agreed.code == 0, (seed, agreed.out)
    with capsys.disabled():  # seen with -s
        print(f"\nseed {seed}: {kills} of {RUNS} kills found replicate running")


def test_a_damaged_or_swapped_sealed_file_is_never_copied(
    vault: Path, cli: Any, tmp_path: Path
) -> None:
    files = files_under(vault / "objects")
    flip_byte(files[0], offset=len(files[0].read_bytes()) - 5)  # in its last segment's tag
    copy = tmp_path / "copy"
    refused = cli("replicate", "--locker", vault, copy)
    assert refused.code == 1 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "not copied (run `docket verify` where it came from)" in refused.err
    assert not (copy / files[0].relative_to(vault)).exists()
    assert not (copy / "catalogue.sqlite").exists() and not any((copy / "tmp").iterdir())
    flip_byte(files[0], offset=len(files[0].read_bytes()) - 5)  # put back
    one, two = files[1], files[2]
    for file in (one, two):
        file.chmod(0o644)
    data = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(data)
    swapped = cli("replicate", "--locker", vault, copy)
    assert swapped.code == 1 and "its header does not authenticate" in swapped.err
    assert not (copy / one.relative_to(vault)).exists()
    assert not (copy / two.relative_to(vault)).exists()


def test_audit_names_a_damaged_blob_in_a_vault_copy(vault: Path, cli: Any, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    assert cli("replicate", "--locker", vault, copy).code == 0
    flip_byte(files_under(copy / "objects")[0], offset=200)
    audited = cli("audit-copies", "--locker", vault, "--deep", copy)
    assert audited.code == 1
    assert f"DIFFERENCE   {copy}: blob " in audited.out and "damaged: " in audited.out
    assert "Traceback" not in audited.err


def test_a_slot_added_or_removed_reaches_the_copy_at_the_next_replicate(
    vault: Path, cli: Any, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    assert cli("replicate", "--locker", vault, copy).code == 0
    second = tmp_path / "second"
    second.write_text("meadow lantern 77\n")
    added = cli(
        "vault",
        "add-passphrase",
        "--locker",
        vault,
        "--label",
        "Ines",
        "--new-passphrase-file",
        second,
    )
    assert added.code == 0, added.err
    locker_id = json.loads((copy / "docket.json").read_text())["locker_id"]
    with pytest.raises(WrongPassphraseError):
        slots.open_with_secret(copy, locker_id, "meadow lantern 77")  # not replicated yet
    assert cli("replicate", "--locker", vault, copy).code == 0
    key = slots.open_with_secret(copy, locker_id, "meadow lantern 77")
    listed = cli("vault", "slots", "--locker", vault, "--json")
    [slot] = [s["slot"] for s in json.loads(listed.out) if s.get("label") == "Ines"]
    assert cli("vault", "remove-slot", "--locker", vault, str(slot)).code == 0
    moved = cli("replicate", "--locker", vault, copy)
    assert moved.code == 0 and " 0 blob(s) copied" in moved.out, moved.out
    with pytest.raises(WrongPassphraseError):
        slots.open_with_secret(copy, locker_id, "meadow lantern 77")
    assert slots.open_with_secret(copy, locker_id, PASSPHRASE) == key
    verified(cli, copy)


def test_a_second_replicate_moves_only_what_is_new(vault: Path, cli: Any, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    assert cli("replicate", "--locker", vault, copy).code == 0
    before = sealed_files(copy)
    assert cli("ingest", "--locker", vault, photo(tmp_path / "later", "later.jpg", 43)).code == 0
    new = set(sealed_files(vault)) - set(before)  # the photo and what ingest derived from it
    assert new
    moved = cli("replicate", "--locker", vault, copy)
    assert moved.code == 0 and f" {len(new)} blob(s) copied" in moved.out, moved.out
    after = sealed_files(copy)
    assert set(after) - set(before) == new and after == sealed_files(vault)
    # The copy is repaired from the vault as any copy is (it logs no event of its own).
    lost = copy / sorted(new)[0]
    lost.unlink()
    fixed = cli("repair", "--locker", copy, "--from", vault)
    assert fixed.code == 0 and "restored  blob" in fixed.out, fixed.out + fixed.err
    assert "a copy: no event logged" in fixed.out
    assert sealed_files(copy) == sealed_files(vault)
    verified(cli, copy)


def test_repair_takes_nothing_damaged_nor_anything_from_another_vault(
    vault: Path, cli: Any, tmp_path: Path, evidence: list[Path]
) -> None:
    copy = tmp_path / "copy"
    assert cli("replicate", "--locker", vault, copy).code == 0
    target = files_under(vault / "objects")[0]
    flip_byte(target, offset=300)
    flip_byte(copy / target.relative_to(vault), offset=400)  # the copy's is damaged too
    damaged = target.read_bytes()
    partial = cli("repair", "--locker", vault, "--from", copy)
    assert partial.code == 1 and f"damaged in {copy} too" in partial.out, partial.out
    assert target.read_bytes() == damaged  # nothing put in its place
    # Another vault's copy (its own key and locker id) is refused in one line.
    other = tmp_path / "other"
    make_vault(other, cli, evidence[:1], analyse=False)
    assert cli("replicate", "--locker", other, tmp_path / "other-copy").code == 0
    refused = cli("repair", "--locker", vault, "--from", tmp_path / "other-copy")
    assert refused.code == 1 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "a copy of another vault" in refused.err, refused.err
    assert target.read_bytes() == damaged


def test_a_vault_whose_blobs_are_in_a_bucket_is_copied_to_a_folder(
    tmp_path: Path, cli: Any, passphrase_file: Path, moto_endpoint: s3_server.Endpoint
) -> None:
    """Its sealed objects, fetched as stored, become the copy's sealed files: the copy is a
    vault in a folder, which opens and verifies."""
    path, copy = tmp_path / "vault", tmp_path / "copy"
    url = moto_endpoint.locked_url()
    made = cli("init", "--vault", "--store", url, "--retention-days", "1", path)
    assert made.code == 0, made.err
    assert (
        cli("ingest", "--locker", path, photo(tmp_path / "in", "marigold_gate.jpg", 44)).code == 0
    )
    done = cli("replicate", "--locker", path, copy)
    assert done.code == 0, done.err
    assert "store" not in json.loads((copy / "docket.json").read_text())
    verified(cli, copy)
    with Locker.open(copy, writable=False) as opened, Locker.open(path, writable=False) as source:
        assert set(opened.store.digests()) == set(source.store.digests())
    assert b"marigold_gate" not in b"".join(f.read_bytes() for f in files_under(copy))
