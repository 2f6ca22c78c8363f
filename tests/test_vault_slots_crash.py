"""kill -9 during key-slot changes: a process changes a passphrase, adds a slot and removes
another, and is killed at a random moment; after each kill the slot file reads whole and
every slot that existed before still opens (for the slot being changed: the old passphrase
or the new one, and the new one once the change was acknowledged).
$DOCKET_VAULT_CRASH_RUNS runs (default 20), seed printed and settable with
$DOCKET_VAULT_CRASH_SEED."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import docket_command

from docket.errors import WrongPassphraseError
from docket.vault import slot_file, slots
from docket.vault.keys import VaultKey

CHILD = """
import sys
from pathlib import Path
from docket.vault import slots
from docket.vault.keys import VaultKey

path, slot_id, new, extra, old_extra = sys.argv[1:]  # old_extra: an id, or "-"
key = VaultKey(bytes.fromhex(sys.stdin.readline().strip()))  # from the test, never on disk
print("ready", flush=True)
_, changed = slots.change_passphrase(path := Path(path), key, int(slot_id), new)
print("changed", changed.id, flush=True)
added = slots.add_passphrase(path, key, extra, "for " + extra)
print("added", added.id, flush=True)
if old_extra != "-":
    slots.remove_slot(path, key, int(old_extra))
print("removed", flush=True)
"""


def opens(path: Path, locker_id: str, passphrase: str) -> bool:
    try:
        slots.open_with_passphrase(path, locker_id, passphrase)
    except WrongPassphraseError:
        return False
    return True


def newest(path: Path, locker_id: str, key: VaultKey, label: str) -> int:
    """The id of the newest slot labelled `label` (a changed passphrase keeps its label, and
    a kill can leave the old slot beside the new one)."""
    return max(s.id for s in slots.list_slots(path, locker_id, key) if s.label == label)


def test_kill_during_slot_changes_loses_no_slot(tmp_path: Path) -> None:
    runs = int(os.environ.get("DOCKET_VAULT_CRASH_RUNS", "8"))
    seed = int(os.environ.get("DOCKET_VAULT_CRASH_SEED", str(random.randrange(1 << 30))))
    print(f"seed {seed}, {runs} runs")
    rng = random.Random(seed)
    path, locker_id = tmp_path / "locker", str(uuid.uuid4())
    path.mkdir()
    current = "passphrase 0"
    created = slots.create(path, locker_id, current, "main")
    key = created.key
    extra: tuple[str, int] | None = None  # the extra passphrase slot now held, and its id
    killed_runs, stages = 0, {"ready": 0, "changed": 0, "added": 0, "removed": 0}

    def start(folder: Path, slot_id: int, new: str, new_extra: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(folder),
                str(slot_id),
                new,
                new_extra,
                str(extra[1]) if extra else "-",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(key.master.hex() + "\n")
        process.stdin.close()
        assert process.stdout.readline().strip() == "ready"
        return process

    # How long a whole run of changes takes on this machine now (on a copy): the kills below
    # fall anywhere in it, so that most runs are cut part-way whatever the machine's speed.
    trial = tmp_path / "trial"
    shutil.copytree(path, trial)
    started = time.monotonic()
    start(trial, newest(path, locker_id, key, "main"), "trial", "trial extra").wait()
    whole = time.monotonic() - started
    for run in range(1, runs + 1):
        new, new_extra = f"passphrase {run}", f"extra {run}"
        process = start(path, newest(path, locker_id, key, "main"), new, new_extra)
        assert process.stdout is not None
        time.sleep(rng.uniform(0, whole))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_runs += 1
        said = process.stdout.read().split("\n")
        process.wait()
        said_words = ["ready", *(line.split()[0] for line in said if line.strip())]
        stages[said_words[-1]] += 1

        vault = slot_file.read(path, locker_id)  # whole, nothing damaged
        assert vault.damaged == (), f"run {run}: {vault.damaged}"
        assert slots.open_with_recovery_key(path, locker_id, created.recovery_key) == key
        old_opens, new_opens = opens(path, locker_id, current), opens(path, locker_id, new)
        assert old_opens or new_opens, f"run {run} (seed {seed}): neither passphrase opens"
        if "changed" in said_words:
            assert new_opens and not old_opens, f"run {run}: acknowledged change not whole"
        if new_opens:
            current = new
        if "added" in said_words:
            assert opens(path, locker_id, new_extra), f"run {run}: acknowledged slot lost"
        if (
            extra is not None
            and "removed" not in said_words
            and not opens(path, locker_id, extra[0])
        ):
            # The old extra slot may be gone only by its removal, which follows the add.
            assert opens(path, locker_id, new_extra), f"run {run}: a slot was lost"
        if opens(path, locker_id, new_extra):
            extra = (new_extra, newest(path, locker_id, key, f"for {new_extra}"))
        elif extra is not None and not opens(path, locker_id, extra[0]):
            raise AssertionError(f"run {run}: no extra slot opens")
    print(f"killed {killed_runs} of {runs}; last stage acknowledged: {stages}")
    assert killed_runs > 0, "no run was killed: the pauses are too long for this machine"
    # What a killed writer left half-written goes with the next write.
    slots.add_passphrase(path, key, "last", "last")
    assert not list(path.glob("keys/.vault.json.*"))


ADDER = """
import sys
from pathlib import Path
from docket.vault import slots
from docket.vault.keys import VaultKey

