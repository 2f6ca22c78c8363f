"""Issue 11: a package a court can trust. Each test changes one thing in a real exported
package (regenerating the bag's manifests as a forger would) and expects a named failure,
or checks where trust comes from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from conftest import photo, take
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tsa import running_authority

from docket.catalogue import queries
from docket.custody import log
from docket.disclose import verify_package
from docket.disclose.check import UNCONFIRMED, CheckReport, check, fingerprint, main, render
from docket.disclose.importer import import_package
from docket.disclose.package import STAGING, export
from docket.disclose.timestamps import trusted_roots
from docket.errors import DocketError
from docket.locker import Locker


@pytest.fixture
def authority(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with running_authority() as (url, root):
        monkeypatch.setenv("DOCKET_TSA_URL", url)
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(root))
        yield root


def court(locker: Locker, tmp_path: Path, name: str = "court") -> tuple[Path, list[str]]:
    summary = take(
        locker,
        photo(tmp_path / "in", "a.jpg", 1),
        photo(tmp_path / "in", "b.jpg", 2),
        case="North",
        source="W-17",
    )
    items = [o.sha256 or "" for o in summary.outcomes]
    package = tmp_path / name
    export(locker, items, "court", package, "tester", recipient="Tribunal registry")
    return package, items


def rebag(package: Path) -> None:
    """What a forger does after an edit: recompute every manifest of the bag."""
    for path in package.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    bagit.Bag(str(package)).save(manifests=True)


def forged(package: Path, key: bytes | None = None) -> list[str]:
    rebag(package)
    report = check(package, key)
    assert not report.ok
    code, problems, *_ = verify_package.verify(package, None if key is None else key.hex())
    assert code == 1 and problems, "the verifier inside the package disagrees"
    return report.failures


def edit_json(path: Path, change: Any) -> None:
    path.chmod(0o644)
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value, indent=1))  # as Docket writes its proof files


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_planted_file_fails_even_with_rebuilt_manifests(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    (package / "data" / "items" / "extra.jpg").write_bytes(b"planted")
    assert "items/extra.jpg: not in the signed export record (added)" in forged(package)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_removed_item_fails_even_with_rebuilt_manifests(locker: Locker, tmp_path: Path) -> None:
    package, items = court(locker, tmp_path)
    shutil.rmtree(package / "data" / "items" / items[1])
    edit_json(
        package / "data" / "package.json",
        lambda p: p.update(items=[e for e in p["items"] if e["item"] != items[1]]),
    )
    found = forged(package)
    assert (
        f"items/{items[1]}/metadata.json: missing (the signed export record says the package "
        "has it)" in found
    )
    assert "package.json: differs from the signed export record" in found


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_metadata_result_edit_fails(locker: Locker, tmp_path: Path) -> None:
    package, items = court(locker, tmp_path)
    name = f"items/{items[0]}/metadata.json"
    edit_json(
        package / "data" / name, lambda m: m["metadata"]["normalised"].update(serial="forged")
    )
    found = forged(package)
    assert f"{name}: differs from the signed export record" in found
    assert f"{name}: its metadata differs from the proven logged result" in found


@pytest.mark.parametrize(
    ("field", "value"), [("sha512", None), ("size", None), ("first_seen", "2020-01-01T00:00:00Z")]
)
@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_hash_size_and_first_seen_edits_fail(
    locker: Locker, tmp_path: Path, field: str, value: Any
) -> None:
    package, items = court(locker, tmp_path)
    name = f"items/{items[0]}/metadata.json"
    edit_json(package / "data" / name, lambda m: m.update({field: value}))
    found = forged(package)
    assert f"{name}: differs from the signed export record" in found
    assert f"{name}: {field} differs from the custody log" in found


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_report_edit_fails(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    report = package / "data" / "report.html"
    report.chmod(0o644)
    report.write_text(report.read_text().replace("Tribunal registry", "Someone else"))
    assert "report.html: differs from the signed export record" in forged(package)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_dropped_event_fails(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    events = package / "data" / "custody" / "events.json"
    dropped: list[int] = []
    edit_json(events, lambda records: dropped.append(records.pop(0)["event"]))
    assert f"event {dropped[0]}: in the signed export record, missing from events.json" in forged(
        package
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_removed_previous_checkpoint_fails_not_first_export(locker: Locker, tmp_path: Path) -> None:
    court(locker, tmp_path, "first")
    take(locker, photo(tmp_path / "more", "c.jpg", 3))
    with locker.engine.connect() as conn:
        items = [row["sha256"] for row in queries.list_items(conn)]
    second = tmp_path / "second"
    export(locker, items, "court", second, "tester")
    assert check(second).ok
    (second / "data" / "custody" / "previous-checkpoint.txt").unlink()
    (second / "data" / "custody" / "consistency.json").unlink()
    found = forged(second)
    assert (
        "custody/previous-checkpoint.txt: missing (the signed export record says the package "
        "has it)" in found
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_removed_token_fails(locker: Locker, tmp_path: Path, authority: Path) -> None:
    package, _ = court(locker, tmp_path)
    roots = trusted_roots(authority)
    assert check(package, locker.public_key, roots).intact
    (package / "data" / "custody" / "checkpoint.tsr").unlink()
    rebag(package)
    found = check(package, locker.public_key, roots).failures
    assert "custody/checkpoint.tsr: missing (the signed export record says it is there)" in found


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_token_of_a_tsa_the_receiver_does_not_trust_fails(
    locker: Locker, tmp_path: Path, authority: Path
) -> None:
    package, _ = court(locker, tmp_path)
    with running_authority() as (_url, other_root):
        report = check(package, locker.public_key, trusted_roots(other_root))
    [failure] = report.failures
    assert failure.startswith("custody/checkpoint.tsr: timestamp token does not verify")


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_tsa_root_carried_in_the_package_is_not_an_anchor(
    locker: Locker, tmp_path: Path, authority: Path
) -> None:
    package, _ = court(locker, tmp_path)
    assert not (package / "data" / "custody" / "tsa-root.pem").exists()
    shutil.copyfile(authority, package / "data" / "custody" / "tsa-root.pem")
    found = forged(package, locker.public_key)
    assert "custody/tsa-root.pem: not in the signed export record (added)" in found


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_every_verdict_names_the_tsa(locker: Locker, tmp_path: Path, authority: Path) -> None:
    package, _ = court(locker, tmp_path)
    report = check(package, locker.public_key, trusted_roots(authority))
    assert report.tsa is not None and report.tsa.startswith("CN=Docket Test TSA, serial ")
    assert f"TSA:         {report.tsa}" in render(report)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_unconfirmed_signer_has_its_own_verdict_and_exit_code(
    locker: Locker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package, _ = court(locker, tmp_path)
    assert main([str(package)]) == UNCONFIRMED
    out = capsys.readouterr().out
    assert "signer is UNCONFIRMED" in out and fingerprint(locker.public_key) in out
    assert main([str(package), "--key", locker.public_key.hex()]) == 0
    assert main([str(package), "--key", fingerprint(locker.public_key)]) == 0
    assert main([str(package), "--key", "00" * 32]) == 1
    capsys.readouterr()
    assert main([str(package), "--key", "not-a-key"]) == 2


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_key_file_hex_or_pem(locker: Locker, tmp_path: Path, cli: Any) -> None:
    package, _ = court(locker, tmp_path)
    hex_file = tmp_path / "sender.pub"
    hex_file.write_text(cli("key", "--locker", locker.path).out)
    pem_file = tmp_path / "sender.pem"
    pem_file.write_bytes(
        locker.signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for key_file in (hex_file, pem_file):
        assert cli("check", package, "--key", key_file).code == 0
    assert cli("key", "--locker", locker.path, "--fingerprint").out.strip() == fingerprint(
        locker.public_key
    )


def test_check_and_import_speak_json_and_check_has_help(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    package, items = court(locker, tmp_path)
    result = cli("check", package, "--json")
    assert result.code == UNCONFIRMED
    assert result.json()["verdict"] == "unconfirmed signer"
    done = subprocess.run(
        [sys.executable, "-m", "docket.disclose.check", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "exit codes:" in done.stdout and "--tsa-root" in done.stdout
    receiver = tmp_path / "receiver"
    assert cli("init", receiver).code == 0
    imported = cli(
        "import", package, "--locker", receiver, "--key", locker.public_key.hex(), "--json"
    )
    assert imported.code == 0, imported.err
    assert sorted(imported.json()["new"]) == sorted(items)
    with Locker.open(receiver) as opened:
        assert opened.store.has(imported.json()["prior_custody"])
    installed = Path(sys.executable).parent / "docket-check"
    helped = subprocess.run([installed, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "the package: its folder or its .zip" in helped.stdout


def test_import_needs_a_key_or_an_explicit_trust(locker: Locker, tmp_path: Path) -> None:
    package, items = court(locker, tmp_path)
    with Locker.create(tmp_path / "receiver") as receiver:
        with pytest.raises(DocketError, match="--trust-new-key"):
            import_package(receiver, package, "clerk")
        with pytest.raises(DocketError, match="signed with another key"):
            import_package(receiver, package, "clerk", key=bytes(32))
        import_package(receiver, package, "clerk", trust_new_key=True)
        with receiver.engine.connect() as conn:
            [event] = [e for e in log.events(conn, items[0]) if e.action == "item.acquired"]
        assert event.details["acquisition"]["package"]["sender_key"] == "trusted as new"


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_string_event_number_is_a_named_failure(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    edit_json(
        package / "data" / "custody" / "events.json",
        lambda records: records[0].update(event=str(records[0]["event"])),
    )
    assert "events.json entry 0: event number: not of the expected type" in forged(package)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_non_hex_public_key_is_a_named_failure(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    edit_json(package / "data" / "package.json", lambda p: p.update(public_key="zz" * 32))
    assert "package.json: public_key is not a hex Ed25519 key" in forged(package)


def test_zip_without_its_wrapper_folder_fails_check_and_import(
    locker: Locker, tmp_path: Path
) -> None:
    package, _ = court(locker, tmp_path)
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as bundle:
        for path in sorted(package.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(package).as_posix())
    [failure] = check(flat).failures
    assert failure.endswith("the zip does not hold exactly one package folder")
    with (
        Locker.create(tmp_path / "receiver") as receiver,
        pytest.raises(DocketError, match="exactly one package folder"),
    ):
        import_package(receiver, flat, "clerk", key=locker.public_key)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_bag_declares_bagit_1_0(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    assert (package / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    assert bagit.Bag(str(package)).is_valid()


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_fetch_txt_is_refused(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    (package / "fetch.txt").write_text("https://example.org/x 7 data/x\n")
    assert "bag: fetch.txt: a package must hold its files, not fetch them" in forged(package)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_file_missing_from_one_of_two_manifests_fails(locker: Locker, tmp_path: Path) -> None:
    package, items = court(locker, tmp_path)
    manifest = package / "manifest-sha512.txt"
    name = f"data/items/{items[0]}/metadata.json"
    manifest.chmod(0o644)
    manifest.write_text(
        "".join(line for line in manifest.read_text().splitlines(True) if name not in line)
    )
    found = check(package).failures
    assert f"bag: {name}: not in manifest-sha512.txt" in found


def test_replaced_blob_stops_export_and_leaves_nothing(locker: Locker, tmp_path: Path) -> None:
    summary = take(locker, photo(tmp_path / "in", "a.jpg", 1))
    item = summary.outcomes[0].sha256 or ""
    blob = locker.store.path(item)
    blob.chmod(0o644)
    blob.write_bytes(b"the original was swapped on disk")
    output = tmp_path / "out" / "pkg.zip"
    output.parent.mkdir()
    with pytest.raises(DocketError, match=f"blob {item}: its bytes on disk hash to"):
        export(locker, [item], "court", output, "tester")
    assert list(output.parent.iterdir()) == []
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "package.exported"]


def test_staging_of_a_dead_export_is_removed(locker: Locker, tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    leftover = tmp_path / STAGING / f"{dead.stdout.strip()}-export-0a1b2c"
    (leftover / "data").mkdir(parents=True)
    (leftover / "data" / "original.jpg").write_bytes(b"a copy of an original")
    os.utime(leftover, (0, 0))
    court(locker, tmp_path)
    assert not (tmp_path / STAGING).exists()


def test_export_is_logged_before_its_checkpoint(locker: Locker, tmp_path: Path) -> None:
    package, _ = court(locker, tmp_path)
    record = json.loads((package / "data" / "custody" / "export.json").read_text())
    with locker.engine.connect() as conn:
        event = log.get(conn, record["event"])
    assert event is not None and event.action == "package.exported"
    listed = {f["path"] for f in event.details["files"]}
    assert {"package.json", "report.html", "report.pdf"} <= listed
    report: CheckReport = check(package, locker.public_key)
    assert report.intact, report.failures


def test_export_refuses_an_untrusted_tsa_before_logging(
    locker: Locker, tmp_path: Path, authority: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKET_TSA_URL without DOCKET_TSA_ROOT: the test TSA is in no system store, so its
    token would fail the package's own check; the export is refused, nothing logged."""
    monkeypatch.delenv("DOCKET_TSA_ROOT")
    item = take(locker, photo(tmp_path / "in", "a.jpg", 1)).outcomes[0].sha256 or ""
    output = tmp_path / "out.zip"
    with pytest.raises(DocketError, match="set DOCKET_TSA_ROOT"):
        export(locker, [item], "court", output, "tester")
    assert not output.exists()
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "package.exported"]


