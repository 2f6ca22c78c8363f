"""Issue 11: import keeps the chain. A locker that imports a package keeps the sender's custody
(docket.disclose.prior); its own court export carries that prior leg, and both `docket-check`
and the package's stdlib verifier check both legs and the link between them.

The adversary here is the receiving locker itself (or an insider there): it signs its own
export honestly over what it holds, so the only way to lie about the sender's custody is to
keep a prior leg other than the one it received. The tests play that part by replacing the
bundle the import keeps (a monkeypatch of `prior.bundle`: the receiving side is the attacker);
everything else is real: two lockers, real exports, real imports, real checks."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bagit
import pytest
from conftest import photo, take
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tsa import running_authority

from docket import gc
from docket.custody import log
from docket.custody.checkpoint import open_checkpoint, public_key_of, sign
from docket.disclose import prior, verify_package
from docket.disclose.check import check, fingerprint
from docket.disclose.importer import import_package
from docket.disclose.package import export, items_of_case
from docket.disclose.timestamps import trusted_roots
from docket.errors import DocketError
from docket.locker import Locker
from docket.verify import verify


def sent(locker: Locker, tmp_path: Path, name: str, *seeds: int) -> tuple[Path, list[str]]:
    """A court package of new photos (one per seed) from the sending locker."""
    summary = take(
        locker,
        *(photo(tmp_path / f"in-{name}", f"{name}-{seed}.jpg", seed) for seed in seeds),
        case="North",
        source="W-17",
    )
    items = [o.sha256 or "" for o in summary.outcomes]
    package = tmp_path / name
    export(locker, items, "court", package, "tester", recipient="Registry of Kelvarn")
    return package, items


def relayed(
    sender: Locker, receiver: Locker, package: Path, tmp_path: Path, roots: Any = None
) -> Path:
    """Import the package into the receiver's case and export that case to a court."""
    import_package(
        receiver, package, "registry clerk", "Received", sender.public_key, tsa_roots=roots
    )
    with receiver.engine.connect() as conn, conn.begin():
        items = items_of_case(conn, "Received")
    again = tmp_path / f"{package.name}-again"
    export(receiver, items, "court", again, "registry clerk", "Appeals chamber", "Received")
    return again


def bundle_path(package: Path) -> Path:
    [found] = (package / "data" / prior.FOLDER).rglob("*.json")
    return found


def both_fail(package: Path, key: bytes) -> tuple[list[str], list[str]]:
    """The failures of docket-check and of the verifier inside the package; both must fail."""
    report = check(package, key)
    assert not report.ok
    code, problems, *_ = verify_package.verify(package, key.hex())
    assert code == 1 and problems, "the verifier inside the package disagrees"
    return report.failures, problems


def named_in_both(found: tuple[list[str], list[str]], words: str) -> None:
    for failures in found:
        assert any(words in f for f in failures), failures


@pytest.fixture
def receiver(tmp_path: Path) -> Any:
    with Locker.create(tmp_path / "receiver", actor="registry clerk") as created:
        yield created


