"""Checks of what surrounds the custody log, for `verify` (verify.py reports them).

- catalogue integrity: the database's own check (SQLite's `PRAGMA integrity_check`), so a
  damaged index or page is named instead of silently dropping rows from a query.
- checkpoints file: the catalogue's log still holds the newest checkpoint the locker ever
  signed (checkpoints.log, see custody/witness.py), so a catalogue that lost its tail is found.
- keys: the private key is readable by its owner only, and matches keys/signing.pub; in a
  vault, no kept browser profile (a secret like a key: the investigator's sessions) is a
  plain folder under profiles/ (capture/profiles.py), and each sealed one opens.
- blob permissions: blobs are read-only, as the store made them (a vault converted from a
  bucket locker: the plain objects its bucket still holds under lock are named in a note).
- WACZ signatures: each capture's WACZ is signed by the WACZ key its custody event names.
- for a locked vault (no key): the signatures of checkpoints.log, and each encrypted blob's
  file read-only and of a size a sealed blob can have.

Each returns an Outcome: passed (True, False, or None for "not checked"), a detail line,
the problems found with their subject, and notes that are not problems.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from docket.capture import profiles, wacz_signing
from docket.catalogue import schema
from docket.custody import acknowledged, merkle, witness
from docket.custody.checkpoint import public_key_of
from docket.custody.events import event_from_row
from docket.custody.keys import load
from docket.custody.ledger import StoredCheckpoint
from docket.errors import DocketError, ObjectStoreError
from docket.locker import PRIVATE_KEY, PUBLIC_KEY, Locker
from docket.store import BlobStore, VaultS3Store, sealed_without_key
from docket.vault import envelope
from docket.vault import profiles as sealed_profiles


@dataclass
class Outcome:
    passed: bool | None
    detail: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tail_lost: bool = False

    def failed(self, subject: str, message: str) -> None:
        self.passed = False
        self.problems.append((subject, message))


def catalogue_integrity(conn: Connection) -> Outcome:
    """SQLite's own integrity check of every page and index; PostgreSQL is not checked here
    (its amcheck extension needs rights a locker's role should not have)."""
    if conn.dialect.name != "sqlite":
        return Outcome(None, f"{conn.dialect.name}: use the server's own tools (amcheck)")
    outcome = Outcome(True, "SQLite integrity_check: ok")
    try:
        rows = [str(row[0]) for row in conn.execute(text("PRAGMA integrity_check"))]
    except DBAPIError as exc:  # too damaged for the check to walk it
        rows = [str(exc.orig)]
    if rows != ["ok"]:
        for row in rows:
            outcome.failed("catalogue", f"damaged: {row}")
        outcome.detail = f"SQLite integrity_check: {len(rows)} finding(s)"
    return outcome


def acknowledged_file(locker: Locker, leaves: list[bytes]) -> Outcome:
    """Every arrival acknowledged.log says was reported as stored, and no checkpoint covers
    yet, is in the catalogue's log (custody/acknowledged.py)."""
    path = locker.path / acknowledged.FILE_NAME
    held = acknowledged.entries(path)
    outcome = Outcome(True, f"{len(held)} arrival(s) since the last checkpoint, all in the log")
    for message in acknowledged.missing(path, leaves):
        outcome.failed(
            acknowledged.FILE_NAME,
            f"{message}: the catalogue lost records after its last checkpoint (a lost WAL "
            "file, an older copy put back); their files are still in the store: restore the "
            "catalogue from a copy, and do not run `docket gc --delete`",
        )
    if not outcome.passed:
        outcome.tail_lost = True
        outcome.detail = f"{len(outcome.problems)} acknowledged arrival(s) missing"
    return outcome


def checkpoints_file(
    locker: Locker,
    leaves: list[bytes],
    stored: list[StoredCheckpoint],
    witnessed: AbstractSet[int] = frozenset(),
) -> Outcome:
    """The newest checkpoint in checkpoints.log is a prefix of the catalogue's log (size and
    root), every line is signed by the locker's key, and no catalogue checkpoint with the same
    id says otherwise."""
    path = locker.path / witness.FILE_NAME
    outcome = Outcome(True, "")
    if not path.is_file():
        outcome.failed(
            witness.FILE_NAME,
            "missing: the catalogue's tail cannot be checked (restore it from a copy; a "
            "locker made before docket kept it starts one at its next `docket checkpoint`)",
        )
        outcome.detail = "no checkpoints file"
        return outcome
    found = witness.read(path, locker.origin, locker.public_key)
    for subject, message in found.problems:
        outcome.failed(subject, message)
    if found.torn:
        outcome.notes.append(
            f"{witness.FILE_NAME} ends in a line cut short (a crash while it was appended); "
            "it was ignored"
        )
    by_id = {cp.id: cp.checkpoint for cp in stored}
    for entry in found.entries:
        mine = by_id.get(entry.id)
        if mine is None:  # a line is appended only once its checkpoint is stored
            outcome.failed(
                f"checkpoint {entry.id}",
                f"is signed in {witness.FILE_NAME} line {entry.line} but missing from the "
                "catalogue, with the event that recorded it (restore the catalogue from a copy)",
            )
        elif (mine.tree_size, mine.root) != (
            entry.checkpoint.tree_size,
            entry.checkpoint.root,
        ):
            outcome.failed(
                f"checkpoint {entry.id}",
                f"differs from the one signed in {witness.FILE_NAME} line {entry.line}",
            )
    # Each checkpoint is appended once it is stored: only the newest may be missing (the
    # process stopped in between). Of a locker made before docket kept the file, those older
    # than its first line are missing too, unless their event says they went to the file
    # (`witnessed`: ids whose checkpoint.made event says so). Any other missing means lines
    # were cut from the file: an emptied file, or one cut from its beginning, put back with an
    # older catalogue, would otherwise pass as a locker never checked.
    in_file = {entry.id for entry in found.entries}
    first = min(in_file, default=None)
    newest = max((cp.id for cp in stored), default=None)
    for cp in stored:
        owed = cp.id in witnessed or first is None or cp.id > first
        if cp.id not in in_file and cp.id != newest and owed:
            outcome.failed(
                f"checkpoint {cp.id}",
                f"is in the catalogue but not in {witness.FILE_NAME}, where it was appended: "
                "lines were cut from it (restore it from a copy)",
            )
    latest = found.latest
    if latest is None:
        outcome.detail = "no checkpoint in the file yet"
        return outcome
    size, events = latest.checkpoint.tree_size, len(leaves)
    if size > events:
        outcome.tail_lost = True
        outcome.failed(
            "catalogue",
            f"the catalogue ends at event {events - 1}; checkpoint {latest.id} signed {size} "
            f"events; events {events}..{size - 1} are missing (restore the catalogue from a "
            "copy)",
        )
    elif merkle.root(leaves[:size]) != latest.checkpoint.root:
        outcome.tail_lost = True
        outcome.failed(
            "catalogue",
            f"its first {size} events are not those checkpoint {latest.id} signed "
            f"({witness.FILE_NAME} line {latest.line}): changed or replaced",
        )
    for cp in stored:
        if cp.id not in in_file and cp.checkpoint.tree_size > size:
            outcome.notes.append(
                f"checkpoint {cp.id} is not in {witness.FILE_NAME} (the process stopped "
                "between storing and appending it); the next checkpoint is appended as usual"
            )
    outcome.detail = (
        f"{len(found.entries)} signed checkpoints; the newest (size {size}) "
        f"{'is not' if outcome.tail_lost else 'is'} in the catalogue's log"
    )
    return outcome


def keys(locker: Locker) -> Outcome:
    """The private key is its owner's alone (mode 0600) and matches the public key kept; a
    vault keeps no browser profile in the clear."""
    outcome = Outcome(True, "")
    if locker.is_vault:
        _vault_profiles(locker, outcome)
    private = locker.path / PRIVATE_KEY
    try:
        mode = private.stat().st_mode
    except FileNotFoundError:
        outcome.detail = "no private key here (verifying needs only the public key)"
        return outcome
    if mode & 0o077:
        outcome.failed(
            str(PRIVATE_KEY),
            f"readable or writable by others (mode {stat.S_IMODE(mode):04o}); run "
            f"`chmod 600 {private}` and consider the key exposed",
        )
    if locker.locked:
        outcome.notes.append(
            f"the vault is locked: {PRIVATE_KEY} (sealed) was not compared with {PUBLIC_KEY}"
        )
    elif (locker.path / PUBLIC_KEY).is_file():
        try:
            derived = public_key_of(load(private, locker.vault_key))
        except DocketError as exc:  # damaged: no more evidence can be recorded or signed
            outcome.failed(
                str(PRIVATE_KEY),
                f"cannot be read, so nothing more can be signed ({exc}); restore it from a "
                "copy made with --include-private-key",
            )
        else:
            if derived != locker.public_key:
                outcome.failed(str(PUBLIC_KEY), f"is not the public half of {PRIVATE_KEY}")
    outcome.detail = f"{PRIVATE_KEY} mode {stat.S_IMODE(mode):04o}"
    return outcome


def _vault_profiles(locker: Locker, outcome: Outcome) -> None:
    """Each plain profile folder in a vault's profiles/ (made before it was a vault, or put
    there by hand): its cookies are readable without the key; and, with the key, each sealed
    profile that does not open (vault/profiles.py)."""
    for name in profiles.kept(locker.path):
        outcome.failed(
            f"{profiles.FOLDER}/{name}",
            "a browser profile in the clear in a vault (its cookies and sessions are readable "
            f"without the key); the next capture with --profile {name} seals it",
        )
    if locker.vault_key is not None:
        for subject, problem in sealed_profiles.damaged(locker.path, locker.vault_key):
            outcome.failed(subject, f"a sealed browser profile: {problem}")


def key_slots(locker: Locker, conn: Connection | None) -> Outcome:
    """A vault's keys/vault.json: whole, with an intact slot, its key check fitting the key
    (docket.vault.slots.problems); and, with the catalogue, every slot's arrival and departure
    in the custody log. A slot change and its event are two writes: a change killed between
    them leaves a slot no event explains, which is named (as a note: a person must decide
    whether someone here added it) rather than silently accepted."""
    from docket.vault import slot_events, slot_file, slots

    outcome = Outcome(True, "")
    for problem in slots.problems(locker.path, locker.locker_id, locker.vault_key):
        outcome.failed(str(slot_file.NAME), problem)
    if not outcome.passed or conn is None:
        outcome.detail = "checked" if outcome.passed else "damaged"
        return outcome
    held = slots.list_slots(locker.path, locker.locker_id)
    made = _vault_made(conn)
    logged: set[int] = set()
    gone: set[int] = set()
    for action, details in _slot_events(conn, slot_events):
        slot = details.get("slot")
        if action == slot_events.REMOVED and isinstance(slot, int):
            gone.add(slot)
        elif isinstance(slot, int):
            logged.add(slot)
            if action == slot_events.CHANGED and isinstance(details.get("replaced"), int):
                gone.add(int(details["replaced"]))
    for slot in held:
        if slot.damage is None and slot.id not in logged and (made is None or slot.created > made):
            outcome.notes.append(
                f"{slot_file.NAME}: slot {slot.id} ({slot.kind}) has no custody event: a "
                "slot change was interrupted, or made outside docket; see `docket vault slots` "
                "and remove it if no one here added it"
            )
    present = {slot.id for slot in held}
    for slot_id in sorted(logged - gone - present):
        outcome.notes.append(
            f"{slot_file.NAME}: slot {slot_id} is logged as added but is not in the file, "
            "and no removal is logged (a removal was interrupted, or made outside docket)"
        )
    outcome.detail = f"{len(held)} slot(s), each accounted for in the custody log"
    if outcome.notes:
        outcome.detail = f"{len(held)} slot(s); see the notes"
    return outcome


def _vault_made(conn: Connection) -> str | None:
    """When the vault was made (its locker's creation, or its conversion): slots made then
    have no event of their own."""
    found = conn.execute(
        text(
            "SELECT time FROM events WHERE action IN ('vault.converted', 'locker.created') "
            "ORDER BY seq DESC LIMIT 1"
        )
    ).scalar()
    return None if found is None else str(found)


def _slot_events(conn: Connection, slot_events: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute(
        text("SELECT action, details FROM events WHERE action IN (:a, :r, :c) ORDER BY seq"),
        {"a": slot_events.ADDED, "r": slot_events.REMOVED, "c": slot_events.CHANGED},
    ).all()
    return [(str(action), json.loads(details)) for action, details in rows]


def blob_permissions(store: BlobStore) -> Outcome:
    """Every blob is protected from change: read-only in a folder, locked in a bucket."""
    outcome = Outcome(True, "")
    count = 0
    try:
        for name, problem in store.protection():
            count += 1
            if problem is not None:
                outcome.failed(f"blob {name[:16]}", problem)
        if isinstance(store, VaultS3Store) and (left := store.plain_left()):
            until = max(left.values())
            outcome.notes.append(
                f"{len(left)} plain objects left under retention in the bucket by the "
                f"conversion to a vault (S3 Object Lock keeps them until {until:%Y-%m-%d %H:%M} "
                "UTC at the latest); `docket vault convert` run after then removes them"
            )
    except ObjectStoreError as exc:
        outcome.failed("store", f"could not be checked: {exc}")
    outcome.detail = f"{count} blobs {store.protected_as}" if outcome.passed else f"{count} blobs"
    return outcome


def signed_checkpoints(locker: Locker) -> Outcome:
    """Without the catalogue (a locked vault): every line of checkpoints.log is signed by the
    locker's public key for its origin."""
    path = locker.path / witness.FILE_NAME
    if not path.is_file():
        outcome = Outcome(False, "no checkpoints file")
        outcome.failed(witness.FILE_NAME, "missing (restore it from a copy)")
        return outcome
    found = witness.read(path, locker.origin, locker.public_key)
    outcome = Outcome(True, "")
    for subject, message in found.problems:
        outcome.failed(subject, message)
    if found.torn:
        outcome.notes.append(
            f"{witness.FILE_NAME} ends in a line cut short (a crash while it was appended); "
            "it was ignored"
        )
    latest = found.latest
    outcome.detail = (
        f"{len(found.entries)} checkpoints signed by keys/signing.pub"
        + ("" if latest is None else f" (the newest: size {latest.checkpoint.tree_size})")
        + "; not compared with the locked catalogue"
    )
    return outcome


def sealed_files(locker: Locker) -> Outcome:
    """Without the key (a locked vault): every sealed file under objects/, or object in the
    bucket, is protected (read-only, or locked) and of a size a sealed blob can have; its
    header and content need the key (docket.store.sealed_without_key)."""
    outcome = Outcome(True, "")
    count = 0
    try:
        for subject, problem in sealed_without_key(locker.path, locker.config):
            count += 1
            if problem is not None:
                outcome.failed(subject, problem)
    except ObjectStoreError as exc:
        outcome.failed("store", f"could not be checked: {exc}")
    outcome.detail = f"{count} encrypted blob files (headers and contents need the key)"
    return outcome


def wacz_signatures(locker: Locker, conn: Connection) -> Outcome:
    """Every capture's WACZ is signed (capture/wacz_signing.py) by the key its `capture.made`
    event names, which is the one keys/wacz-signing.pub publishes (when the folder has it: a
    copy may not); a WACZ made before WACZ signing (its event names no key) is counted in a
    note. The private key is its owner's alone, and sealed in a vault."""
    outcome = Outcome(True, "")
    _wacz_key_file(locker, outcome)
    published = wacz_signing.published_key(locker.path)
    query = select(schema.events).where(schema.events.c.action == "capture.made")
    signed = unsigned = 0
    for row in conn.execute(query.order_by(schema.events.c.seq)).mappings():
        details = event_from_row(row).details
        key = details.get("wacz_public_key")
        parts = [p for p in details.get("parts", []) if p.get("kind") == "wacz"]
        if key is None or not parts:
            unsigned += 1
            continue
        sha256 = str(parts[0]["sha256"])
        label = f"WACZ {sha256[:16]} (event {row['seq']})"
        if published is not None and key != published:
            outcome.failed(str(wacz_signing.PUBLIC_FILE), f"{label}: its key is not this file's")
        try:
            with locker.store.plain_file(sha256) as path:
                wacz_signing.check(path, label, key)
        except (DocketError, OSError) as exc:
            outcome.failed(label, str(exc).removeprefix(f"{label}: "))
            continue
        signed += 1
    outcome.detail = f"{signed} WACZ signatures checked"
    if unsigned:
        outcome.notes.append(f"{unsigned} WACZ made before WACZ signing carry no signature")
    if signed and published is None:
        outcome.notes.append(
            f"no {wacz_signing.PUBLIC_FILE} here (a copy?): WACZ signatures were checked "
            "against the keys the custody log names"
        )
    return outcome


def _wacz_key_file(locker: Locker, outcome: Outcome) -> None:
    private = locker.path / wacz_signing.PRIVATE_FILE
    try:
        mode = private.stat().st_mode
        clear = locker.is_vault and not envelope.is_sealed(private.read_bytes()[:8])
    except FileNotFoundError:
        return
    if mode & 0o077:
        outcome.failed(
            str(wacz_signing.PRIVATE_FILE),
            f"readable or writable by others (mode {stat.S_IMODE(mode):04o}); run "
            f"`chmod 600 {private}` and consider the key exposed",
        )
    if clear:
        outcome.failed(
            str(wacz_signing.PRIVATE_FILE),
            "in the clear in a vault (made before the locker became one); `docket wacz-key` "
            "seals it",
        )