def test_tsa_answer_is_verified_when_received(
    locker: Locker, tmp_path: Path, authority: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    take(locker, photo(tmp_path / "in", "a.jpg", 1))
    assert cli("timestamp", "--locker", locker.path).code == 0
    with running_authority() as (_url, other_root):
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(other_root))
        refused = cli("timestamp", "--locker", locker.path)
    assert refused.code == 1 and "answer refused: timestamp token does not verify" in refused.err
    with locker.engine.connect() as conn:
        stamped = [e for e in log.events(conn) if e.action == "checkpoint.timestamped"]
    assert len(stamped) == 1 and stamped[0].details["signer"] == "CN=Docket Test TSA"


def test_verifier_inside_the_package_needs_only_the_standard_library(
    locker: Locker, tmp_path: Path
) -> None:
    package, _ = court(locker, tmp_path)
    verifier = package / "data" / "verify_package.py"
    run = [sys.executable, "-I", "-S", str(verifier), str(package)]
    assert subprocess.run(run, capture_output=True, check=False).returncode == UNCONFIRMED
    confirmed = subprocess.run(
        [*run, "--key", fingerprint(locker.public_key)], capture_output=True, text=True, check=False
    )
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert "VERDICT: intact" in confirmed.stdout
    time = (package / "data" / "custody" / "checkpoint.txt").read_text().split("\n")[3][5:]
    assert f"signed export checkpoint: {locker.origin}, size " in confirmed.stdout
    assert f", time {time} (the sender's clock" in confirmed.stdout  # as the report says
    (package / "data" / "report.html").chmod(0o644)
    (package / "data" / "report.html").write_text("edited")
    rebag(package)
    edited = subprocess.run(
        [*run, "--key", locker.public_key.hex()], capture_output=True, text=True, check=False
    )
    assert edited.returncode == 1 and "report.html: differs" in edited.stdout


