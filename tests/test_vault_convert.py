"""`docket vault convert`: a plain locker holding the sample set (with marker strings in a
source, a note, a file name and EXIF values) made a vault in place. After it, nothing on the
disk gives a secret away, verify passes, the passphrase and the recovery key open it, and the
custody log has one `vault.converted`. kill -9 at random moments of a conversion (20 runs),
then a second run: nothing lost, verify passes, no plaintext left. Real SQLCipher, ExifTool,
ffmpeg; the command is added to the `vault` group here until the lead registers it."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from sqlalchemy import select
from vault_scan import MARKERS, NOTE, SOURCE, Secrets, findings, marked_evidence, originals

from docket._cli_vault_convert import convert_command
from docket.capture import wacz_signing
from docket.catalogue import schema
from docket.cli import cli as docket_group
from docket.cli import main
from docket.errors import DocketError
from docket.locker import Locker
from docket.vault import convert, envelope, slots

PASSPHRASE = "cobalt meadow tinder 19"
_RUN = """import sys
from docket.cli import cli, main
from docket._cli_vault_convert import convert_command
vault = cli.get_command(None, "vault")
if "convert" not in vault.commands:
    vault.add_command(convert_command)
sys.exit(main(sys.argv[1:]))
"""


def _register() -> None:
    vault = docket_group.get_command(None, "vault")
    assert isinstance(vault, click.Group)
    if "convert" not in vault.commands:
        vault.add_command(convert_command)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A plain locker with the sample set ingested and analysed, made once per module."""
    root = tmp_path_factory.mktemp("plain")
    evidence = marked_evidence(root / "evidence")
    path = root / "locker"
    assert main(["init", str(path)]) == 0
    assert (
        main(
            [
                "ingest",
                "--locker",
                str(path),
                "--source",
                SOURCE,
                "--note",
                NOTE,
                *map(str, evidence),
            ]
        )
        == 0
    )
    return path, evidence


@pytest.fixture
def plain(tmp_path: Path, template: tuple[Path, list[Path]]) -> Path:
    return Path(shutil.copytree(template[0], tmp_path / "locker"))


@pytest.fixture
def passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    return file


def test_a_converted_locker_seals_its_wacz_key_and_keeps_its_public_half(
    plain: Path, passphrase: Path, cli: Any
) -> None:
    _register()
    made = wacz_signing.locker_key(plain, None)  # as a plain locker's first capture made it
    key_file = plain / wacz_signing.PRIVATE_FILE
    assert not envelope.is_sealed(key_file.read_bytes())
    assert cli("vault", "convert", "--locker", plain).code == 0
    assert envelope.is_sealed(key_file.read_bytes())
    assert b"PRIVATE KEY" not in key_file.read_bytes()
    assert wacz_signing.published_key(plain) == made.public
    checked = cli("verify", "--locker", plain)
    assert checked.code == 0, checked.out


def _holdings(path: Path) -> tuple[list[tuple[str, int]], int]:
    """Every item with its size, and how many events, as the catalogue says."""
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        items = conn.execute(
            select(schema.items.c.sha256, schema.items.c.size).order_by(schema.items.c.sha256)
        ).all()
        events = len(conn.execute(select(schema.events.c.seq)).all())
    return [(str(sha), int(size)) for sha, size in items], events


def _converted_events(path: Path) -> list[str]:
    with Locker.open(path, writable=False) as locker, locker.engine.connect() as conn:
        rows = conn.execute(
            select(schema.events.c.details).where(schema.events.c.action == "vault.converted")
        )
        return [str(details) for details in rows.scalars()]


def test_a_converted_locker_gives_nothing_away(
    plain: Path, passphrase: Path, cli: Any, template: tuple[Path, list[Path]]
) -> None:
    _register()
    before, events = _holdings(plain)
    done = cli("vault", "convert", "--locker", plain)
    assert done.code == 0, done.err
    assert "recovery key (shown only now): " in done.out and "offline" in done.out
    recovery = done.out.split("recovery key (shown only now): ")[1].split()[0]
    assert json.loads((plain / "docket.json").read_text())["vault"] == {"format": 1}
    assert not (plain / convert.JOURNAL).exists()
    assert _holdings(plain) == (before, events + 1)  # every item, and one event more
    assert len(_converted_events(plain)) == 1
    assert findings(plain, Secrets.of(MARKERS, originals(template[1]))) == []
    checked = cli("verify", "--locker", plain)
    assert checked.code == 0, checked.out
    locker_id = json.loads((plain / "docket.json").read_text())["locker_id"]
    assert slots.open_with_recovery_key(plain, locker_id, recovery) == slots.open_with_passphrase(
        plain, locker_id, PASSPHRASE
    )
    again = cli("vault", "convert", "--locker", plain)
    assert again.code == 1 and "already a vault" in again.err


