"""`docket audit-copies`: this locker and its copies compared with each other, LOCKSS-style.

Trust rests on this locker's identity and public key only; what a copy brings (its own
docket.json, keys/signing.pub) is compared with them, never believed. Checked, and reported
as verify.py reports (named checks, each difference with its subject, notes):
- identity: each copy is of this locker (locker id) and keeps its public key;
- checkpoints: each holder's newest catalogue checkpoint is signed by this locker's key and
  matches its own log; every line of its checkpoints.log is signed, and its catalogue holds
  the newest of them (else it lost its tail);
- consistency: for every pair, an RFC 6962 consistency proof from the smaller signed tree to
  the larger, computed from the larger's log, verifies, and the smaller log is the beginning
  of the larger; a copy that is merely behind is a note, not a difference;
- checkpoints.log: of every pair, the shorter file is the beginning of the longer;
- blobs: each holder holds every blob referenced by its own catalogue or by any holder's that
  is not ahead of it (missing), at the size recorded; blobs no catalogue references are a note;
- blob hashes: with `deep`, every blob of every holder is re-hashed; else `sample` blobs
  chosen at random per holder (sizes of all are compared; rot in the rest waits for --deep).
A vault and its copies are read with the vault's key (the locker's, obtained as Locker.open
does), every blob re-hashed decrypted in memory; a blob file that does not authenticate is
damaged. A vault's copy beside a plain locker, or a plain copy beside a vault, is a
difference and is skipped: they are never mixed.
A copy in a bucket (s3://...) is downloaded into the locker's tmp/ first (bucket.py), which
re-hashes every blob of it on the way, and compared like a folder; a vault's copy in a bucket
has only its catalogue, keys and checkpoints downloaded, and its sealed objects are read from
the bucket as the blob checks ask (so a damaged one is named as a blob, not the whole copy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from docket.copies import holdings
from docket.copies.bucket import Bucket
from docket.copies.destination import Folder, mixed
from docket.copies.holdings import Holding
from docket.custody import merkle
from docket.errors import DocketError, VaultDamagedError
from docket.store import scratch
from docket.store.s3 import SCHEME, S3Bucket
from docket.verify_report import Check, Problem, VerifyReport

SAMPLE = 32


@dataclass(frozen=True)
class _Tree:
    size: int
    root: bytes


class _Audit:
    def __init__(self, reference: Holding) -> None:
        self.reference = reference
        self.report = VerifyReport()

    def differ(self, subject: str, message: str) -> None:
        self.report.problems.append(Problem(subject, message))

    def check(self, name: str, before: int, detail: str) -> None:
        self.report.checks.append(Check(name, len(self.report.problems) == before, detail))

    def identities(self, copies: list[Holding]) -> list[Holding]:
        before, kept = len(self.report.problems), [self.reference]
        for copy in copies:
            if copy.locker_id != self.reference.locker_id:
                self.differ(copy.label, f"a copy of another locker ({copy.locker_id}); skipped")
                continue
            if (copy.vault_key is None) != (self.reference.vault_key is None):
                self.differ(copy.label, f"{mixed(copy.vault_key is not None)}; skipped")
                continue
            if copy.public_key != self.reference.public_key:
                self.differ(copy.label, "keys/signing.pub is not this locker's public key")
            kept.append(copy)
        self.check("identity", before, f"{len(kept) - 1} of {len(copies)} copies of this locker")
        return kept

    def signed_trees(self, holders: list[Holding]) -> dict[str, _Tree]:
        before, trees = len(self.report.problems), {}
        key, origin = self.reference.public_key, self.reference.origin
        for holder in holders:
            latest = holder.latest
            if latest is not None:
                cp, subject = latest.checkpoint, f"{holder.label}: checkpoint {latest.id}"
                if cp.origin != origin or not cp.verify(key):
                    self.differ(subject, "signature does not verify (forged or altered)")
                elif cp.tree_size > len(holder.leaves) or cp.root != merkle.root(
                    holder.leaves[: cp.tree_size]
                ):
                    self.differ(subject, "does not match the catalogue's log (changed)")
                else:
                    trees[holder.label] = _Tree(cp.tree_size, cp.root)
            found = holdings.witnessed(holder, origin, key)
            for where, message in found.problems:
                self.differ(f"{holder.label}: {where}", message)
            newest = found.latest
            if newest is not None:
                size = newest.checkpoint.tree_size
                if size > len(holder.leaves) or newest.checkpoint.root != merkle.root(
                    holder.leaves[:size]
                ):
                    self.differ(
                        holder.label,
                        f"its catalogue does not hold checkpoint {newest.id} of its "
                        f"checkpoints.log (size {size}; it lost its tail)",
                    )
        self.check("checkpoints", before, f"{len(trees)} signed trees")
        return trees

    def consistency(self, holders: list[Holding], trees: dict[str, _Tree]) -> None:
        before = len(self.report.problems)
        pairs = 0
        for one, two in combinations(holders, 2):
            small, large = sorted((one, two), key=lambda h: len(h.leaves))
            pairs += 1
            name = f"{small.label} and {large.label}"
            old, new = trees.get(small.label), trees.get(large.label)
            if old is not None and new is not None and old.size > 0:
                low, high = sorted((old, new), key=lambda t: t.size)
                prover = large if high is new else small
                proof = merkle.consistency_proof(low.size, prover.leaves[: high.size])
                if not merkle.verify_consistency(low.size, high.size, low.root, high.root, proof):
                    self.differ(
                        name,
                        f"their signed trees (sizes {low.size} and {high.size}) fail the "
                        "consistency proof: the logs diverged",
                    )
                    continue
            count = len(small.leaves)
            if large.leaves[:count] != small.leaves:
                first = next(i for i in range(count) if small.leaves[i] != large.leaves[i])
                self.differ(name, f"their custody logs diverge from event {first}")
            elif count < len(large.leaves) and small is self.reference:
                # Copies are made from this locker, never ahead of it: it lost events it had.
                self.differ(
                    small.label,
                    f"holds {count} of the {len(large.leaves)} events its copy {large.label} "
                    "holds: it lost its newest (an older catalogue put back?); "
                    f"`docket repair --from {large.label}` brings them back",
                )
            elif count < len(large.leaves):
                self.report.notes.append(
                    f"{small.label} holds {count} of the {len(large.leaves)} events "
                    f"{large.label} holds (behind; replicate again)"
                )
            short, long = sorted((one, two), key=lambda h: len(h.witness_bytes))
            if not long.witness_bytes.startswith(short.witness_bytes):
                self.differ(
                    name,
                    f"{short.label}'s checkpoints.log is not the beginning of {long.label}'s",
                )
        self.check("consistency", before, f"{pairs} pairs compared")

    def blobs(self, holders: list[Holding], deep: bool, sample: int) -> None:
        before = len(self.report.problems)
        sizes: dict[str, int] = {}
        for holder in holders:
            sizes.update(holder.referenced)
        hashed = held = 0
        for holder in holders:
            expected: set[str] = set()
            for other in holders:
                if len(other.leaves) <= len(holder.leaves):
                    expected |= set(other.referenced)
            for name in sorted(expected - holder.blobs):
                owners = [h.label for h in holders if name in h.blobs]
                where = f"held by {', '.join(owners)}" if owners else "held by no copy"
                self.differ(f"{holder.label}: blob {name}", f"missing ({where})")
            strays = holder.blobs - set(sizes)
            if strays:
                self.report.notes.append(
                    f"{holder.label}: {len(strays)} blob(s) no catalogue references (strays)"
                )
            unread: set[str] = set()  # named once, not again when hashed
            for name in sorted(holder.blobs):
                try:
                    size = holder.store.size(name)
                except VaultDamagedError as exc:
                    self.differ(f"{holder.label}: blob {name}", f"damaged: {exc}")
                    continue
                except OSError as exc:  # a dangling link in its place, no permission
                    self.differ(f"{holder.label}: blob {name}", f"cannot be read ({exc.strerror})")
                    unread.add(name)
                    continue
                if name in sizes and size != sizes[name]:
                    self.differ(
                        f"{holder.label}: blob {name}",
                        f"{size} bytes; the catalogue says {sizes[name]}",
                    )
            chosen = sorted(holder.blobs)
            if not deep:
                chosen = random.sample(chosen, min(sample, len(chosen)))
            for name in chosen:
                if name in unread:
                    continue
                try:
                    actual = holder.store.hash_blob(name).sha256
                except VaultDamagedError as exc:
                    self.differ(f"{holder.label}: blob {name}", f"damaged: {exc}")
                    continue
                except OSError as exc:  # a folder in its place, an I/O error
                    self.differ(f"{holder.label}: blob {name}", f"cannot be read ({exc.strerror})")
                    continue
                if actual != name:
                    self.differ(
                        f"{holder.label}: blob {name}",
                        f"damaged: its bytes hash to {actual[:16]}",
                    )
            hashed += len(chosen)
            held += len(holder.blobs)
        how = "all" if deep else f"a random sample of {sample} per holder"
        self.check("blobs", before, f"{held} blobs listed, {hashed} re-hashed ({how})")


def _bucket_copy(url: str, folder: Path, reference: Holding) -> Holding:
    """A copy in a bucket, laid out in `folder`: a plain copy downloaded whole (every blob
    re-hashed on the way); a vault's without its blobs, which are then listed from their
    headers and read (fetched and authenticated with the key) as the audit asks."""
    copies = Bucket(S3Bucket.open(url), 1)
    if reference.vault_key is None:
        copies.download(Folder(folder))
        return holdings.read(folder, url, copy=True)
    copies.download_files(Folder(folder))
    found = holdings.read(folder, url, copy=True, key=reference.vault_key)
    if found.vault_key is None:
        return found  # a plain copy: named as never mixed
    store = copies.blob_store(Folder(folder), found.vault_key)
    return dataclasses.replace(found, blobs=set(store.digests()), store=store)


def audit(
    locker: Path, copies: Sequence[Path | str], *, deep: bool, sample: int = SAMPLE
) -> VerifyReport:
    """Compare the locker at `locker` with each copy and the copies with each other. A copy
    named by an s3:// URL is first downloaded (each object's original, locked version; every
    blob re-hashed on the way) into a scratch folder in the locker's tmp/, removed after."""
    reference = holdings.read(locker, str(locker), copy=False)
    auditing = _Audit(reference)
    readable = []
    before = len(auditing.report.problems)
    with contextlib.ExitStack() as stack:
        for place in copies:
            label = str(place)
            try:
                if label.startswith(SCHEME):
                    work = stack.enter_context(scratch.folder(locker / "tmp", "audit"))
                    readable.append(_bucket_copy(label, work / "copy", reference))
                    continue
                readable.append(
                    holdings.read(Path(place), label, copy=True, key=reference.vault_key)
                )
            except DocketError as exc:
                auditing.differ(label, f"cannot be read as a copy ({exc})")
        auditing.check("copies readable", before, f"{len(readable)} of {len(copies)}")
        holders = auditing.identities(readable)
        trees = auditing.signed_trees(holders)
        auditing.consistency(holders, trees)
        auditing.blobs(holders, deep, sample)
    return auditing.report