def test_tsa_time_before_the_checkpoint_time_fails(tmp_path: Path) -> None:
    """A checkpoint that claims a later time than the TSA saw it is caught."""
    from docket.custody.checkpoint import sign
    from docket.disclose._check_custody import ExportRecord, check_timestamp
    from docket.disclose.timestamps import request_token

    key = Ed25519PrivateKey.generate()
    late = sign(key, "docket.locker/test", 1, bytes(32), "2099-01-01T00:00:00Z")
    report = CheckReport()
    (tmp_path / "data" / "custody").mkdir(parents=True)
    with running_authority() as (url, root):
        token = request_token(url, late.body().encode())
        (tmp_path / "data" / "custody" / "checkpoint.tsr").write_bytes(token)
        record = ExportRecord(0, "", "court", None, [], {}, {}, 0, True, None, [])
        assert check_timestamp(tmp_path, late, record, trusted_roots(root), report)
    [failure] = report.failures
    assert "s before the time the checkpoint states" in failure


def test_each_item_shows_when_it_existed_by(
    locker: Locker, tmp_path: Path, authority: Path, cli: Any
) -> None:
    early = take(locker, photo(tmp_path / "in", "a.jpg", 1)).outcomes[0].sha256 or ""
    assert cli("timestamp", "--locker", locker.path).code == 0
    later = take(locker, photo(tmp_path / "in2", "b.jpg", 2)).outcomes[0].sha256 or ""
    package = tmp_path / "court"
    export(locker, [early, later], "court", package, "tester")
    report = check(package, locker.public_key, trusted_roots(authority))
    assert report.intact, report.failures
    [existed] = [c for c in report.checks if c[0].startswith("existed by")]
    assert existed[1] is True and existed[2].startswith(f"item {early[:12]} by ")
    assert later[:12] not in existed[2]  # no stamped checkpoint held it before the export
    with running_authority() as (_url, other_root):
        untrusted = check(package, locker.public_key, trusted_roots(other_root))
    [existed] = [c for c in untrusted.checks if c[0].startswith("existed by")]
    assert existed[1] is False


