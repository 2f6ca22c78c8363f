"""`verify`: recompute everything the locker claims and name every difference.

Every problem found is collected (never stop at the first), and each check reports passed,
failed or "not checked", so nothing claims to pass when it was skipped. A locked vault is
checked only as far as no key is needed (its signed checkpoints, keys and encrypted files);
what that leaves unchecked is reported as such.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from docket import verify_locker
from docket._incident_checks import incident_problems
from docket.catalogue import schema
from docket.catalogue.database import reading
from docket.catalogue.records import (
    Arrival,
    arrival_facts,
    capture_time_of,
    has_position_of,
    item_facts,
    item_from_row,
    result_facts,
)
from docket.custody import merkle, subtrees
from docket.custody.events import Event, canonical_json, event_from_row, records_a_result
from docket.custody.ledger import WITNESSED, StoredCheckpoint, checkpoint_facts, checkpoints
from docket.disclose import prior
from docket.errors import ObjectStoreError, VaultDamagedError
from docket.locker import Locker
from docket.names import display_name
from docket.protect.approval import approval_problems
from docket.rehash import digests as rehash_blobs
from docket.store import BlobDigest, BlobStore
from docket.verify_report import Check, Problem, VerifyReport

REORDER_WINDOW = 1000


CASE_EVENTS_SHOWN = 20  # rows of a case's event index reported one by one, each way


def _short(sha256: str | None) -> str:
    return (sha256 or "?")[:16]


def _authenticated_digests(
    store: BlobStore, names: list[str]
) -> Iterator[BlobDigest | VaultDamagedError | None]:
    """rehash's digests, in order, with a vault blob that does not authenticate answered by
    its error where its digest is due, and the blobs after it still hashed."""
    start = 0
    while start < len(names):
        try:
            for digest in rehash_blobs(store, names[start:]):
                start += 1
                yield digest
        except VaultDamagedError as exc:
            start += 1
            yield exc


class _Verifier:
    def __init__(self, locker: Locker, conn: Connection, report: VerifyReport) -> None:
        self.locker = locker
        self.conn = conn
        self.report = report
        self.tail_lost = False
        rows = conn.execute(select(schema.events).order_by(schema.events.c.seq)).mappings().all()
        self.rows = rows
        self.events: dict[int, Event] = {}
        for row in rows:
            try:
                self.events[int(row["seq"])] = event_from_row(row)
            except (ValueError, TypeError) as exc:
                self.problem(f"event {row['seq']}", f"details are not valid JSON ({exc})")

    def problem(self, subject: str, message: str) -> None:
        self.report.problems.append(Problem(subject, message))

    def run_check(self, name: str, body: Callable[[], str]) -> None:
        """Run one check; one that cannot finish (a corrupt value) fails with the reason."""
        before = len(self.report.problems)
        try:
            detail = body()
        except (
            SQLAlchemyError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            ObjectStoreError,  # a bucket that cannot be reached or read
        ) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            self.problem(name, f"could not be checked: {type(exc).__name__}: {reason}")
            detail = (
                "stopped: the bucket could not be read"
                if isinstance(exc, ObjectStoreError)
                else "stopped by a value it could not read"
            )
        self.report.checks.append(Check(name, len(self.report.problems) == before, detail))

    def checkpoints_file(self, stored: list[StoredCheckpoint], leaves: list[bytes]) -> str:
        witnessed = {
            int(event.details.get("checkpoint", -1))
            for event in self.events.values()
            if event.action == "checkpoint.made" and WITNESSED in event.details
        }
        outcome = verify_locker.checkpoints_file(self.locker, leaves, stored, witnessed)
        self.tail_lost = outcome.tail_lost
        return adopt(self.report, outcome)

    def acknowledged_file(self, leaves: list[bytes]) -> str:
        outcome = verify_locker.acknowledged_file(self.locker, leaves)
        self.tail_lost = self.tail_lost or outcome.tail_lost
        return adopt(self.report, outcome)

    def log_sequence(self) -> str:
        head = int(self.conn.execute(select(schema.log_head.c.size)).scalar_one())
        seqs = [int(row["seq"]) for row in self.rows]
        present = set(seqs)
        expected = max([head - 1, *seqs]) + 1 if seqs or head else 0
        for seq in range(expected):
            if seq not in present:
                self.problem(f"event {seq}", "missing from the log (deleted)")
        if head != len(seqs):
            self.problem("log", f"the log head says {head} events but {len(seqs)} are stored")
        return f"{len(seqs)} events"

    def leaves(self) -> list[bytes]:
        """Leaf hashes recomputed from the event rows, in log order."""
        return [event.leaf_hash() for _seq, event in sorted(self.events.items())]

    def event_contents(self) -> str:
        for row in self.rows:
            seq = int(row["seq"])
            event = self.events.get(seq)
            if event is None or event.leaf_hash().hex() == row["leaf_hash"]:
                continue
            moved_from = self._original_position(event, row["leaf_hash"])
            if moved_from is not None:
                self.problem(f"event {seq}", f"out of order: it was logged as event {moved_from}")
            else:
                self.problem(f"event {seq}", f"{event.action} was changed after it was logged")
        return f"{len(self.rows)} leaves recomputed"

    @staticmethod
    def _original_position(event: Event, stored_hash: str) -> int | None:
        """The position whose leaf this row's content and stored hash match, if moved."""
        window = range(max(0, event.seq - REORDER_WINDOW), event.seq + REORDER_WINDOW)
        for seq in window:
            if seq != event.seq and replace(event, seq=seq).leaf_hash().hex() == stored_hash:
                return seq
        return None

    def signing_key(self) -> str:
        genesis = self.events.get(0)
        if genesis is None or genesis.action != "locker.created":
            self.problem("event 0", "the log does not begin with the locker's creation")
            return ""
        if genesis.details.get("public_key") != self.locker.public_key.hex():
            self.problem("keys", "the signing key is not the one the locker was created with")
        return "key matches the locker's creation event"

    def checkpoint_chain(self, stored: list[StoredCheckpoint], leaves: list[bytes]) -> str:
        previous: StoredCheckpoint | None = None
        for cp in stored:
            subject = f"checkpoint {cp.id} (size {cp.checkpoint.tree_size})"
            if not cp.checkpoint.verify(self.locker.public_key):
                self.problem(subject, "signature does not verify (forged or altered)")
            size = cp.checkpoint.tree_size
            if size > len(leaves):
                self.problem(subject, f"covers {size} events but the log holds {len(leaves)}")
            elif merkle.root(leaves[:size]) != cp.checkpoint.root:
                self.problem(
                    subject,
                    "root does not match the log: an event it covers was changed, removed "
                    "or reordered",
                )
            if previous is not None and size <= len(leaves):
                old = previous.checkpoint
                proof = (
                    merkle.consistency_proof(old.tree_size, leaves[:size]) if old.tree_size else []
                )
                if old.tree_size and not merkle.verify_consistency(
                    old.tree_size, size, old.root, cp.checkpoint.root, proof
                ):
                    self.problem(subject, f"not consistent with checkpoint {previous.id}")
            previous = cp
        return f"{len(stored)} checkpoints"

    def subtree_cache(self, leaves: list[bytes]) -> str:
        """Each cached root of a complete subtree (docket.custody.subtrees) is the root of the
        log's own leaves there. A wrong one never makes a false proof pass (every verifier
        checks a proof against the signed root), but every proof that uses it fails."""
        table = schema.subtree_hashes.c
        cached = self.conn.execute(
            select(table.level, table.position, table.hash).order_by(table.level, table.position)
        ).all()
        if not cached:
            return "no subtree cached"
        roots = [
            merkle.root(leaves[start : start + subtrees.BLOCK])
            for start in range(0, len(leaves) - subtrees.BLOCK + 1, subtrees.BLOCK)
        ]
        by_level = {subtrees.LEVEL: roots}
        level = subtrees.LEVEL
        while len(by_level[level]) > 1:
            below = by_level[level]
            by_level[level + 1] = [
                merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)
            ]
            level += 1
        for level, position, stored in cached:
            first, size = position << level, 1 << level
            subject = f"cached subtree of events {first} to {first + size - 1}"
            known = by_level.get(level, [])
            if not 0 <= position < len(known):
                self.problem(subject, "covers events the log does not hold")
            elif stored != known[position].hex():
                self.problem(
                    subject,
                    "is not the root of the log's own events there: proofs that use it fail "
                    "(the row may be deleted: proofs compute it again)",
                )
        return f"{len(cached)} cached subtrees recomputed"

    def checkpoint_records(self, stored: list[StoredCheckpoint]) -> str:
        by_id = {cp.id: cp for cp in stored}
        logged: set[int] = set()
        for seq, event in self.events.items():
            if event.action != "checkpoint.made":
                continue
            cp_id = int(event.details.get("checkpoint", -1))
            logged.add(cp_id)
            cp = by_id.get(cp_id)
            if cp is None:
                self.problem(f"checkpoint {cp_id}", f"missing (it was logged by event {seq})")
            elif checkpoint_facts(cp) != {k: v for k, v in event.details.items() if k != WITNESSED}:
                self.problem(f"checkpoint {cp_id}", f"differs from what event {seq} logged")
        for cp in stored:
            if cp.id not in logged:
                self.problem(f"checkpoint {cp.id}", "was never logged (added from outside)")
        return f"{len(logged)} logged"

    def _event_for(self, subject: str, seq: int, action_prefix: str) -> Event | None:
        event = self.events.get(seq)
        if event is None or not event.action.startswith(action_prefix):
            self.problem(subject, f"its custody event {seq} is missing or of another kind")
            return None
        return event

    def catalogue_rows(self) -> str:
        items = {row["sha256"]: row for row in self.conn.execute(select(schema.items)).mappings()}
        for sha256, row in items.items():
            subject = f"item {_short(sha256)}"
            event = self._event_for(subject, int(row["event_seq"]), "item.acquired")
            if event is None:
                continue
            if dict(event.details.get("item", {})) != item_facts(item_from_row(row)):
                self.problem(subject, f"catalogue row differs from event {event.seq}")
            if event.time != row["first_seen"] or event.item != sha256:
                self.problem(subject, f"first-seen time or hash differs from event {event.seq}")
        for seq, event in self.events.items():
            new_item = event.action == "item.acquired" and event.details.get("new")
            if new_item and event.item not in items:
                self.problem(
                    f"item {_short(event.item)}",
                    f"missing from the catalogue (acquired in event {seq})",
                )
        self.flag_rows()
        self.review_rows()
        for subject, message in incident_problems(self.conn, self.events):
            self.problem(subject, message)
        for subject, message in approval_problems(self.conn, self.events):
            self.problem(subject, message)
        self.case_links()
        self.timestamp_rows()
        acquisitions = self.acquisition_rows()
        results = self.result_rows()
        return f"{len(items)} items, {acquisitions} acquisitions, {results} results"

    def case_links(self) -> None:
        """Every case membership was logged by an arrival into that case, and vice versa; each
        carries its item's own media type, its first acquisition into the case, the capture
        time of its latest successful metadata result, and whether its latest metadata result
        gives a position (what the case is counted, listed, filtered and put in time order
        by)."""
        names = dict(self.conn.execute(select(schema.cases.c.id, schema.cases.c.name)).all())
        members, items, results = schema.case_items.c, schema.items.c, schema.results.c
        captured: dict[str, str | None] = {}
        placed: dict[str, bool] = {}
        for item, status, data in self.conn.execute(
            select(results.item_sha256, results.status, results.data)
            .where(results.step == "metadata")
            .order_by(results.id)
        ):
            try:
                facts = json.loads(data)
            except ValueError:
                facts = {}  # not JSON: result_rows names it (its digest is not the event's)
            facts = facts if isinstance(facts, dict) else {}
            placed[item] = has_position_of(facts)
            if status == "ok":
                captured[item] = capture_time_of(facts)
        arrivals = schema.acquisitions.c
        firsts = {
            (case_id, item): first
            for case_id, item, first in self.conn.execute(
                select(arrivals.case_id, arrivals.item_sha256, func.min(arrivals.id))
                .where(arrivals.case_id.is_not(None))
                .group_by(arrivals.case_id, arrivals.item_sha256)
            )
        }
        rows = self.conn.execute(
            select(
                members.case_id,
                members.item_sha256,
                members.media_type,
                members.capture_time,
                members.has_position,
                members.first_acquisition,
                items.media_type,
            )
            .outerjoin(schema.items, items.sha256 == members.item_sha256)
            .order_by(members.case_id, members.item_sha256)
        )
        linked = set()
        for case_id, item, listed_as, listed_time, listed_placed, first, media_type in rows:
            linked.add((names.get(case_id), item))
            if first != firsts.get((case_id, item)):
                self.problem(
                    f"item {_short(item)}",
                    f"is listed in case {names.get(case_id)!r} as first arriving in "
                    f"acquisition {first}, but its first arrival there is acquisition "
                    f"{firsts.get((case_id, item))}",
                )
            if media_type is not None and listed_as != media_type:
                self.problem(
                    f"item {_short(item)}",
                    f"is listed in case {names.get(case_id)!r} as {listed_as!r}, but it is "
                    f"{media_type!r}",
                )
            if listed_time != captured.get(item):
                self.problem(
                    f"item {_short(item)}",
                    f"is listed in case {names.get(case_id)!r} as captured at {listed_time!r}, "
                    f"but its metadata says {captured.get(item)!r}",
                )
            if bool(listed_placed) != placed.get(item, False):
                self.problem(
                    f"item {_short(item)}",
                    f"is listed in case {names.get(case_id)!r} as "
                    f"{'having' if listed_placed else 'without'} a position, but its latest "
                    "metadata says otherwise",
                )
        logged = {
            (event.details["acquisition"]["case"], event.item)
            for event in self.events.values()
            if event.action == "item.acquired" and event.details["acquisition"].get("case")
        }
        for case, item in sorted(linked - logged, key=str):
            self.problem(f"item {_short(item)}", f"is in case {case!r} but no event put it there")
        for case, item in sorted(logged - linked, key=str):
            self.problem(f"item {_short(item)}", f"was logged into case {case!r} but is not in it")
        self.case_event_rows(names)
        self.case_type_counts(names)
        self.case_day_counts(names)

    def case_type_counts(self, names: Mapping[int, str]) -> None:
        """Each case's counts of items by type (case_type_counts, kept by the database's
        triggers) are what its memberships give: the dashboard shows them."""
        members, counted = schema.case_items.c, schema.case_type_counts.c
        self._counts_hold(
            names,
            select(members.case_id, members.media_type, func.count()).group_by(
                members.case_id, members.media_type
            ),
            select(counted.case_id, counted.media_type, counted["items"]),
            "of type",
        )

    def case_day_counts(self, names: Mapping[int, str]) -> None:
        """Each case's counts of items by capture day (case_day_counts, kept by the database's
        triggers) are what its memberships' capture times give: the timeline shows them."""
        members, counted = schema.case_items.c, schema.case_day_counts.c
        day = func.substr(members.capture_time, 1, schema.CAPTURE_DAY)
        self._counts_hold(
            names,
            select(members.case_id, day, func.count())
            .where(members.capture_time.is_not(None))
            .group_by(members.case_id, day),
            select(counted.case_id, counted.day, counted["items"]),
            "captured on",
        )

    def _counts_hold(
        self, names: Mapping[int, str], should: Select[Any], has: Select[Any], what: str
    ) -> None:
        """Names each (case, key) whose count kept (`has`: case id, key, count) is not what
        the memberships give (`should`, the same columns); a kept zero is no row."""
        wanted = {(c, str(key)): int(n) for c, key, n in self.conn.execute(should)}
        kept = {(c, str(key)): int(n) for c, key, n in self.conn.execute(has) if n}
        for case_id, key in sorted(wanted.keys() | kept.keys(), key=str):
            if wanted.get((case_id, key), 0) != kept.get((case_id, key), 0):
                self.problem(
                    f"case {names.get(case_id, case_id)!r}",
                    f"is counted as holding {kept.get((case_id, key), 0)} item(s) {what} "
                    f"{key!r}, but holds {wanted.get((case_id, key), 0)}",
                )

    def case_event_rows(self, names: Mapping[int, str]) -> None:
        """Each case's index of its events (case_events, filled by the database's triggers)
        holds exactly the events of the items the case holds: a row missing hides the event
        from the case's activity and audit; one too many shows another case's."""
        members, events, held = schema.case_items.c, schema.events.c, schema.case_events.c
        should = select(members.case_id, events.seq, events.action, events.actor).join(
            schema.events, events.item_sha256 == members.item_sha256
        )
        has = select(held.case_id, held.event_seq, held.action, held.actor)
        for found, says in (
            (should.except_(has), "is of an item case {!r} holds, but not among its events"),
            (
                has.except_(should),
                "is among case {!r}'s events as {!r} by {!r}, but the case does not hold its"
                " item or the event is not that",
            ),
        ):
            differ = found.subquery()
            rows = self.conn.execute(
                select(differ).order_by(*differ.c).limit(CASE_EVENTS_SHOWN + 1)
            )
            for number, (case_id, seq, action, actor) in enumerate(rows):
                if number == CASE_EVENTS_SHOWN:
                    self.problem(
                        "case events",
                        f"more rows differ likewise (the first {CASE_EVENTS_SHOWN} are named)",
                    )
                    break
                self.problem(
                    f"event {seq}", says.format(names.get(case_id, case_id), action, actor)
                )

    def timestamp_rows(self) -> None:
        rows = self.conn.execute(select(schema.timestamps)).mappings().all()
        seen = set()
        for row in rows:
            subject = f"timestamp of checkpoint {row['checkpoint_id']}"
            event = self._event_for(subject, int(row["event_seq"]), "checkpoint.timestamped")
            if event is None:
                continue
            seen.add(event.seq)
            token_digest = hashlib.sha256(bytes(row["token"])).hexdigest()
            if (
                event.details.get("token_sha256") != token_digest
                or event.details.get("checkpoint") != row["checkpoint_id"]
            ):
                self.problem(subject, f"its token differs from what event {event.seq} logged")
        for seq, event in self.events.items():
            if event.action == "checkpoint.timestamped" and seq not in seen:
                self.problem(f"event {seq}", "the timestamp token it logged is missing")

    @cached_property
    def case_names(self) -> dict[int, str]:
        return {
            int(i): str(n)
            for i, n in self.conn.execute(select(schema.cases.c.id, schema.cases.c.name))
        }

    def _scoped(
        self, row: Mapping[Any, Any], event: Event, facts: dict[str, Any]
    ) -> dict[str, Any]:
        """`facts` of a row with its case, as the event records it (docket.scope). Events from
        before flags, tags and annotations carried a case say none: their row's case was given
        by migration 0003, not logged, so it is not compared."""
        if "case" not in event.details:
            return facts
        case_id = row["case_id"]
        return {**facts, "case": None if case_id is None else self.case_names.get(case_id)}

    def review_rows(self) -> None:
        """Tags, annotations and workflow statuses against the events that recorded them (with
        their case), both ways."""
        checks: tuple[tuple[Table, str, tuple[str, ...]], ...] = (
            (schema.tags, "item.tagged", ("tag",)),
            (schema.annotations, "item.annotated", ("kind", "text", "region", "start", "end")),
            (schema.statuses, "item.status_set", ("status", "assignee", "comment")),
        )
        for table, action, fields in checks:
            seen = set()
            for row in self.conn.execute(select(table)).mappings().all():
                subject = f"{table.name} row of item {_short(row['item_sha256'])}"
                event = self._event_for(subject, int(row["event_seq"]), action)
                if event is None:
                    continue
                seen.add(event.seq)
                mine = _comparable(self._scoped(row, event, {f: row[f] for f in fields}))
                logged = _comparable(dict(event.details))
                if mine != logged or event.item != row["item_sha256"]:
                    self.problem(subject, f"differs from what event {event.seq} recorded")
            for seq, event in self.events.items():
                if event.action == action and seq not in seen:
                    self.problem(f"event {seq}", f"its {table.name} row is missing")

    def flag_rows(self) -> None:
        rows = self.conn.execute(select(schema.flags)).mappings().all()
        seen = set()
        for row in rows:
            subject = f"flag of item {_short(row['item_sha256'])}"
            event = self._event_for(subject, int(row["event_seq"]), "item.flagged")
            if event is None:
                continue
            seen.add(event.seq)
            mine = self._scoped(row, event, {"flag": row["flag"]})
            logged = {k: event.details.get(k) for k in mine}
            if mine != logged or event.item != row["item_sha256"]:
                self.problem(subject, f"differs from what event {event.seq} recorded")
        for seq, event in self.events.items():
            if event.action == "item.flagged" and seq not in seen:
                self.problem(f"event {seq}", "the flag it recorded is missing from the catalogue")

    def acquisition_rows(self) -> int:
        query = select(schema.acquisitions, schema.sources.c.pseudonym).outerjoin(
            schema.sources, schema.acquisitions.c.source_id == schema.sources.c.id
        )
        seen: set[int] = set()
        names = self.case_names
        rows = self.conn.execute(query).mappings().all()
        for row in rows:
            subject = f"acquisition {row['id']} of item {_short(row['item_sha256'])}"
            event = self._event_for(subject, int(row["event_seq"]), "item.acquired")
            if event is None:
                continue
            seen.add(event.seq)
            logged = dict(event.details.get("acquisition", {}))
            case_id = row["case_id"]
            case = None if case_id is None else names.get(int(case_id))
            facts = arrival_facts(_arrival_from_row(row, case))
            if facts != logged or event.item != row["item_sha256"]:
                self.problem(subject, f"catalogue row differs from event {event.seq}")
            elif _shown_names(row) != (row["original_path"], row["path_in_container"]):
                self.problem(
                    subject, f"its shown name differs from the name event {event.seq} recorded"
                )
        for seq, event in self.events.items():
            if event.action == "item.acquired" and seq not in seen:
                self.problem(f"event {seq}", "its acquisition is missing from the catalogue")
        return len(rows)

    def result_rows(self) -> int:
        """Each result row against its event, and each event that recorded a result against
        its row (results are never removed: one gone is an analysis lost from the catalogue,
        an item then shown as never analysed)."""
        rows = self.conn.execute(select(schema.results)).mappings().all()
        seen: set[int] = set()
        for row in rows:
            subject = f"{row['step']} result of item {_short(row['item_sha256'])}"
            event = self._event_for(subject, int(row["event_seq"]), f"{row['step']}.")
            if event is None:
                continue
            seen.add(event.seq)
            facts = result_facts(
                row["step"], row["step_version"], row["status"], row["error"], row["data"]
            )
            # The case a person's own aid was run in is the event's alone (docket.scope).
            logged = {k: v for k, v in event.details.items() if k != "case"}
            if facts != logged or event.item != row["item_sha256"]:
                self.problem(subject, f"catalogue row differs from event {event.seq}")
        for seq, event in self.events.items():
            if seq not in seen and records_a_result(event):
                self.problem(
                    f"event {seq}",
                    f"its {event.details['step']} result of item {_short(event.item or '')} "
                    "is missing from the catalogue",
                )
        self._repeats(rows)
        return len(rows)

    def _repeats(self, rows: Sequence[RowMapping]) -> None:
        """A result repeated for a case's arrival (docket.case_analysis) says word for word
        what a result run on the item said before it: a row marked so that says anything
        else would be shown to that case as analysis nobody ran."""
        run: dict[str, list[tuple[int, str, bytes]]] = {}
        for row in rows:
            event = self.events.get(int(row["event_seq"]))
            if row["repeated_for"] is None and event is not None:
                words = (event.action, canonical_json(event.details))
                run.setdefault(row["item_sha256"], []).append((event.seq, *words))
        members, arrivals = schema.case_items.c, schema.acquisitions.c
        first_arrivals = {
            (int(case_id), str(item)): (int(seq), str(collector))
            for case_id, item, seq, collector in self.conn.execute(
                select(members.case_id, members.item_sha256, arrivals.event_seq, arrivals.collector)
                .join(schema.acquisitions, arrivals.id == members.first_acquisition)
                .where(
                    members.item_sha256.in_(
                        select(schema.results.c.item_sha256).where(
                            schema.results.c.repeated_for.is_not(None)
                        )
                    )
                )
            )
        }
        for row in rows:
            event = self.events.get(int(row["event_seq"]))
            if row["repeated_for"] is None or event is None:
                continue
            arrival = first_arrivals.get((int(row["repeated_for"]), str(row["item_sha256"])))
            if arrival is None or arrival[0] > event.seq or arrival[1] != event.actor:
                self.problem(
                    f"{row['step']} result of item {_short(row['item_sha256'])}",
                    f"event {event.seq} is marked a repeat for case {row['repeated_for']} "
                    "but follows no arrival of that case's by its actor",
                )
            said = (event.action, canonical_json(event.details))
            if not any(
                seq < event.seq and (a, d) == said for seq, a, d in run.get(event.item or "", [])
            ):
                self.problem(
                    f"{row['step']} result of item {_short(row['item_sha256'])}",
                    f"event {event.seq} is marked a repeat for case {row['repeated_for']} "
                    "but repeats no result run before it",
                )

    def derived_rows(self) -> str:
        """Derivative and hash rows are an index of their results' data: compare both ways."""
        data = {
            int(row["event_seq"]): json.loads(row["data"])
            for row in self.conn.execute(select(schema.results)).mappings()
        }
        counts = []
        for table, key, fields in (
            (
                schema.derivatives,
                "derivatives",
                ("sha256", "kind", "media_type", "size", "frame_time"),
            ),
            (schema.perceptual_hashes, "hashes", ("variant", "pdq", "quality", "frame_time")),
        ):
            listed: Counter[tuple[int, str, str]] = Counter()
            for seq, result in data.items():
                for entry in result.get(key, []):
                    listed[(seq, str(result_item(self.events, seq)), _entry(entry, fields))] += 1
            stored: Counter[tuple[int, str, str]] = Counter()
            rows = self.conn.execute(select(table)).mappings().all()
            for row in rows:
                stored[(int(row["event_seq"]), row["item_sha256"], _entry(row, fields))] += 1
            for seq, sha256, _ in stored - listed:
                self.problem(
                    f"item {_short(sha256)}",
                    f"a {table.name} row differs from what event {seq} recorded",
                )
            for seq, sha256, _ in listed - stored:
                self.problem(
                    f"item {_short(sha256)}",
                    f"a {table.name} row recorded by event {seq} is missing",
                )
            counts.append(f"{len(rows)} {table.name}")
        return ", ".join(counts)

    def blobs(self, rehash: bool) -> str:
        items = self.conn.execute(select(schema.items)).mappings().all()
        derived = (
            self.conn.execute(
                select(
                    schema.derivatives.c.sha256,
                    schema.derivatives.c.size,
                    schema.derivatives.c.item_sha256,
                    schema.derivatives.c.kind,
                )
            )
            .mappings()
            .all()
        )
        rows = [(f"item {_short(r['sha256'])}", r["sha256"], r["size"], r["sha512"]) for r in items]
        rows += [
            (f"item {_short(r['item_sha256'])}: its {r['kind']}", r["sha256"], r["size"], None)
            for r in derived
        ]
        rows += [
            (f"the prior custody {_short(sha256)} of an import", sha256, size, None)
            for sha256, size in prior.blobs(self.conn).items()
        ]
        store = self.locker.store
        held = store.sizes()  # one listing, after the rows: each row's blob was stored before it
        present = []
        missing = "blob is missing from the store"
        if self.locker.is_vault:  # a vault's blob is listed only once its header authenticates
            missing += (
                " (or its encrypted file's header does not authenticate: see blob permissions)"
            )
        for subject, sha256, size, sha512 in rows:
            if sha256 not in held:
                self.problem(subject, missing)
            elif not rehash:
                if held[sha256] != size:
                    self.problem(subject, "blob size differs from the catalogue")
            else:
                present.append((subject, sha256, size, sha512))
        found = _authenticated_digests(store, [sha256 for _, sha256, _, _ in present])
        for (subject, sha256, size, sha512), digest in zip(present, found, strict=True):
            if isinstance(digest, VaultDamagedError):
                self.problem(subject, f"blob does not decrypt: {digest}")
            elif digest is None:
                self.problem(subject, "blob is missing from the store")
            elif digest.sha256 != sha256 or sha512 not in (None, digest.sha512):
                self.problem(subject, f"blob content changed (its SHA-256 is now {digest.sha256})")
            elif digest.size != size:
                self.problem(subject, "blob size differs from the catalogue")
        known = {sha256 for _, sha256, _, _ in rows}
        strays = [name for name in held if name not in known]
        for name in strays if self.tail_lost else []:
            self.problem(
                f"blob {_short(name)}",
                "in the store but no record references it: the catalogue lost its tail",
            )
        if strays and not self.tail_lost:
            self.report.notes.append(
                f"{len(strays)} blob(s) in the store are not in the catalogue (an interrupted "
                "ingest leaves these before it reports them stored; every arrival reported "
                "since the last checkpoint is in the catalogue)"
            )
        return f"{len(rows)} blobs {'re-hashed' if rehash else 'present'}"