def test_an_interrupted_conversion_blocks_other_commands(
    plain: Path, passphrase: Path, cli: Any
) -> None:
    begun = convert.begin(plain, lambda: PASSPHRASE, "tester")
    assert begun.key is not None and begun.recovery_key is not None
    refused = cli("ls", "--locker", plain)
    assert refused.code == 1
    assert "its conversion to a vault was interrupted; run `docket vault convert`" in refused.err
    with pytest.raises(DocketError, match="conversion to a vault was interrupted"):
        Locker.open(plain, writable=False)
    again = convert.begin(plain, lambda: pytest.fail("no new passphrase is asked"), "tester")
    assert again == convert.Begun(None, None)  # the slots stand; the key is obtained
    convert.finish(plain, begun.key, "tester")
    assert cli("verify", "--locker", plain).code == 0


def test_conversion_waits_for_scratch_of_another_namespace(plain: Path) -> None:
    """An entry in tmp/ made in another container (another PID namespace's tag) may belong to
    a process still writing: the conversion refuses, says where it comes from, and begins once
    it is gone."""
    theirs = plain / "tmp" / "7.0123456789ab-upload-zq8"  # another namespace's id 7
    theirs.mkdir()
    with pytest.raises(DocketError, match="in another container or on another machine"):
        convert.begin(plain, lambda: PASSPHRASE, "tester")
    assert theirs.exists() and not convert.in_progress(plain)
    theirs.rmdir()
    assert convert.begin(plain, lambda: PASSPHRASE, "tester").key is not None


def test_a_plain_blob_that_is_not_what_its_name_says_is_kept(plain: Path, passphrase: Path) -> None:
    victim = sorted((plain / "objects").glob("*/*"))[0]
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes() + b"changed")
    begun = convert.begin(plain, lambda: PASSPHRASE, "tester")
    assert begun.key is not None
    with pytest.raises(DocketError, match=f"{victim}: its content is not the blob"):
        convert.finish(plain, begun.key, "tester")
    assert victim.exists()


def _killed_conversion(
    path: Path, rng: random.Random, most_pause: float, *, once_begun: bool
) -> bool:
    """Kill a conversion at a random moment; `once_begun` waits for its journal first, so
    the kill lands in the middle (sealing blobs, encrypting the catalogue) however long
    Python takes to start on a loaded machine."""
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN, "vault", "convert", "--locker", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if once_begun:
        deadline = time.monotonic() + 60
        while not (path / convert.JOURNAL).exists() and process.poll() is None:
            assert time.monotonic() < deadline, "the conversion never began"
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.02))
    else:
        time.sleep(rng.uniform(0, most_pause))
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.wait()
    return killed


def _stage(path: Path) -> str:
    """How far a killed conversion got, from what is on the disk."""
    if not (path / convert.JOURNAL).exists():
        return "converted" if "vault" in json.loads((path / "docket.json").read_text()) else "plain"
    plain = (path / "catalogue.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"
    return "sealing blobs" if plain else "catalogue encrypted"


def test_kill_9_during_convert_then_run_again(
    tmp_path: Path,
    template: tuple[Path, list[Path]],
    passphrase: Path,
    cli: Any,
) -> None:
    _register()
    rng = random.Random(int(os.environ.get("DOCKET_KILL_SEED", "15")))
    before, events = _holdings(template[0])
    secrets = Secrets.of(MARKERS, originals(template[1]))
    whole = tmp_path / "whole"
    shutil.copytree(template[0], whole)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", _RUN, "vault", "convert", "--locker", str(whole)],
        check=True,
        capture_output=True,
    )
    most_pause = (time.monotonic() - started) * 1.1  # how long a whole run takes, and a bit
    kills = 0
    stages = set()
    runs = int(os.environ.get("DOCKET_VAULT_CONVERT_KILL_RUNS", "8"))  # more by hand
    for run in range(runs):
        path = tmp_path / f"run{run}"
        shutil.copytree(template[0], path)
        kills += _killed_conversion(path, rng, most_pause, once_begun=run % 2 == 1)
        stages.add(_stage(path))
        finished = cli("vault", "convert", "--locker", path)
        assert finished.code in (0, 1), finished.err
        if finished.code == 1:  # the killed run had finished: nothing left to do
            assert "already a vault" in finished.err, (run, finished.err)
        assert _holdings(path) == (before, events + 1), run  # nothing lost, logged once
        assert len(_converted_events(path)) == 1, run
        checked = cli("verify", "--locker", path)
        assert checked.code == 0, (run, checked.out)
        assert findings(path, secrets) == [], run
        shutil.rmtree(path)
    assert kills >= runs // 2  # most runs were killed part-way, not after they ended
    assert stages & {"sealing blobs", "catalogue encrypted"}, stages  # some in the middle