key = VaultKey(bytes.fromhex(sys.stdin.readline().strip()))
for n in range(3):
    slots.add_passphrase(Path(sys.argv[1]), key, f"{sys.argv[2]} {n}", f"{sys.argv[2]} {n}")
"""


def test_writers_at_once_lose_no_slot(tmp_path: Path) -> None:
    """Three processes each add three slots at the same time: all nine are there (the flock
    on keys/ serialises read-change-write)."""
    path, locker_id = tmp_path / "locker", str(uuid.uuid4())
    path.mkdir()
    created = slots.create(path, locker_id, "passphrase 0", "main")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ADDER, str(path), f"writer {w}"],
            stdin=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(created.key.master.hex() + "\n")
        process.stdin.close()
    assert [process.wait(timeout=300) for process in processes] == [0, 0, 0]
    listed = slots.list_slots(path, locker_id, created.key)
    labels = {s.label for s in listed}
    assert labels == {"main", "recovery key"} | {
        f"writer {w} {n}" for w in range(3) for n in range(3)
    }
    assert len({s.id for s in listed}) == 11
    assert slots.open_with_passphrase(path, locker_id, "writer 2 2") == created.key


def test_kill_during_slot_commands_on_a_vault_loses_nothing(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through `docket vault change-passphrase` and `add-passphrase` on a real vault
    (SQLCipher catalogue, events logged), killed at random: after each, verify passes and
    every slot that existed before still opens (the changed one by its old or new secret).
    About 5 s a run here (verify each time): $DOCKET_VAULT_CRASH_RUNS runs, default 6 in the
    suite; 20 by hand."""
    runs = int(os.environ.get("DOCKET_VAULT_CRASH_RUNS", "6"))
    seed = int(os.environ.get("DOCKET_VAULT_CRASH_SEED", str(random.randrange(1 << 30))))
    print(f"seed {seed}, {runs} runs")
    rng = random.Random(seed)
    current = tmp_path / "current"
    current.write_text("passphrase 0\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(current))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    path = tmp_path / "vault"
    made = cli("init", "--vault", path)
    assert made.code == 0, made.err
    recovery_key = made.out.split("recovery key (shown only now): ")[1].split()[0]
    locker_id = json.loads((path / "docket.json").read_text())["locker_id"]
    key = slots.open_with_passphrase(path, locker_id, "passphrase 0")
    main_label = slots.list_slots(path, locker_id, key)[0].label or ""
    extras: list[str] = []
    killed_runs = 0
    for run in range(1, runs + 1):
        new = tmp_path / "new"
        new.write_text(f"passphrase {run}\n")
        main_slot = newest(path, locker_id, key, main_label)
        args = (
            ["change-passphrase", str(main_slot)]
            if run % 2
            else ["add-passphrase", "--label", f"extra {run}"]
        )
        process = subprocess.Popen(
            [
                *docket_command(),
                "vault",
                *args,
                "--new-passphrase-file",
                str(new),
                "--locker",
                str(path),
            ],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 2.0))  # a command takes about 1.3 s here, 0.7 s of it imports
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_runs += 1
        process.wait()
        old_text = current.read_text().strip()
        if run % 2:
            old_opens, new_opens = (
                opens(path, locker_id, old_text),
                opens(path, locker_id, f"passphrase {run}"),
            )
            assert old_opens or new_opens, f"run {run} (seed {seed}): neither passphrase opens"
            if not old_opens:
                current.write_text(f"passphrase {run}\n")
        elif opens(path, locker_id, f"passphrase {run}"):
            extras.append(f"passphrase {run}")
        for extra in extras:
            assert opens(path, locker_id, extra), f"run {run} (seed {seed}): {extra} lost"
        assert slots.open_with_recovery_key(path, locker_id, recovery_key) == key
        verified = cli("verify", "--locker", path)
        assert verified.code == 0, f"run {run} (seed {seed}): {verified.out}{verified.err}"
    print(f"killed {killed_runs} of {runs}")