def _comparable(facts: dict[str, Any]) -> dict[str, Any]:
    """Whole floats as ints, as canonical JSON (RFC 8785) writes them."""
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in facts.items()}


def _entry(entry: Mapping[Any, Any], fields: tuple[str, ...]) -> str:
    """A comparable form; whole floats become ints, as canonical JSON (RFC 8785) writes them."""
    values = [entry.get(name) for name in fields]
    return json.dumps([int(v) if isinstance(v, float) and v.is_integer() else v for v in values])


def result_item(events: Mapping[int, Event], seq: int) -> str | None:
    event = events.get(seq)
    return None if event is None else event.item


def _shown_names(row: Mapping[Any, Any]) -> tuple[str, str | None]:
    """An acquisition's names as its raw bytes are shown (what ingest wrote beside them)."""
    inner = row["path_in_container_raw"]
    return (
        display_name(bytes(row["original_path_raw"])),
        None if inner is None else display_name(bytes(inner)),
    )


def _arrival_from_row(row: Mapping[Any, Any], case: Any) -> Arrival:
    inner = row["path_in_container_raw"]
    return Arrival(
        collector=row["collector"],
        method=row["method"],
        original_path_raw=bytes(row["original_path_raw"]),
        source=row["pseudonym"],
        container_sha256=row["container_sha256"],
        path_in_container_raw=None if inner is None else bytes(inner),
        file_mtime=row["file_mtime"],
        note=row["note"],
        case=case,
        package=None if row["package"] is None else json.loads(row["package"]),
        url_of_origin=row["url_of_origin"],
        collected_at=row["collected_at"],
    )


