"""Copies keep evidence safe only if they can be trusted: replicate, audit-copies, repair and
restore, tried as an adversary would break them (a deleted or flipped blob in a copy, an older
catalogue put back, a copy of another locker, a forged checkpoint, a full disk)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import LAYERS, Layer, docket_command, layer_facts, photo, take
from copies_help import (
    blob,
    copy_of,
    differences,
    events,
    filled,
    flip_byte,
    link_and_folder,
    older_catalogue_put_back,
    sqlite_only,
    verified,
)
from sqlalchemy import update

from docket.capture import wacz_signing
from docket.catalogue import schema
from docket.copies import transfer
from docket.copies.audit import audit
from docket.copies.destination import Folder
from docket.copies.repair import repair
from docket.copies.replicate import copy_locker, replicate
from docket.copies.restore import restore
from docket.custody import log
from docket.errors import CopyError
from docket.locker import Locker


def sha256_of(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def build_stocked(locker: Locker, folder: Path, _base: dict[str, Any]) -> dict[str, Any]:
    return {"stocked": filled(locker, folder, 1, 2)}


LAYERS["stocked"] = Layer(build_stocked, base="empty")


@pytest.fixture
def stocked(request: pytest.FixtureRequest, locker: Locker) -> tuple[Locker, list[str]]:
    """Two photos, in a copy of a locker built once with them (see conftest's `locker`)."""
    return locker, layer_facts(request, "stocked", {})["stocked"]


# replicate


def test_a_replica_is_a_locker_that_verify_passes(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    replica = copy_of(locker, tmp_path / "replica")
    assert verified(replica) == []
    assert all(blob(replica, sha256).stat().st_mode & 0o777 == 0o444 for sha256 in items)
    assert not (replica / "keys" / "signing.key").exists()
    assert (replica / "keys" / "signing.pub").read_text() == locker.public_key.hex() + "\n"
    facts = json.loads((replica / "replica.json").read_text())
    assert facts["source_locker_id"] == locker.locker_id and facts["tree_size"] > 0
    assert (replica / "checkpoints.log").read_bytes() == (
        locker.path / "checkpoints.log"
    ).read_bytes()
    [logged] = events(locker.path, "locker.replicated")
    assert logged["destination"] == str(replica) and logged["blobs_copied"] == logged["blobs_held"]


def test_replicating_again_moves_only_what_is_new(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, _ = stocked
    dest = Folder(tmp_path / "replica")
    first = replicate(locker, dest, "tester", private_key=False)
    again = replicate(locker, dest, "tester", private_key=False)
    assert first.blobs_copied == first.blobs_held > 0
    assert (again.blobs_copied, again.bytes_copied) == (0, 0)
    [new] = filled(locker, tmp_path, 3)
    third = replicate(locker, dest, "tester", private_key=False)
    assert 1 <= third.blobs_copied < first.blobs_copied  # the new photo and its derivatives
    assert blob(dest.root, new).is_file()
    assert third.tree_size > again.tree_size > first.tree_size
    assert verified(dest.root) == []
    assert differences(locker, dest.root) == []


def test_a_copy_holds_no_event_that_is_not_signed_but_its_checkpoints_record(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    with locker.engine.begin() as conn:  # an event after the newest checkpoint
        log.append(conn, "tester", "item.viewed", item=items[0])
    replica = copy_of(locker, tmp_path / "replica")
    with Locker.open(replica, writable=False) as opened, opened.engine.connect() as conn:
        logged = list(log.events(conn))
        [latest] = [e for e in logged if e.action == "checkpoint.made"][-1:]
    assert latest.seq == len(logged) - 1  # the last event records the checkpoint...
    assert latest.details["tree_size"] == latest.seq  # ...which signs every event before it


def test_the_private_key_is_copied_only_when_asked(locker: Locker, tmp_path: Path) -> None:
    replica = copy_of(locker, tmp_path / "replica", private_key=True)
    key = replica / "keys" / "signing.key"
    assert key.read_bytes() == (locker.path / "keys" / "signing.key").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600


def test_the_wacz_key_travels_public_half_always_private_half_when_asked(
    locker: Locker, tmp_path: Path
) -> None:
    made = wacz_signing.locker_key(locker.path, None)  # as a first web capture makes it
    public_only = copy_of(locker, tmp_path / "public")
    assert wacz_signing.published_key(public_only) == made.public
    assert not (public_only / wacz_signing.PRIVATE_FILE).exists()
    whole = copy_of(locker, tmp_path / "whole", private_key=True)
    private = whole / wacz_signing.PRIVATE_FILE
    assert private.read_bytes() == (locker.path / wacz_signing.PRIVATE_FILE).read_bytes()
    assert private.stat().st_mode & 0o777 == 0o600
    restore(whole, tmp_path / "restored", "tester")  # captures go on signing with the same key
    assert wacz_signing.locker_key(tmp_path / "restored", None).public == made.public


def test_a_copy_of_another_locker_is_not_written_to(locker: Locker, tmp_path: Path) -> None:
    other = Locker.create(tmp_path / "other", actor="tester")
    theirs = copy_of(other, tmp_path / "theirs")
    before = (theirs / "catalogue.sqlite").read_bytes()
    with pytest.raises(CopyError, match=r"theirs: a copy of another locker \("):
        copy_of(locker, theirs)
    assert (theirs / "catalogue.sqlite").read_bytes() == before


def test_a_folder_holding_other_files_is_refused(locker: Locker, tmp_path: Path) -> None:
    dest = tmp_path / "holiday-photos"
    dest.mkdir()
    (dest / "beach.jpg").write_bytes(b"not evidence")
    with pytest.raises(CopyError, match="holds files that are not a copy of this locker"):
        copy_of(locker, dest)
    assert os.listdir(dest) == ["beach.jpg"]


def test_a_destination_on_a_disk_not_mounted_is_refused(locker: Locker, cli: Any) -> None:
    dest = locker.path.parent / "media" / "usb" / "replica"
    result = cli("replicate", "--locker", locker.path, dest)
    assert result.code == 1
    assert result.err == f"docket: {dest.parent}: no such folder (is the disk mounted?)\n"
    assert not dest.parent.exists()


def test_a_file_in_place_of_the_destination_is_refused(locker: Locker, tmp_path: Path) -> None:
    dest = tmp_path / "notes.txt"
    dest.write_bytes(b"not a folder")
    with pytest.raises(CopyError, match=r"notes.txt: is a file, not a folder; not written to"):
        copy_of(locker, dest)
    assert dest.read_bytes() == b"not a folder"


def test_the_locker_itself_is_refused_as_a_destination(locker: Locker) -> None:
    with pytest.raises(CopyError, match="is this locker or inside it"):
        copy_of(locker, locker.path / "tmp" / "copy")


def test_a_flipped_byte_in_the_source_is_refused_by_name(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    flip_byte(blob(locker.path, items[0]))
    with pytest.raises(CopyError, match=f"blob {items[0]}: its bytes hash to"):
        copy_of(locker, tmp_path / "replica")
    assert not blob(tmp_path / "replica", items[0]).exists()
    assert not (tmp_path / "replica" / "catalogue.sqlite").exists()
    assert list((tmp_path / "replica" / "tmp").iterdir()) == []


def test_a_copy_stopped_between_batches_holds_only_whole_blobs_and_goes_on(
    stocked: tuple[Locker, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of two blobs: a damaged blob sorted last stops the copy after earlier batches
    were put in place; those are whole, nothing is left in tmp/, no catalogue is installed,
    and once the source is sound again the next run copies only the rest."""
    locker, _ = stocked
    monkeypatch.setattr(transfer, "BATCH_FILES", 2)
    monkeypatch.setattr(transfer, "WINDOW", 1)
    names = sorted(locker.store.digests())
    assert len(names) > 4  # two photos, their previews and other derivatives
    last = blob(locker.path, names[-1])
    sound = last.read_bytes()
    flip_byte(last)
    replica = tmp_path / "replica"
    with pytest.raises(CopyError, match=f"blob {names[-1]}: its bytes hash to"):
        copy_of(locker, replica)
    held = sorted(transfer.blob_names(replica / "objects"))
    assert names[-1] not in held and len(held) >= 2
    assert all(sha256_of(blob(replica, name)) == name for name in held)
    assert list((replica / "tmp").iterdir()) == []
    assert not (replica / "catalogue.sqlite").exists()
    last.chmod(0o644)
    last.write_bytes(sound)
    last.chmod(0o444)
    again = replicate(locker, Folder(replica), "tester", private_key=False)
    assert again.blobs_copied == len(names) - len(held)
    assert verified(replica) == []


def test_a_locker_that_lost_its_tail_is_not_copied_over_its_replica(
    locker: Locker, tmp_path: Path
) -> None:
    filled(locker, tmp_path, 1)
    with older_catalogue_put_back(locker, tmp_path):
        filled(locker, tmp_path, 2)
        replica = copy_of(locker, tmp_path / "replica")
        kept = (replica / "catalogue.sqlite").read_bytes()
    with pytest.raises(CopyError, match="the catalogue does not hold checkpoint 2 of"):
        copy_of(locker, replica)
    assert (replica / "catalogue.sqlite").read_bytes() == kept
    assert verified(replica) == []


def test_a_replica_whose_checkpoints_log_is_not_a_beginning_is_refused(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, _ = stocked
    replica = copy_of(locker, tmp_path / "replica")
    witness = replica / "checkpoints.log"
    lines = witness.read_bytes().splitlines(keepends=True)
    witness.write_bytes(b"".join(reversed(lines)))
    with pytest.raises(CopyError, match=r"replica/checkpoints.log: is not a beginning"):
        copy_of(locker, replica)


# audit-copies


def test_copies_that_agree_are_reported_so(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    locker, _ = stocked
    one = copy_of(locker, tmp_path / "one")
    two = copy_of(locker, tmp_path / "two")
    result = cli("audit-copies", "--locker", locker.path, "--deep", one, two)
    assert result.code == 0, result.out
    assert "copies agree" in result.out
    assert "one holds" in result.out  # behind by the replication event: a note, not a difference


def test_a_deleted_blob_in_a_copy_is_named(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    two = copy_of(locker, tmp_path / "two")
    blob(two, items[1]).unlink()
    result = cli("audit-copies", "--locker", locker.path, "--json", one, two)
    assert result.code == 1
    found = result.json()["differences"]
    assert found == [
        {"subject": f"{two}: blob {items[1]}", "message": f"missing (held by {locker.path}, {one})"}
    ]


def test_a_flipped_byte_in_a_copy_is_named_by_a_deep_audit(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    flip_byte(blob(one, items[0]))
    [found] = differences(locker, one, deep=True)
    assert found.startswith(f"{one}: blob {items[0]}: damaged: its bytes hash to ")
    # the same size: without --deep only a sample is re-hashed; a sample of none sees nothing
    assert [str(p) for p in audit(locker.path, [one], deep=False, sample=0).problems] == []


def test_a_copy_blob_that_is_a_dangling_link_or_a_folder_is_named_on_a_line(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    """audit-copies ended in a traceback on a copy whose blob was a dangling link or a
    folder; each is now a difference of its own, and the command says so in lines."""
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    link_and_folder(one, items)
    found = differences(locker, one, deep=True)
    assert f"{one}: blob {items[0]}: cannot be read (No such file or directory)" in found, found
    assert any(f.startswith(f"{one}: blob {items[1]}: ") for f in found), found
    result = cli("audit-copies", "--locker", locker.path, one, "--deep")
    assert result.code == 1 and "Traceback" not in result.err, result.err


def test_a_truncated_blob_is_named_by_its_size_without_deep(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    target = blob(one, items[0])
    target.chmod(0o644)
    with target.open("r+b") as handle:
        handle.truncate(10)
    found = [str(p) for p in audit(locker.path, [one], deep=False, sample=0).problems]
    assert len(found) == 1 and found[0].startswith(f"{one}: blob {items[0]}: 10 bytes; ")


def test_an_older_catalogue_put_back_in_a_copy_is_named(locker: Locker, tmp_path: Path) -> None:
    filled(locker, tmp_path, 1)
    one = copy_of(locker, tmp_path / "one")
    saved = tmp_path / "saved.sqlite"
    shutil.copyfile(one / "catalogue.sqlite", saved)
    filled(locker, tmp_path, 2)
    copy_of(locker, one)
    shutil.copyfile(saved, one / "catalogue.sqlite")
    found = differences(locker, one)
    assert f"{one}: its catalogue does not hold checkpoint 2 of its checkpoints.log" in "\n".join(
        found
    )


def test_a_locker_put_back_whole_from_yesterday_is_named_by_its_copy(
    locker: Locker, tmp_path: Path
) -> None:
    """Catalogue and checkpoints.log both put back from an earlier backup: verify has nothing
    to compare them with, but the copy made since holds the lost events, and a locker behind
    its own copy is a difference, not a copy "behind"."""
    filled(locker, tmp_path, 1)
    sqlite_only(locker)
    locker.close()
    saved = {
        name: (locker.path / name).read_bytes() for name in ("catalogue.sqlite", "checkpoints.log")
    }
    [lost] = filled(locker, tmp_path, 2)
    one = copy_of(locker, tmp_path / "one")
    locker.close()
    for suffix in ("-wal", "-shm"):
        (locker.path / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    for name, data in saved.items():
        (locker.path / name).write_bytes(data)
    found = differences(locker, one)
    assert len(found) == 1, found
    assert found[0].startswith(f"{locker.path}: holds ") and f"its copy {one} holds" in found[0]
    assert repair(locker.path, one, "tester").catalogue is not None
    with Locker.open(locker.path, writable=False) as opened, opened.engine.connect() as conn:
        assert lost in {e.item for e in log.events(conn)}
    assert differences(locker, one) == []


def test_a_copy_of_another_locker_is_named(locker: Locker, tmp_path: Path) -> None:
    other = Locker.create(tmp_path / "other", actor="tester")
    theirs = copy_of(other, tmp_path / "theirs")
    [found] = differences(locker, theirs)
    assert found == f"{theirs}: a copy of another locker ({other.locker_id}); skipped"


def test_a_forged_checkpoint_in_a_copy_is_named(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, _ = stocked
    one = copy_of(locker, tmp_path / "one")
    with sqlite3.connect(one / "catalogue.sqlite") as conn:
        conn.execute("UPDATE checkpoints SET root_hash = ? WHERE id = 2", ("ab" * 32,))
    conn.close()
    found = differences(locker, one)
    assert f"{one}: checkpoint 2: signature does not verify (forged or altered)" in found


def test_a_forged_line_in_a_copys_checkpoints_log_is_named(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, _ = stocked
    one = copy_of(locker, tmp_path / "one")
    lines = (one / "checkpoints.log").read_text().splitlines(keepends=True)
    facts = json.loads(lines[-1])
    facts["tree_size"] += 5  # claims events that were never signed
    lines[-1] = json.dumps(facts, sort_keys=True, separators=(",", ":")) + "\n"
    (one / "checkpoints.log").write_text("".join(lines))
    assert differences(locker, one) == [
        f"{one}: checkpoints.log line {len(lines)}: signature does not verify (forged or altered)",
        f"{one} and {locker.path}: {locker.path}'s checkpoints.log is not the beginning of {one}'s",
    ]


def test_a_copy_whose_log_diverged_is_named(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, _ = stocked
    one = copy_of(locker, tmp_path / "one")
    with Locker.open(one) as opened, opened.engine.begin() as conn:  # an event of its own
        log.append(conn, "intruder", "item.viewed")
        size = log.size(conn)
    found = "\n".join(differences(locker, one))
    assert f"{locker.path} and {one}: their custody logs diverge from event {size - 1}" in found


def test_a_copy_that_cannot_be_read_is_named_in_one_line(locker: Locker, cli: Any) -> None:
    result = cli("audit-copies", "--locker", locker.path, locker.path.parent / "nowhere")
    assert result.code == 1 and "Traceback" not in result.err
    assert "nowhere: cannot be read as a copy (" in result.out


# repair


def test_a_deleted_and_a_flipped_blob_are_repaired_from_a_copy(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    blob(locker.path, items[0]).unlink()
    flip_byte(blob(locker.path, items[1]))
    assert verified(locker.path) != []
    result = cli("repair", "--locker", locker.path, "--from", one)
    assert result.code == 0, result.err
    assert f"restored  blob {items[0]}" in result.out
    assert f"replaced  blob {items[1]} (was damaged)" in result.out
    assert verified(locker.path) == []
    [logged] = events(locker.path, "locker.repaired")
    assert logged["blobs_restored"] == [items[0]] and logged["blobs_replaced"] == [items[1]]
    assert blob(locker.path, items[1]).stat().st_mode & 0o777 == 0o444


def test_a_blob_replaced_by_a_link_or_a_folder_is_never_called_restored(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    """A dangling link in a blob's place is not the blob: repair puts the blob there (the link
    is no original). A folder there is refused on a line, and nothing is logged as restored."""
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    linked, folder = link_and_folder(locker.path, items)
    result = cli("repair", "--locker", locker.path, "--from", one)
    assert result.code == 1 and "Traceback" not in result.err
    assert f"{items[1]}" in result.out and "is not a file (mode d" in result.out, result.out
    [logged] = events(locker.path, "locker.repaired")
    assert logged["blobs_restored"] == [items[0]] and logged["unrepaired"] == [items[1]]
    assert not linked.is_symlink() and folder.is_dir()
    folder.rmdir()
    result = cli("repair", "--locker", locker.path, "--from", one)
    assert result.code == 0, result.out + result.err
    assert not linked.is_symlink() and linked.stat().st_mode & 0o777 == 0o444
    assert verified(locker.path) == []


def test_a_lost_catalogue_tail_is_repaired_from_a_copy(locker: Locker, tmp_path: Path) -> None:
    filled(locker, tmp_path, 1)
    with older_catalogue_put_back(locker, tmp_path):
        [lost] = filled(locker, tmp_path, 2)
        one = copy_of(locker, tmp_path / "one")
    assert any("are missing" in p for p in verified(locker.path))
    done = repair(locker.path, one, "tester")
    assert done.catalogue is not None and done.catalogue[1] > done.catalogue[0]
    assert verified(locker.path) == []
    with Locker.open(locker.path, writable=False) as opened, opened.engine.connect() as conn:
        assert lost in {e.item for e in log.events(conn)}


def test_a_missing_catalogue_is_repaired_from_a_copy(locker: Locker, tmp_path: Path) -> None:
    sqlite_only(locker)
    filled(locker, tmp_path, 1)
    one = copy_of(locker, tmp_path / "one")
    locker.close()
    for name in ("catalogue.sqlite", "catalogue.sqlite-wal", "catalogue.sqlite-shm"):
        (locker.path / name).unlink(missing_ok=True)
    done = repair(locker.path, one, "tester")
    assert done.catalogue is not None and done.catalogue[0] == 0
    assert verified(locker.path) == []


def test_a_copy_is_repaired_from_its_locker_without_an_event_of_its_own(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    flip_byte(blob(one, items[0]))
    blob(one, items[1]).unlink()
    before = events(one, "locker.repaired")
    done = repair(one, locker.path, "tester")
    assert (done.replaced, done.restored, done.event) == ([items[0]], [items[1]], None)
    assert events(one, "locker.repaired") == before == []
    assert verified(one) == [] and differences(locker, one) == []
    copy_of(locker, one)  # its log is still the beginning of its locker's


def test_replicating_again_brings_back_a_blob_deleted_from_the_copy(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    blob(one, items[0]).unlink()
    again = replicate(locker, Folder(one), "tester", private_key=False)
    assert again.blobs_copied == 1 and blob(one, items[0]).is_file()


def test_replicating_again_replaces_a_link_in_a_blobs_place_and_names_a_folder(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    """A copy's blob swapped for a dangling link was counted held, and the copy stayed broken:
    the link is now replaced by the blob; a folder there stops the run on one line."""
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    linked, folder = link_and_folder(one, items)
    result = cli("replicate", "--locker", locker.path, one)
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert f"blob {items[1]}" in result.out + result.err and "is not a file" in result.err
    folder.rmdir()
    again = replicate(locker, Folder(one), "tester", private_key=False)
    assert again.blobs_copied >= 1 and not linked.is_symlink() and linked.is_file()
    assert differences(locker, one) == []


def test_repair_refuses_a_copy_of_another_locker(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    locker, items = stocked
    other = Locker.create(tmp_path / "other", actor="tester")
    theirs = copy_of(other, tmp_path / "theirs")
    blob(locker.path, items[0]).unlink()
    result = cli("repair", "--locker", locker.path, "--from", theirs)
    assert result.code == 1
    assert (
        result.err == f"docket: {theirs}: a copy of another locker ({other.locker_id}); "
        "nothing repaired\n"
    )


def test_repair_refuses_a_copy_with_a_forged_log(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    """A copy whose events were rewritten (and its checkpoints re-made with a stolen key would
    still not match what this locker signed in checkpoints.log)."""
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one")
    with Locker.open(one) as opened, opened.engine.begin() as conn:
        conn.execute(
            update(schema.events).where(schema.events.c.seq == 3).values(leaf_hash="00" * 32)
        )
    blob(locker.path, items[0]).unlink()
    with pytest.raises(CopyError, match=r"forged or altered|an inconsistent copy"):
        repair(locker.path, one, "tester")
    assert not blob(locker.path, items[0]).exists()


def test_repair_refuses_a_copy_behind_a_lost_tail(locker: Locker, tmp_path: Path) -> None:
    filled(locker, tmp_path, 1)
    old = copy_of(locker, tmp_path / "old")
    with older_catalogue_put_back(locker, tmp_path):
        filled(locker, tmp_path, 2)
    with pytest.raises(CopyError, match="the copy is behind and cannot restore"):
        repair(locker.path, old, "tester")


def test_repair_with_nothing_to_repair_logs_nothing(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    locker, _ = stocked
    one = copy_of(locker, tmp_path / "one")
    result = cli("repair", "--locker", locker.path, "--from", one)
    assert result.code == 0 and f"nothing to repair from {one}" in result.out
    assert events(locker.path, "locker.repaired") == []


# restore


def test_a_whole_locker_is_restored_from_a_copy(
    stocked: tuple[Locker, list[str]], tmp_path: Path, cli: Any
) -> None:
    locker, items = stocked
    one = copy_of(locker, tmp_path / "one", private_key=True)
    result = cli("restore", one, tmp_path / "back")
    assert result.code == 0, result.err
    back = tmp_path / "back"
    assert verified(back) == []
    assert all(blob(back, sha256).is_file() for sha256 in items)
    assert (back / "keys" / "signing.key").stat().st_mode & 0o777 == 0o600
    assert not (back / "replica.json").exists()
    [logged] = events(back, "locker.restored")
    assert logged["from"] == str(one)
    assert [str(p) for p in audit(back, [one], deep=True).problems] == []


def test_restore_refuses_a_folder_that_is_not_empty(locker: Locker, tmp_path: Path) -> None:
    one = copy_of(locker, tmp_path / "one")
    with pytest.raises(CopyError, match="is not an empty folder"):
        restore(one, locker.path, "tester")


# a full disk


def test_replicate_to_a_full_disk_is_one_line_and_the_replica_not_worse(
    small_disk: Path, tmp_path: Path, cli: Any
) -> None:
    with Locker.create(tmp_path / "locker", actor="tester") as locker:
        filled(locker, tmp_path, 1)
        replica = copy_of(locker, small_disk / "replica")
        big = tmp_path / "big" / "card-dump.bin"
        big.parent.mkdir()
        big.write_bytes(os.urandom(8 << 20))  # more than the whole disk
        take(locker, big)
    result = cli("replicate", "--locker", tmp_path / "locker", replica)
    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert line == f"docket: {replica}: disk full while writing blobs (No space left on device)"
    assert verified(replica) == []
    assert list((replica / "tmp").iterdir()) == []


def test_copy_locker_reads_a_copy_without_writing_to_it(
    stocked: tuple[Locker, list[str]], tmp_path: Path
) -> None:
    locker, _ = stocked
    one = copy_of(locker, tmp_path / "one")
    before = {p: p.stat().st_mtime_ns for p in one.rglob("*") if p.is_file()}
    with Locker(one, json.loads((one / "docket.json").read_text()), writable=False) as source:
        copy_locker(source, Folder(tmp_path / "two"), private_key=False)
    after = {p: p.stat().st_mtime_ns for p in one.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if not p.name.startswith("catalogue.sqlite-")} == {
        p: t for p, t in before.items() if not p.name.startswith("catalogue.sqlite-")
    }
    assert verified(tmp_path / "two") == []


def test_a_locker_restored_without_its_key_records_nothing_until_the_key_is_back(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """Found by hand: evidence ingested into a key-less restored locker had no signed
    checkpoint, so putting yesterday's catalogue back lost it and `verify` said no problems."""
    filled(locker, tmp_path, 1)
    back = tmp_path / "back"
    restore(copy_of(locker, tmp_path / "copy"), back, "tester")
    with Locker.open(back) as opened, opened.engine.connect() as conn:
        before = log.size(conn)
    new_photo = photo(tmp_path / "in-new", "new.jpg", 7)
    result = cli("ingest", "--locker", back, new_photo)
    assert result.code == 1
    assert result.err.strip() == (
        f"docket: {back / 'keys' / 'signing.key'}: cannot read the locker's signing key "
        "(No such file or directory)"
    )
    with Locker.open(back) as opened, opened.engine.connect() as conn:
        assert log.size(conn) == before
    assert sorted(p.name for p in (back / "objects").rglob("*") if p.is_file()) == sorted(
        p.name for p in (locker.path / "objects").rglob("*") if p.is_file()
    )
    shutil.copy2(locker.path / "keys" / "signing.key", back / "keys" / "signing.key")
    assert cli("ingest", "--locker", back, new_photo).code == 0
    assert verified(back) == []


def test_a_server_catalogues_url_in_the_environment_never_opens_a_copy(
    stocked: tuple[Locker, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKET_DATABASE_URL names the live locker's PostgreSQL catalogue; a copy holds its own
    SQLite one, which audit, repair and restore read while the variable stays set."""
    locker, items = stocked
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the variable names a server catalogue")
    monkeypatch.setenv("DOCKET_DATABASE_URL", locker.engine.url.render_as_string(False))
    replica = copy_of(locker, tmp_path / "replica")
    assert differences(locker, replica) == []
    flip_byte(blob(locker.path, items[0]))
    assert repair(locker.path, replica, "tester").replaced == [items[0]]
    restore(replica, tmp_path / "restored", "tester")
    monkeypatch.delenv("DOCKET_DATABASE_URL")
    assert verified(tmp_path / "restored") == []


def _run(*args: Any) -> Any:
    """The CLI in a process of its own, stopped if it hangs (what this test is about)."""
    return subprocess.run(
        [*docket_command(), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def _put_in_place(blob: Path, what: str) -> None:
    blob.chmod(0o644)
    blob.unlink()
    if what == "fifo":
        os.mkfifo(blob)
    else:
        blob.symlink_to("/dev/zero")


@pytest.mark.parametrize("backend", ["sqlite"])  # the store's files, not the catalogue
def test_a_fifo_or_a_link_in_a_blob_s_place_is_named_never_waited_on(
    locker: Locker, tmp_path: Path
) -> None:
    """A FIFO in a blob's place hung replicate, audit-copies and restore (open waits for a
    writer); a link to /dev/zero made replicate fill the copy's disk with zeros."""
    summary = take(locker, photo(tmp_path / "in", "a.jpg", 1), photo(tmp_path / "in", "b.jpg", 2))
    fifo, link = (o.sha256 or "" for o in summary.outcomes)
    copy = tmp_path / "copy"
    assert _run("replicate", "--locker", locker.path, copy).returncode == 0
    locker.close()
    _put_in_place(locker.store.path(fifo), "fifo")
    _put_in_place(locker.store.path(link), "link")
    again = _run("replicate", "--locker", locker.path, tmp_path / "copy2")
    assert again.returncode == 1 and len(again.stderr.splitlines()) == 1, again.stderr
    assert "cannot be read (a " in again.stderr and "not copied" in again.stderr
    assert sum(f.stat().st_size for f in (tmp_path / "copy2").rglob("*") if f.is_file()) < 1 << 24
    audited = _run("audit-copies", "--locker", locker.path, copy)
    assert audited.returncode == 1
    assert f"{fifo}: cannot be read (a named pipe (FIFO), not a regular file)" in audited.stdout
    assert f"{link}: cannot be read (a symbolic link, not a regular file)" in audited.stdout
    exported = _run(
        "export", "--locker", locker.path, link, "--profile", "court", "-o", tmp_path / "p"
    )
    assert exported.returncode == 1 and len(exported.stderr.splitlines()) == 1, exported.stderr
    assert exported.stderr.startswith("docket: ") and link[2:] in exported.stderr
    _put_in_place(copy / "objects" / fifo[:2] / fifo[2:], "fifo")  # a copy damaged the same way
    restored = _run("restore", copy, tmp_path / "restored")
    assert restored.returncode == 1 and len(restored.stderr.splitlines()) == 1, restored.stderr
    assert f"blob {fifo}: cannot be read (a named pipe (FIFO)" in restored.stderr


@pytest.mark.parametrize("backend", ["sqlite"])  # the store's files, not the catalogue
def test_a_link_to_the_same_bytes_in_a_blob_s_place_is_one_line_for_every_command(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """A link to an identical file passes the store's `has`: export then met it at open,
    which ended in a traceback; it is a DocketError naming the blob's path."""
    item = take(locker, photo(tmp_path / "in", "a.jpg", 3)).outcomes[0].sha256 or ""
    blob = locker.store.path(item)
    twin = tmp_path / "twin"
    shutil.copyfile(blob, twin)
    blob.chmod(0o644)
    blob.unlink()
    blob.symlink_to(twin)
    exported = cli(
        "export", "--locker", locker.path, item, "--profile", "court", "-o", tmp_path / "p"
    )
    assert exported.code == 1 and "Traceback" not in exported.err
    assert exported.err.strip() == f"docket: {blob}: a symbolic link, not a regular file"
