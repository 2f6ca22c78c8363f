"""A locker never loses acknowledged evidence unnoticed: faults a careful tester injects into
the catalogue, its files and its keys are each named by `verify` or refused at open, on one
line and without a traceback."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import docket_command, photo, take
from sqlalchemy import delete, select, update

from docket.catalogue import schema
from docket.custody import log, witness
from docket.custody.ledger import make_checkpoint
from docket.errors import CatalogueLostError
from docket.locker import PRIVATE_KEY, Locker
from docket.verify import verify


@pytest.fixture
def sqlite_locker(locker: Locker) -> Locker:
    if locker.engine.dialect.name != "sqlite":
        pytest.skip("a fault in SQLite's catalogue file")
    return locker


def catalogue_file(locker: Locker) -> Path:
    return locker.path / "catalogue.sqlite"


def put_back(saved: Path, locker: Locker) -> None:
    """Replace the catalogue by an older copy, as a restored backup would."""
    locker.close()
    for suffix in ("-wal", "-shm"):
        catalogue_file(locker).with_name(f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copyfile(saved, catalogue_file(locker))


def witnessed(locker: Locker) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (locker.path / witness.FILE_NAME).read_text().splitlines()]


def test_every_checkpoint_is_appended_to_checkpoints_log(locker: Locker, tmp_path: Path) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    take(locker, photo(tmp_path / "b", seed=2))
    lines = witnessed(locker)
    assert [line["id"] for line in lines] == [1, 2]
    assert lines[1]["tree_size"] > lines[0]["tree_size"]
    assert verify(locker, quick=True).ok


def test_a_checkpoint_rolled_back_is_not_appended(locker: Locker) -> None:
    """The line is appended after the commit: a checkpoint that never committed (as in a crash
    before the commit) leaves no line that verify would have to call lost."""
    with pytest.raises(RuntimeError), locker.engine.connect() as conn, conn.begin():
        make_checkpoint(conn, locker.signing_key, locker.origin, "tester")
        raise RuntimeError("stopped before the commit")
    assert witnessed(locker) == []
    assert verify(locker, quick=True).ok


def test_older_catalogue_copied_back_names_the_missing_events(
    sqlite_locker: Locker, tmp_path: Path
) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    saved = tmp_path / "saved.sqlite"
    shutil.copyfile(catalogue_file(locker), saved)
    with locker.engine.connect() as conn:
        before = int(conn.exec_driver_sql("SELECT size FROM log_head").scalar_one())
    lost = take(locker, photo(tmp_path / "b", seed=2)).outcomes[0].sha256
    assert lost is not None
    signed = witnessed(locker)[-1]
    put_back(saved, locker)
    with Locker.open(locker.path) as reopened:
        found = [str(p) for p in verify(reopened, quick=True).problems]
    assert (
        f"catalogue: the catalogue ends at event {before - 1}; checkpoint {signed['id']} signed "
        f"{signed['tree_size']} events; events {before}..{signed['tree_size'] - 1} are missing "
        "(restore the catalogue from a copy)"
    ) in found
    assert (
        f"blob {lost[:16]}: in the store but no record references it: the catalogue lost its tail"
    ) in found


def test_an_emptied_checkpoints_log_is_named(locker: Locker, tmp_path: Path) -> None:
    """Emptied, the file looked like a new locker's: verify passed whatever the catalogue
    had lost. Every checkpoint but the newest is appended before the next is made."""
    take(locker, photo(tmp_path / "a", seed=1))
    take(locker, photo(tmp_path / "b", seed=2))
    (locker.path / witness.FILE_NAME).write_bytes(b"")
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [
        "checkpoint 1: is in the catalogue but not in checkpoints.log, where it was "
        "appended: lines were cut from it (restore it from a copy)"
    ]


def test_a_checkpoints_log_cut_from_its_beginning_is_named(locker: Locker, tmp_path: Path) -> None:
    """Its first lines cut, the file looked like a locker's that began keeping it late; each
    checkpoint.made event now says its checkpoint went to the file."""
    for seed in (1, 2, 3):
        take(locker, photo(tmp_path / str(seed), seed=seed))
    path = locker.path / witness.FILE_NAME
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 3
    path.write_bytes(b"".join(lines[2:]))
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [
        f"checkpoint {n}: is in the catalogue but not in checkpoints.log, where it was "
        "appended: lines were cut from it (restore it from a copy)"
        for n in (1, 2)
    ]


def test_a_checkpoints_log_cut_by_its_last_newline_still_proves_the_tail(
    sqlite_locker: Locker, tmp_path: Path
) -> None:
    """A whole signed line that lost only its newline is a checkpoint, not a torn append: an
    older catalogue put back with the file cut by one byte is named, and the next checkpoint
    ends that line rather than gluing itself to it."""
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    saved = tmp_path / "saved.sqlite"
    shutil.copyfile(catalogue_file(locker), saved)
    take(locker, photo(tmp_path / "b", seed=2))
    path = locker.path / witness.FILE_NAME
    path.write_bytes(path.read_bytes()[:-1])
    with Locker.open(locker.path) as reopened:
        assert verify(reopened, quick=True).ok  # nothing lost: the cut line is read whole
    put_back(saved, locker)
    with Locker.open(locker.path) as reopened:
        found = [str(p) for p in verify(reopened, quick=True).problems]
    assert any(p.startswith("catalogue: the catalogue ends at event") for p in found), found


def test_a_torn_append_is_cut_before_the_next_checkpoint(locker: Locker, tmp_path: Path) -> None:
    """A crash while a line was appended leaves part of it: the next append cuts that part
    off, so its own line is whole and the file verifies again."""
    take(locker, photo(tmp_path / "a", seed=1))
    path = locker.path / witness.FILE_NAME
    whole = path.read_bytes()
    path.write_bytes(whole + whole[: len(whole) // 2])  # half a second line
    take(locker, photo(tmp_path / "b", seed=2))
    assert path.read_bytes().startswith(whole)
    assert [line["id"] for line in witnessed(locker)] == [1, 2]
    assert verify(locker, quick=True).ok


KILLED_BEFORE_ITS_APPEND = """
import os, signal, sys
from pathlib import Path
from docket.custody import ledger, witness
from docket.locker import Locker
witness.append = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
with Locker.open(Path(sys.argv[1])) as locker, locker.engine.begin() as conn:
    ledger.make_checkpoint(conn, locker.signing_key, locker.origin, "tester")