def adopt(report: VerifyReport, outcome: verify_locker.Outcome) -> str:
    """Take the problems and notes of a check from verify_locker into `report`."""
    report.problems.extend(Problem(subject, message) for subject, message in outcome.problems)
    report.notes.extend(outcome.notes)
    return outcome.detail


def _outside_check(report: VerifyReport, name: str, outcome: verify_locker.Outcome) -> None:
    detail = adopt(report, outcome)
    report.checks.append(Check(name, outcome.passed, detail))


def verify(locker: Locker, quick: bool = False) -> VerifyReport:
    report = VerifyReport()
    if locker.locked:
        _verify_locked(locker, report)
        return report
    try:
        _verify_catalogue(locker, quick, report)
    except SQLAlchemyError as exc:  # a catalogue too damaged to read at all
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        report.problems.append(Problem("catalogue", f"cannot be read ({reason})"))
        report.checks.append(Check("catalogue", False, "unreadable"))
    _outside_check(report, "keys", verify_locker.keys(locker))
    _outside_check(report, "blob permissions", verify_locker.blob_permissions(locker.store))
    return report


def _verify_catalogue(locker: Locker, quick: bool, report: VerifyReport) -> None:
    with reading(locker.engine) as conn:
        _outside_check(report, "catalogue integrity", verify_locker.catalogue_integrity(conn))
        verifier = _Verifier(locker, conn, report)
        leaves = verifier.leaves()
        stored = checkpoints(conn, locker.origin)
        verifier.run_check("log sequence", verifier.log_sequence)
        verifier.run_check("event contents", verifier.event_contents)
        verifier.run_check("signing key", verifier.signing_key)
        verifier.run_check("checkpoints", lambda: verifier.checkpoint_chain(stored, leaves))
        verifier.run_check("checkpoints file", lambda: verifier.checkpoints_file(stored, leaves))
        verifier.run_check("acknowledged arrivals", lambda: verifier.acknowledged_file(leaves))
        verifier.run_check("checkpoint records", lambda: verifier.checkpoint_records(stored))
        verifier.run_check("subtree cache", lambda: verifier.subtree_cache(leaves))
        verifier.run_check("catalogue rows", verifier.catalogue_rows)
        verifier.run_check("derivatives and hashes", verifier.derived_rows)
        verifier.run_check("blobs", lambda: verifier.blobs(rehash=not quick))
        _outside_check(report, "WACZ signatures", verify_locker.wacz_signatures(locker, conn))
        if locker.is_vault:
            _outside_check(report, "key slots", verify_locker.key_slots(locker, conn))
        if quick:
            report.checks.append(Check("blob hashes", None, "skipped (--quick)"))


def _verify_locked(locker: Locker, report: VerifyReport) -> None:
    """What a locked vault shows without its key: checkpoints signed by the public key, the
    keys' files, and the encrypted blobs' files; the rest is reported as not checked."""
    _outside_check(report, "checkpoints file", verify_locker.signed_checkpoints(locker))
    _outside_check(report, "keys", verify_locker.keys(locker))
    _outside_check(report, "blob permissions", verify_locker.sealed_files(locker))
    _outside_check(report, "key slots", verify_locker.key_slots(locker, None))
    why = "the vault is locked"
    for name in ("catalogue", "custody log", "blobs", "blob hashes", "WACZ signatures"):
        report.checks.append(Check(name, None, why))
    report.notes.append(
        "the vault is locked, so only what needs no key was checked (checkpoint signatures, "
        "keys, the encrypted files); unlock it (`docket unlock` or DOCKET_PASSPHRASE_FILE) to "
        "check the catalogue, the custody log against the checkpoints, and every blob's content"
    )