def test_the_stdlib_verifier_expects_the_fields_the_export_writes() -> None:
    from docket.disclose import _check_items

    assert verify_package.ARRIVAL == _check_items.ARRIVAL_FIELDS
    assert set(_check_items.ACQUISITION_FIELDS) == verify_package.ACQUISITION
    assert verify_package.COURT == _check_items.COURT_KEYS
    assert verify_package.PUBLICATION == _check_items.PUBLICATION_KEYS


def zipped_photo(tmp_path: Path) -> Path:
    """A witness's zip holding one photo under the name the camera gave it."""
    archive = tmp_path / "phone.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(photo(tmp_path / "z", "IMG_20240301_094012.jpg", 7), MEMBER)
    return archive


MEMBER = "DCIM/Camera/IMG_20240301_094012.jpg"
FORGED = "Signal/received-from-Commander-Xq.jpg"


def test_a_name_edited_in_the_catalogue_is_named_by_verify_and_never_exported(
    locker: Locker, tmp_path: Path
) -> None:
    """The shown names beside an arrival's raw bytes are the catalogue's own: an insider who
    edits them must not get a name the log never recorded into a court package."""
    from sqlalchemy import update

    from docket.catalogue import schema
    from docket.verify import verify

    summary = take(locker, zipped_photo(tmp_path), case="North")
    item = next(o.sha256 for o in summary.outcomes if o.name.endswith(".jpg")) or ""
    with locker.engine.begin() as conn:
        conn.execute(
            update(schema.acquisitions)
            .where(schema.acquisitions.c.item_sha256 == item)
            .values(path_in_container=FORGED, original_path="/evidence/forged.zip")
        )
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert any("its shown name differs from the name event" in p for p in found), found
    package = tmp_path / "court"
    export(locker, [item], "court", package, "tester", recipient="Tribunal registry")
    [acquisition] = json.loads((package / "data" / "items" / item / "metadata.json").read_text())[
        "acquisitions"
    ]
    assert acquisition["path_in_container"] == MEMBER
    assert acquisition["original_path"].endswith("phone.zip")
    assert (package / "data" / "items" / item / "IMG_20240301_094012.jpg").is_file()
    assert check(package, locker.public_key).ok