"""


def test_a_process_killed_between_its_commit_and_its_append_is_caught_up(
    locker: Locker, tmp_path: Path
) -> None:
    """kill -9 after a checkpoint committed and before its line reached checkpoints.log: the
    next checkpoint appends the missing line before its own, so the file is not taken for one
    with lines cut from it."""
    take(locker, photo(tmp_path / "a", seed=1))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_ITS_APPEND, str(locker.path)], capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [line["id"] for line in witnessed(locker)] == [1]  # the second's line never came
    take(locker, photo(tmp_path / "b", seed=2))
    assert [line["id"] for line in witnessed(locker)] == [1, 2, 3]
    found = verify(locker, quick=True)
    assert found.ok, found.problems


def test_a_timer_checkpoint_covers_events_after_an_ingest_and_only_then(
    sqlite_locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """A flag set after the ingest's checkpoint was covered by no signature: a catalogue put
    back from before it passed verify. `checkpoint --if-new-events` (the timer's) signs it,
    and adds nothing to a log with nothing new."""
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    idle = cli("checkpoint", "--if-new-events", "--locker", locker.path)
    assert idle.code == 0 and "none made" in idle.out
    assert [line["id"] for line in witnessed(locker)] == [1]
    locker.close()
    saved = tmp_path / "saved.sqlite"
    shutil.copyfile(catalogue_file(locker), saved)
    with Locker.open(locker.path) as reopened, reopened.engine.begin() as conn:
        log.append(conn, "tester", "item.flagged", details={"flag": "graphic"})
    made = cli("checkpoint", "--if-new-events", "--locker", locker.path)
    assert made.code == 0 and made.out.startswith("checkpoint 2\n"), made.out
    put_back(saved, locker)
    with Locker.open(locker.path) as reopened:
        found = [str(p) for p in verify(reopened, quick=True).problems]
    assert any(p.startswith("catalogue: the catalogue ends at event") for p in found), found


def test_a_result_removed_from_the_catalogue_is_named(locker: Locker, tmp_path: Path) -> None:
    """A metadata result deleted by hand showed the item as never analysed, and verify passed:
    each event that recorded a result must find its row."""
    sha256 = take(locker, photo(tmp_path / "a", seed=1)).outcomes[0].sha256
    assert sha256 is not None
    assert verify(locker, quick=True).ok
    with locker.engine.begin() as conn:
        seq = conn.execute(
            select(schema.results.c.event_seq).where(
                schema.results.c.item_sha256 == sha256, schema.results.c.step == "metadata"
            )
        ).scalar_one()
        conn.execute(schema.results.delete().where(schema.results.c.event_seq == seq))
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [
        f"event {seq}: its metadata result of item {sha256[:16]} is missing from the catalogue"
    ]


def test_forged_line_in_checkpoints_log_is_named(locker: Locker, tmp_path: Path) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    path = locker.path / witness.FILE_NAME
    line = json.loads(path.read_text())
    line["tree_size"] += 5
    path.write_text(json.dumps(line) + "\n")
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [f"{witness.FILE_NAME} line 1: signature does not verify (forged or altered)"]


def test_missing_catalogue_is_not_replaced(sqlite_locker: Locker, tmp_path: Path, cli: Any) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    for name in ("catalogue.sqlite", "catalogue.sqlite-wal", "catalogue.sqlite-shm"):
        (locker.path / name).unlink(missing_ok=True)
    result = cli("ingest", "--locker", locker.path, photo(tmp_path / "b", seed=2))
    assert result.code == 1
    assert "catalogue is missing or empty" in result.err
    assert "restore the catalogue from a copy" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not catalogue_file(locker).exists()


def test_emptied_catalogue_is_not_replaced(sqlite_locker: Locker, tmp_path: Path, cli: Any) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    catalogue_file(locker).write_bytes(b"")
    result = cli("ls", "--locker", locker.path)
    assert result.code == 1 and "catalogue is missing or empty" in result.err
    assert catalogue_file(locker).stat().st_size == 0


def _flip_index_bit(file: Path, index: str) -> None:
    with sqlite3.connect(file) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()
    db.close()
    with file.open("r+b") as handle:
        # The index is small, so its root page is its only (leaf) page: its cells, the keys
        # with their row ids, are packed at the page's end. Flip a bit in the last cell's key.
        handle.seek(root[0] * page_size - 20)
        byte = handle.read(1)[0]
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte ^ 0x01]))


def test_flipped_bit_in_an_index_is_found(sqlite_locker: Locker, tmp_path: Path) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1), photo(tmp_path / "a", "two.jpg", seed=2))
    locker.close()
    _flip_index_bit(catalogue_file(locker), "ix_events_item_sha256")
    with Locker.open(locker.path) as reopened:
        report = verify(reopened, quick=True)
    [check] = [c for c in report.checks if c.name == "catalogue integrity"]
    assert check.passed is False
    assert any(
        p.subject == "catalogue" and "ix_events_item_sha256" in p.message for p in report.problems
    )


def test_corrupt_result_value_is_named(locker: Locker, tmp_path: Path) -> None:
    """A result whose value is not JSON, or JSON of another shape, is named, and the other
    catalogue rows are still checked (a membership's copy of the metadata is read from it)."""
    sha = take(locker, photo(tmp_path / "a", seed=1)).outcomes[0].sha256
    assert sha is not None
    results = schema.results.c
    with locker.engine.begin() as conn:
        seqs = {step: seq for step, seq in conn.execute(select(results.step, results.event_seq))}
        conn.execute(
            update(schema.results).where(results.step != "perceptual").values(data="{not json")
        )
        conn.execute(update(schema.results).where(results.step == "perceptual").values(data="[1]"))
        conn.execute(update(schema.items).values(size=1))  # found by the checks that go on
    report = verify(locker, quick=True)
    found = [str(p) for p in report.problems]
    for step, seq in seqs.items():
        assert f"{step} result of item {sha[:16]}: catalogue row differs from event {seq}" in found
    assert any(p.startswith(f"item {sha[:16]}: ") and "size" in p for p in found), found
    assert any(p.subject == "derivatives and hashes" for p in report.problems)


def _verify_cli(cli: Any, path: Path) -> Any:
    result = cli("verify", "--locker", path)
    assert result.code == 1
    return result


def test_damaged_pages_are_named_without_a_traceback(
    sqlite_locker: Locker, tmp_path: Path, cli: Any
) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    file = catalogue_file(locker)
    data = bytearray(file.read_bytes())
    page = 4096
    data[2 * page : 6 * page] = os.urandom(4 * page)
    file.write_bytes(bytes(data))
    result = _verify_cli(cli, locker.path)
    assert "catalogue" in result.out + result.err


def test_truncated_catalogue_is_named_without_a_traceback(
    sqlite_locker: Locker, tmp_path: Path, cli: Any
) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    file = catalogue_file(locker)
    with file.open("r+b") as handle:
        handle.truncate(file.stat().st_size // 2)
    result = _verify_cli(cli, locker.path)
    assert "catalogue" in result.out + result.err


def test_garbage_configuration_is_one_line(locker: Locker, cli: Any) -> None:
    (locker.path / "docket.json").write_bytes(b"\x00\xffnot json")
    result = _verify_cli(cli, locker.path)
    assert result.err.startswith(f"docket: {locker.path / 'docket.json'}: cannot be read as")
    assert len(result.err.strip().splitlines()) == 1


def _snapshot(root: Path) -> dict[str, tuple[int, float, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime, p.stat().st_mode)
        for p in root.rglob("*")
    }


def test_verify_a_read_only_copy_writes_nothing(sqlite_locker: Locker, tmp_path: Path) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    copy = tmp_path / "copy"
    shutil.copytree(locker.path, copy)
    (copy / "tmp" / "999999-blob-dead.part").write_bytes(b"left by a killed ingest")
    (copy / "keys" / "signing.key").unlink()  # a copy made for checking holds no private key
    for path in [copy, *copy.rglob("*")]:
        readable = 0o555 if path.is_dir() else 0o444
        path.chmod(readable)
    before = _snapshot(copy)
    command = [*docket_command(), "verify", "--locker", str(copy)]
    if os.getuid() == 0:  # root writes through modes: mount the copy read-only for the check
        mount = f"mount --bind -o ro {copy} {copy} && exec {shlex.join(command)}"
        command = ["unshare", "--mount", "sh", "-c", mount]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("verified: no problems")
    assert _snapshot(copy) == before
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # so that pytest can remove it


def test_verify_needs_only_the_public_key(locker: Locker, tmp_path: Path) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    (locker.path / "keys" / "signing.key").rename(tmp_path / "away.key")
    with Locker.open(locker.path, writable=False) as reopened:
        assert verify(reopened, quick=True).ok


def test_writable_blob_is_reported(locker: Locker, tmp_path: Path) -> None:
    sha256 = take(locker, photo(tmp_path / "a", seed=1)).outcomes[0].sha256
    assert sha256 is not None
    locker.store.path(sha256).chmod(0o644)
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [
        f"blob {sha256[:16]}: is writable or not a plain file (mode 0644); blobs are kept "
        "read-only (chmod 444)"
    ]


@pytest.mark.parametrize("quick", [False, True])
def test_a_blob_replaced_by_a_link_loop_is_named_without_a_traceback(
    locker: Locker, tmp_path: Path, cli: Any, quick: bool
) -> None:
    """A blob's file swapped for a symbolic link that points at itself (any stat or open of
    it fails with "too many levels of symbolic links"): verify names the blob on its lines."""
    sha256 = take(locker, photo(tmp_path / "a", seed=1)).outcomes[0].sha256
    assert sha256 is not None
    blob = locker.store.path(sha256)
    blob.chmod(0o644)
    blob.unlink()
    blob.symlink_to(blob.name)
    result = cli("verify", "--locker", locker.path, *(["--quick"] if quick else []))
    assert result.code == 1
    assert "Traceback" not in result.err and result.err.strip() == "", result.err
    assert f"blob {sha256[:16]}" in result.out or f"item {sha256[:16]}" in result.out, result.out


def test_signing_key_readable_by_others_is_reported(locker: Locker) -> None:
    (locker.path / "keys" / "signing.key").chmod(0o644)
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert len(found) == 1
    assert found[0].startswith("keys/signing.key: readable or writable by others (mode 0644)")


def test_verify_json_names_each_check(locker: Locker, cli: Any) -> None:
    (locker.path / "keys" / "signing.key").chmod(0o640)
    result = cli("verify", "--locker", locker.path, "--json")
    report = result.json()
    assert result.code == 1 and report["ok"] is False
    checks = {c["name"]: c["passed"] for c in report["checks"]}
    assert checks["keys"] is False and checks["checkpoints file"] is True
    assert [p["subject"] for p in report["problems"]] == ["keys/signing.key"]


def _stray(locker: Locker, data: bytes, age: float = 2 * 3600) -> str:
    """A blob no record references (as a killed ingest leaves), written `age` seconds ago."""
    sha256 = locker.store.put(io.BytesIO(data)).digest.sha256
    then = time.time() - age
    os.utime(locker.store.path(sha256), (then, then))
    return sha256


def test_gc_lists_stray_blobs_and_removes_them_only_with_delete(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    stray = _stray(locker, b"left by a killed ingest")
    fresh = _stray(locker, b"about to be recorded by a running ingest", age=0)
    listed = cli("gc", "--locker", locker.path)
    assert listed.code == 0
    assert f"stray    {stray}  23" in listed.out and fresh not in listed.out
    assert locker.store.has(stray)
    removed = cli("gc", "--locker", locker.path, "--delete")
    assert removed.code == 0 and f"removed  {stray}" in removed.out
    assert not locker.store.has(stray) and locker.store.has(fresh)
    with locker.engine.connect() as conn:
        [event] = [e for e in log.events(conn) if e.action == "store.collected"]
    assert event.details == {"blobs": [{"sha256": stray, "size": 23}]}
    assert verify(locker, quick=True).ok


def test_gc_keeps_strays_while_the_catalogue_lost_its_tail(
    sqlite_locker: Locker, tmp_path: Path, cli: Any
) -> None:
    locker = sqlite_locker
    take(locker, photo(tmp_path / "a", seed=1))
    locker.close()
    saved = tmp_path / "saved.sqlite"
    shutil.copyfile(catalogue_file(locker), saved)
    lost = take(locker, photo(tmp_path / "b", seed=2)).outcomes[0].sha256
    assert lost is not None
    then = time.time() - 2 * 3600
    os.utime(locker.store.path(lost), (then, then))
    put_back(saved, locker)
    result = cli("gc", "--locker", locker.path, "--delete")
    assert result.code == 1 and "may be evidence whose records were lost" in result.err
    assert locker.store.has(lost)


def test_gc_removes_partial_writes_of_dead_processes(locker: Locker, cli: Any) -> None:
    part = locker.path / "tmp" / "999999-blob-0123.part"
    part.write_bytes(b"half a file")
    result = cli("gc", "--locker", locker.path)
    assert result.code == 0 and "1 leftover(s) of dead processes removed" in result.out
    assert not part.exists()


def test_catalogue_with_its_tables_dropped_is_not_replaced(locker: Locker, tmp_path: Path) -> None:
    take(locker, photo(tmp_path / "a", seed=1))
    with locker.engine.begin() as conn:
        schema.metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE alembic_version")
    locker.close()
    with pytest.raises(CatalogueLostError, match="restore the catalogue from a copy"):
        Locker.open(locker.path)


def test_a_crash_between_the_commit_and_the_append_is_safe(locker: Locker, tmp_path: Path) -> None:
    """The file one checkpoint behind the catalogue, its last line cut short: verify passes
    and says so in its notes (nothing acknowledged was lost)."""
    take(locker, photo(tmp_path / "a", seed=1))
    take(locker, photo(tmp_path / "b", seed=2))
    path = locker.path / witness.FILE_NAME
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + second[:40])
    report = verify(locker, quick=True)
    assert report.ok, report.problems
    assert any("cut short" in note for note in report.notes)
    assert any("checkpoint 2 is not in" in note for note in report.notes)


def test_verify_json_answers_when_the_locker_cannot_be_opened(locker: Locker, cli: Any) -> None:
    (locker.path / "docket.json").write_text("{")
    result = cli("verify", "--locker", locker.path, "--json")
    assert result.code == 1
    report = result.json()
    assert report["ok"] is False and "docket.json" in report["error"]


def test_an_older_locker_gets_its_public_key_file_when_opened(locker: Locker) -> None:
    public = locker.path / "keys" / "signing.pub"
    public.unlink()
    Locker.open(locker.path).close()
    assert public.read_text() == locker.public_key.hex() + "\n"


def test_the_newest_checkpoint_removed_with_its_event_is_named(
    locker: Locker, tmp_path: Path
) -> None:
    """The log then ends exactly where the removed checkpoint signed it, so nothing looked
    lost: but checkpoints.log holds a signed line for a checkpoint the catalogue lacks."""
    take(locker, photo(tmp_path / "in", "a.jpg", 1))
    with locker.engine.begin() as conn:
        removed = make_checkpoint(conn, locker.signing_key, locker.origin, "tester")
    events, checkpoints = schema.events.c, schema.checkpoints.c
    with locker.engine.begin() as conn:  # its checkpoint.made event is the log's last
        last = conn.execute(select(events.seq).order_by(events.seq.desc()).limit(1)).scalar_one()
        conn.execute(delete(schema.events).where(events.seq == last))
        conn.execute(delete(schema.checkpoints).where(checkpoints.id == removed.id))
        conn.execute(update(schema.log_head).values(size=schema.log_head.c.size - 1))
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert any(
        p.startswith(f"checkpoint {removed.id}: is signed in checkpoints.log line ")
        and p.endswith(
            "but missing from the catalogue, with the event that recorded it "
            "(restore the catalogue from a copy)"
        )
        for p in found
    ), found


def test_a_damaged_signing_key_fails_verify(locker: Locker, tmp_path: Path) -> None:
    """Monitoring reads `ok`: a key that no longer loads means nothing more can be recorded."""
    take(locker, photo(tmp_path / "in", "a.jpg", 1))
    key = locker.path / PRIVATE_KEY
    key.write_bytes(b"")
    report = verify(locker, quick=True)
    assert not report.ok
    [problem] = [p for p in report.problems if p.subject == str(PRIVATE_KEY)]
    assert "cannot be read, so nothing more can be signed" in problem.message