def test_reexport_carries_the_senders_leg_and_both_verifiers_check_it(
    locker: Locker, receiver: Locker, tmp_path: Path
) -> None:
    package, items = sent(locker, tmp_path, "first", 1, 2)
    again = relayed(locker, receiver, package, tmp_path)

    kept = bundle_path(again)
    assert kept.parent.name == locker.locker_id
    bundle = json.loads(kept.read_text())
    assert bundle["public_key"] == locker.public_key.hex()
    assert (
        base64.b64decode(bundle["files"]["custody/export.json"])
        == (package / "data" / "custody" / "export.json").read_bytes()
    )
    sha256 = verify_package.digest(kept)
    with receiver.engine.connect() as conn, conn.begin():
        arrivals = [e for e in log.events(conn) if e.action == "item.acquired"]
        [exported] = [e for e in log.events(conn) if e.action == "package.exported"]
    assert {e.item for e in arrivals} == set(items)
    assert {e.details["acquisition"]["package"]["custody_sha256"] for e in arrivals} == {sha256}
    assert exported.details["prior"] == [kept.relative_to(again / "data").as_posix()]
    html = (again / "data" / "report.html").read_text()
    assert (
        f"imported package from {locker.origin} (its key {fingerprint(locker.public_key)}, "
        f"confirmed); the sender&#x27;s custody is in {exported.details['prior'][0]}"
    ) in html

    report = check(again, receiver.public_key)
    assert report.intact, report.failures
    [(_, passed, detail)] = [c for c in report.checks if c[0].startswith("prior custody")]
    assert passed is True
    assert fingerprint(locker.public_key) in detail and "2 item(s)" in detail
    code, problems, _, found = verify_package.verify(again, receiver.public_key.hex())
    assert (code, problems) == (0, [])
    legs = [line for line in found if line.startswith("prior custody")]
    assert len(legs) == 1 and fingerprint(locker.public_key) in legs[0]
    key = receiver.public_key.hex()
    shipped = subprocess.run(
        [sys.executable, str(again / "data" / "verify_package.py"), str(again), "--key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shipped.returncode == 0, shipped.stdout
    assert fingerprint(locker.public_key) in shipped.stdout

    assert verify(receiver).ok
    assert not any("not in the catalogue" in n for n in verify(receiver).notes)
    for blob in receiver.store.digests():  # older than gc's grace period: strays would show
        os.utime(receiver.store.path(blob), (0, 0))
    assert gc.collect(receiver, "registry clerk").strays == []


def test_a_third_locker_carries_and_checks_both_earlier_legs(
    locker: Locker, receiver: Locker, tmp_path: Path
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    again = relayed(locker, receiver, package, tmp_path)
    with Locker.create(tmp_path / "third") as third:
        third_leg = relayed(receiver, third, again, tmp_path)
        assert verify(third).ok
        key = third.public_key
    report = check(third_leg, key)
    assert report.intact, report.failures
    [detail] = [c[2] for c in report.checks if c[0].startswith("prior custody")]
    assert detail.index(fingerprint(receiver.public_key)) < detail.index("before it")
    assert detail.index("before it") < detail.index(fingerprint(locker.public_key))
    code, problems, _, found = verify_package.verify(third_leg, key.hex())
    assert (code, problems) == (0, [])
    [leg] = [line for line in found if line.startswith("prior custody")]
    assert fingerprint(locker.public_key) in leg.split("before it")[1]


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_an_edited_leg_two_legs_back_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    again = relayed(locker, receiver, package, tmp_path)
    inner = bundle_path(again).relative_to(again / "data").as_posix()

    keeping(monkeypatch, lambda b: edit_file(b, inner, lambda raw: raw.replace(b"1", b"2", 1)))
    with Locker.create(tmp_path / "third") as third:
        third_leg = relayed(receiver, third, again, tmp_path)
        key = third.public_key
    named_in_both(both_fail(third_leg, key), f"{inner}: differs from the export record")


def test_the_prior_leg_kept_at_rest_is_verified(
    locker: Locker, receiver: Locker, tmp_path: Path
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    relayed(locker, receiver, package, tmp_path)
    [(sha256, _)] = prior.named(
        [e for e in _events(receiver) if e.action == "item.acquired"]
    ).items()
    blob = receiver.store.path(sha256)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"format": 1', b'"format": 2'))
    found = verify(receiver)
    assert not found.ok
    assert any("prior custody" in p.subject for p in found.problems), found.problems


def _events(locker: Locker) -> list[Any]:
    with locker.engine.connect() as conn, conn.begin():
        return list(log.events(conn))


def keeping(monkeypatch: pytest.MonkeyPatch, change: Callable[[dict[str, Any]], None]) -> None:
    """The receiving insider: the import keeps an altered prior leg."""
    honest = prior.bundle

    def altered(root: Path, manifest: dict[str, Any]) -> bytes:
        value = json.loads(honest(root, manifest))
        change(value)
        return json.dumps(value, indent=1, sort_keys=True).encode()

    monkeypatch.setattr(prior, "bundle", altered)


def edit_file(bundle: dict[str, Any], name: str, change: Callable[[bytes], bytes]) -> None:
    bundle["files"][name] = base64.b64encode(change(base64.b64decode(bundle["files"][name])))
    bundle["files"][name] = bundle["files"][name].decode()


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_tampered_event_of_the_prior_leg_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    target: list[int] = []

    def collector_renamed(raw: bytes) -> bytes:
        records = json.loads(raw)
        arrival = next(r for r in records if b"item.acquired" in base64.b64decode(r["leaf"]))
        target.append(arrival["event"])
        leaf = base64.b64decode(arrival["leaf"]).replace(b'"tester"', b'"someone else"')
        arrival["leaf"] = base64.b64encode(leaf).decode()
        return json.dumps(records, indent=1).encode()

    keeping(monkeypatch, lambda b: edit_file(b, "custody/events.json", collector_renamed))
    again = relayed(locker, receiver, package, tmp_path)
    found = both_fail(again, receiver.public_key)
    named_in_both(
        found,
        f"{bundle_path(again).relative_to(again / 'data')}: event {target[0]}: "
        "inclusion proof does not lead to the checkpoint root",
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_prior_leg_dropped_from_the_package_fails(
    locker: Locker, receiver: Locker, tmp_path: Path
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    again = relayed(locker, receiver, package, tmp_path)
    gone = bundle_path(again).relative_to(again / "data").as_posix()
    shutil.rmtree(again / "data" / prior.FOLDER)
    for path in again.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    bagit.Bag(str(again)).save(manifests=True)
    named_in_both(both_fail(again, receiver.public_key), f"{gone}: missing")


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_prior_leg_the_exporter_leaves_out_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    monkeypatch.setattr(prior, "named", lambda events: {})
    again = relayed(locker, receiver, package, tmp_path)
    assert not (again / "data" / prior.FOLDER).exists()
    named_in_both(both_fail(again, receiver.public_key), "which the package does not carry")


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_prior_leg_from_another_package_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    other, _ = sent(locker, tmp_path, "other", 3)
    other_bundle = prior.bundle(other, json.loads((other / "data" / "package.json").read_text()))
    keeping(monkeypatch, lambda b: b.update(json.loads(other_bundle)))
    again = relayed(locker, receiver, package, tmp_path)
    found = both_fail(again, receiver.public_key)
    named_in_both(found, "the import names another checkpoint than the sender's in the bundle")
    named_in_both(found, "is not among what the sender's export sent")


def resigned(bundle: dict[str, Any], sender: bytes, forger: Ed25519PrivateKey) -> None:
    note = base64.b64decode(bundle["files"]["custody/checkpoint.txt"]).decode()
    old = open_checkpoint(note, sender)
    forged = sign(forger, old.origin, old.tree_size, old.root, old.time)
    text = forged.signed_note(public_key_of(forger)).encode()
    bundle["files"]["custody/checkpoint.txt"] = base64.b64encode(text).decode()


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_prior_leg_under_a_replaced_sender_key_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    forger = Ed25519PrivateKey.generate()

    def replaced(bundle: dict[str, Any]) -> None:
        resigned(bundle, locker.public_key, forger)
        bundle["public_key"] = public_key_of(forger).hex()

    keeping(monkeypatch, replaced)
    again = relayed(locker, receiver, package, tmp_path)
    named_in_both(
        both_fail(again, receiver.public_key),
        f"its key is not the sender's key recorded at import ({fingerprint(locker.public_key)})",
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_prior_checkpoint_signed_by_another_key_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    keeping(monkeypatch, lambda b: resigned(b, locker.public_key, Ed25519PrivateKey.generate()))
    again = relayed(locker, receiver, package, tmp_path)
    named_in_both(
        both_fail(again, receiver.public_key),
        "custody/checkpoint.txt: signature does not verify",
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_bundle_naming_a_file_outside_custody_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    keeping(monkeypatch, lambda b: b["files"].update({"custody/../../escape.txt": "eA=="}))
    again = relayed(locker, receiver, package, tmp_path)
    named_in_both(both_fail(again, receiver.public_key), "outside custody/")
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize(
    "path",
    [
        "custody/prior/../../../etc/passwd",
        "custody/prior/sender/not-a-hash.json",
        f"custody/prior/.hidden/{'a' * 64}.json",
        f"items/{'a' * 64}.json",
    ],
)
def test_an_export_record_naming_an_odd_prior_path_is_malformed(path: str) -> None:
    from docket.disclose._check_custody import Malformed, _export_record

    details = {
        "profile": "court",
        "recipient": None,
        "items": [],
        "files": [{"path": path, "size": 1, "sha256": "a" * 64}],
        "prior": [path],
        "events": [],
        "events_left_out": 0,
        "proofs": {"timestamp": False, "previous": None},
    }
    with pytest.raises(Malformed, match="names prior custody"):
        _export_record(7, {"details": details, "time": "2026-01-01T00:00:00Z"})
    assert not verify_package.PRIOR_PATH.fullmatch(path)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_the_senders_timestamp_is_checked_against_the_receivers_roots(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_authority() as (url, root):
        monkeypatch.setenv("DOCKET_TSA_URL", url)
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(root))
        package, _ = sent(locker, tmp_path, "first", 1)
        monkeypatch.delenv("DOCKET_TSA_URL")
        roots = trusted_roots(root)
        again = relayed(locker, receiver, package, tmp_path, roots)
    report = check(again, receiver.public_key, roots)
    assert report.intact, report.failures
    [detail] = [c[2] for c in report.checks if c[0].startswith("prior custody")]
    assert "stamped by " in detail and "Docket Test TSA" in detail
    with running_authority() as (_, stranger):  # a TSA the receiver does not trust
        distrusted = check(again, receiver.public_key, trusted_roots(stranger))
    assert any(
        f.startswith(f"{bundle_path(again).relative_to(again / 'data')}: custody/checkpoint.tsr")
        for f in distrusted.failures
    ), distrusted.failures


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_prior_leg_without_its_token_fails(
    locker: Locker, receiver: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_authority() as (url, root):
        monkeypatch.setenv("DOCKET_TSA_URL", url)
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(root))
        package, _ = sent(locker, tmp_path, "first", 1)
        monkeypatch.delenv("DOCKET_TSA_URL")
        keeping(monkeypatch, lambda b: b["files"].pop("custody/checkpoint.tsr"))
        roots = trusted_roots(root)
        again = relayed(locker, receiver, package, tmp_path, roots)
    report = check(again, receiver.public_key, roots)
    assert "custody/checkpoint.tsr: missing" in " ".join(report.failures)
    code, problems, *_ = verify_package.verify(again, receiver.public_key.hex())
    assert code == 1 and "custody/checkpoint.tsr: missing" in " ".join(problems)


def test_import_takes_the_receivers_tsa_roots(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    with running_authority() as (url, root):
        monkeypatch.setenv("DOCKET_TSA_URL", url)
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(root))
        package, _ = sent(locker, tmp_path, "first", 1)
        monkeypatch.delenv("DOCKET_TSA_URL")
        receiver = tmp_path / "receiver-cli"
        assert cli("init", receiver).code == 0
        key = locker.public_key.hex()
        untrusted = cli("import", package, "--locker", receiver, "--key", key)
        assert untrusted.code == 1 and untrusted.err.count("\n") == 1, untrusted.err
        assert "custody/checkpoint.tsr" in untrusted.err and "nothing was imported" in untrusted.err
        done = cli("import", package, "--locker", receiver, "--key", key, "--tsa-root", root)
        assert done.code == 0, done.err
        assert "the sender's custody kept as" in done.out


def test_an_import_from_before_prior_custody_is_said_to_be_not_checked(tmp_path: Path) -> None:
    from docket.disclose._check_custody import ExportRecord
    from docket.disclose._check_prior import NAME, check_prior
    from docket.disclose.check import CheckReport

    report = CheckReport()
    record = ExportRecord(9, "", "court", None, ["a" * 64], {}, {3: "b" * 64}, 8, False, None, [])
    imported = {"package": {"sender_origin": "docket.locker/x", "sender_key": "confirmed"}}
    events = {
        3: {
            "seq": 3,
            "action": "item.acquired",
            "item": "a" * 64,
            "details": {"acquisition": imported},
        }
    }
    check_prior(tmp_path, record, events, report)
    assert report.checks == [
        (
            NAME,
            None,
            "1 arrival(s) imported before Docket kept the sender's custody: their sender's leg "
            "is not in the package",
        )
    ]


def test_an_export_whose_prior_leg_is_gone_from_the_store_stops_with_a_reason(
    locker: Locker, receiver: Locker, tmp_path: Path
) -> None:
    package, _ = sent(locker, tmp_path, "first", 1)
    relayed(locker, receiver, package, tmp_path)
    [sha256] = prior.named([e for e in _events(receiver) if e.action == "item.acquired"])
    blob = receiver.store.path(sha256)
    blob.parent.chmod(0o755)
    blob.unlink()
    with receiver.engine.connect() as conn:
        items = items_of_case(conn, "Received")
    with pytest.raises(DocketError, match=f"blob {sha256}: missing from the store"):
        export(receiver, items, "court", tmp_path / "third", "registry clerk", case="Received")
    assert not (tmp_path / "third").exists()
    assert any(sha256[:12] in str(p) for p in verify(receiver).problems)


def test_a_copy_that_lost_a_prior_leg_is_named_by_the_audit(
    locker: Locker, receiver: Locker, tmp_path: Path
) -> None:
    from docket.copies.audit import audit
    from docket.copies.destination import Folder
    from docket.copies.replicate import replicate

    package, _ = sent(locker, tmp_path, "first", 1)
    relayed(locker, receiver, package, tmp_path)
    [sha256] = prior.named([e for e in _events(receiver) if e.action == "item.acquired"])
    copy = tmp_path / "copy"
    replicate(receiver, Folder(copy), "registry clerk", private_key=False)
    assert [str(p) for p in audit(receiver.path, [copy], deep=False, sample=0).problems] == []
    lost = copy / "objects" / sha256[:2] / sha256[2:]
    lost.parent.chmod(0o755)
    lost.unlink()
    found = [str(p) for p in audit(receiver.path, [copy], deep=False, sample=0).problems]
    assert any(sha256[:12] in p for p in found), found