def test_a_signed_package_stating_a_name_the_log_does_not_hold_fails(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender whose catalogue lied signs the lie: the checks compare the name inside the
    container with the bytes the arrival event logged (base64), not with the signature."""
    summary = take(locker, zipped_photo(tmp_path), case="North")
    item = next(o.sha256 for o in summary.outcomes if o.name.endswith(".jpg")) or ""
    described = queries.describe_item

    def lying(*args: Any, **kwargs: Any) -> dict[str, Any]:
        detail = described(*args, **kwargs)
        for acquisition in detail["acquisitions"]:
            acquisition["path_in_container"] = FORGED
        return detail

    monkeypatch.setattr(queries, "describe_item", lying)
    package = tmp_path / "court"
    export(locker, [item], "court", package, "tester", recipient="Tribunal registry")
    report = check(package, locker.public_key)
    name = f"items/{item}/metadata.json"
    assert not report.ok
    assert any(
        f.startswith(f"{name}: acquisition of event ") and f.endswith("in path_in_container")
        for f in report.failures
    ), report.failures
    code, problems, *_ = verify_package.verify(package, locker.public_key.hex())
    assert code == 1 and f"{name}: an acquisition differs from the custody log" in problems


def test_the_package_verifier_shows_names_as_docket_does() -> None:
    import base64

    from docket.names import display_name

    for raw in (b"plain.jpg", b"a\nb\tc\x7f\x00.jpg", "صورة.jpg".encode(), b"\xff\xfe bad"):
        encoded = base64.b64encode(raw).decode()
        assert verify_package.shown_name(encoded) == display_name(raw)
    assert verify_package.shown_name(None) is None
    assert verify_package.shown_name("not base64!") != display_name(b"not base64!")


def zip_bomb(path: Path, expanded: int) -> Path:
    """A package-shaped zip whose one member of zeros expands about a thousand times."""
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle,
        bundle.open("court/data/items/zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(expanded >> 20):
            member.write(block)
    return path


def test_a_zip_bomb_is_refused_before_a_byte_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor is lowered from 1 GiB so that the bomb is small to make; the rule is the same:
    more than MOST_EXPANSION times the zip's size. Both checkers refuse it, writing nothing."""
    monkeypatch.setattr(verify_package, "BOMB_FLOOR", 8 << 20)
    bomb = zip_bomb(tmp_path / "bomb.zip", 64 << 20)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    report = check(bomb)
    assert not report.ok
    [failure] = report.failures
    assert failure.startswith(f"{bomb}: not unpacked: it would expand to 67,108,864 bytes from ")
    assert failure.endswith("more than 100 times: not a package (a zip bomb?)")
    code, problems, *_ = verify_package.verify(bomb, None)
    assert code == 1 and "not a package (a zip bomb?)" in problems[0]
    assert list(scratch.iterdir()) == []  # both scratch folders gone, nothing left behind
    fair = zip_bomb(tmp_path / "fair.zip", 4 << 20)  # under the floor: unpacked, then judged
    assert "zip bomb" not in " ".join(check(fair).failures)


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_a_package_larger_than_the_free_space_is_not_unpacked(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The free space is replaced (a disk cannot be filled for one test here): a package that
    needs more than the scratch folder has is refused with both figures and a way out."""
    court(locker, tmp_path)
    zipped = Path(shutil.make_archive(str(tmp_path / "court"), "zip", tmp_path, "court"))
    real = shutil.disk_usage

    def nearly_full(path: Any) -> Any:
        return real(path)._replace(free=1000)

    monkeypatch.setattr(shutil, "disk_usage", nearly_full)
    [failure] = check(zipped).failures
    assert failure.startswith(f"{zipped}: not unpacked: it needs ")
    assert "has 1,000 free (unzip it where there is room, or set TMPDIR)" in failure
    code, problems, *_ = verify_package.verify(zipped, None)
    assert code == 1 and "has 1,000 free" in problems[0]


def test_a_module_planted_beside_the_verifier_is_never_imported(
    locker: Locker, tmp_path: Path
) -> None:
    """`python3 data/verify_package.py` puts data/ first on the module path: a forger's json.py
    there ran before any check, while the verifier's own bytes matched the hash the sender
    gave. It starts again isolated (-I) before it imports anything."""
    package, _ = court(locker, tmp_path)
    forged = "import sys\nprint('VERDICT: intact (FORGED)')\nsys.exit(0)\n"
    for module in ("json.py", "base64.py", "__future__.py"):
        (package / "data" / module).write_text(forged)
    verifier = package / "data" / "verify_package.py"
    done = subprocess.run(
        [sys.executable, str(verifier), str(package), "--key", fingerprint(locker.public_key)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(package / "data")},
    )
    assert "FORGED" not in done.stdout + done.stderr
    assert done.returncode == 1 and "VERDICT: NOT verified" in done.stdout
    assert "data/json.py" in done.stdout or "json.py" in done.stdout  # named as added
