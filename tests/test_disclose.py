"""Export, the offline checker, import, and RFC 3161 timestamps from a real local TSA."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FACTS, photo, take
from media import sample
from PIL import Image
from tsa import running_authority

from docket._samples import exif_for
from docket.analyse.batch import run_step
from docket.catalogue import queries
from docket.custody import log
from docket.disclose.check import CheckReport, check
from docket.disclose.importer import import_package
from docket.disclose.package import export
from docket.disclose.timestamps import trusted_roots
from docket.locker import Locker
from docket.protect import approval
from docket.protect.faces import FaceDetector
from docket.protect.steps import RedactStep, StripStep
from docket.scope import for_locker
from docket.verify import verify


@pytest.fixture
def authority(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    with running_authority() as (url, root):
        monkeypatch.setenv("DOCKET_TSA_URL", url)
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(root))
        yield url, root


def astronaut_with_gps(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "astronaut.jpg"
    sample("astronaut").save(path, "JPEG", quality=95, exif=exif_for(FACTS))
    return path


def court_package(locker: Locker, tmp_path: Path, name: str = "court") -> tuple[Path, list[str]]:
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


def failures(report: CheckReport) -> list[str]:
    assert not report.ok
    return report.failures


def test_court_package_is_a_valid_bag_that_checks(locker: Locker, tmp_path: Path) -> None:
    import bagit

    package, items = court_package(locker, tmp_path)
    bagit.Bag(str(package)).validate()
    report = check(package)
    assert report.ok, report.failures
    manifest = json.loads((package / "data" / "package.json").read_text())
    assert {e["item"] for e in manifest["items"]} == set(items)
    for entry in manifest["items"]:
        assert (package / "data" / entry["file"]).read_bytes() == locker.store.path(
            entry["item"]
        ).read_bytes()
        meta = json.loads((package / "data" / entry["metadata"]).read_text())
        assert meta["acquisitions"][0]["source"] == "W-17"
        assert meta["metadata"]["normalised"]["serial"] == "LK7-000417"
    assert "Tribunal registry" in (package / "data" / "report.html").read_text()
    pdf = (package / "data" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    with locker.engine.connect() as conn, conn.begin():
        last, sealed = list(log.events(conn))[-2:]
    assert last.action == "package.exported" and sealed.action == "checkpoint.made"
    assert last.details["recipient"] == "Tribunal registry"
    assert sorted(last.details["items"]) == sorted(items)
    assert verify(locker).ok


def test_checker_runs_without_the_locker_code(locker: Locker, tmp_path: Path) -> None:
    package, _ = court_package(locker, tmp_path)
    probe = (
        "import sys\n"
        "from docket.disclose.check import main\n"
        "code = main([sys.argv[1], '--key', sys.argv[2]])\n"
        "loaded = [m for m in sys.modules if m.startswith(('sqlalchemy', 'docket.store', "
        "'docket.catalogue', 'docket.locker', 'docket.analyse', 'docket.ingest'))]\n"
        "assert not loaded, loaded\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(package), locker.public_key.hex()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERDICT: the package is intact" in done.stdout


def rewrite(path: Path, change: Any) -> None:
    path.chmod(0o644)
    change(path)


def test_changed_byte_in_a_file(locker: Locker, tmp_path: Path) -> None:
    package, items = court_package(locker, tmp_path)
    target = next((package / "data" / "items" / items[0]).glob("*.jpg"))
    data = bytearray(target.read_bytes())
    data[1000] ^= 1
    rewrite(target, lambda p: p.write_bytes(bytes(data)))
    found = failures(check(package))
    relative = f"items/{items[0]}/{target.name}"
    assert any(relative in f and "not what the custody log recorded" in f for f in found)
    assert any(f.startswith("bag:") and relative in f for f in found)


def test_added_and_removed_files(locker: Locker, tmp_path: Path) -> None:
    package, items = court_package(locker, tmp_path)
    (package / "data" / "items" / "extra.jpg").write_bytes(b"planted")
    target = next((package / "data" / "items" / items[1]).glob("*.jpg"))
    target.unlink()
    found = failures(check(package))
    assert any("extra.jpg" in f for f in found)
    assert any(f == f"items/{items[1]}/{target.name}: missing" for f in found)


def test_changed_metadata_even_with_the_bag_rebuilt(locker: Locker, tmp_path: Path) -> None:
    import bagit

    package, items = court_package(locker, tmp_path)
    meta_path = package / "data" / "items" / items[0] / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["acquisitions"][0]["source"] = "someone else"
    meta_path.write_text(json.dumps(meta))
    assert any("metadata.json" in f for f in failures(check(package)))
    bag = bagit.Bag(str(package))
    bag.save(manifests=True)  # a forger who re-computes the bag's manifests
    found = failures(check(package))
    assert found == [
        f"items/{items[0]}/metadata.json: differs from the signed export record",
        f"items/{items[0]}/metadata.json: acquisition of event "
        f"{meta['acquisitions'][0]['event']} differs from the custody log in source",
    ]


def test_swapped_and_truncated_proofs(locker: Locker, tmp_path: Path) -> None:
    package, _ = court_package(locker, tmp_path)
    events_path = package / "data" / "custody" / "events.json"
    records = json.loads(events_path.read_text())
    records[0]["audit_path"], records[1]["audit_path"] = (
        records[1]["audit_path"],
        records[0]["audit_path"],
    )
    records[2]["audit_path"] = records[2]["audit_path"][:-1]
    events_path.write_text(json.dumps(records, indent=1))
    found = failures(check(package))
    for record in records[:3]:
        assert (
            f"event {record['event']}: inclusion proof does not lead to the checkpoint root"
            in found
        )


def test_forged_checkpoint(locker: Locker, tmp_path: Path) -> None:
    package, _ = court_package(locker, tmp_path)
    note_path = package / "data" / "custody" / "checkpoint.txt"
    lines = note_path.read_text().split("\n")
    lines[1] = str(int(lines[1]) + 1)
    note_path.write_text("\n".join(lines))
    found = failures(check(package))
    assert "custody/checkpoint.txt: signature does not verify (forged or altered)" in found


def test_expected_key_is_compared(locker: Locker, tmp_path: Path) -> None:
    package, _ = court_package(locker, tmp_path)
    assert check(package, key=locker.public_key).ok
    found = failures(check(package, key=bytes(32)))
    assert "checkpoint: signed with another key than the one you expected" in found


def test_timestamp_from_a_real_local_tsa(
    locker: Locker, tmp_path: Path, authority: tuple[str, Path], cli: Any
) -> None:
    package, _ = court_package(locker, tmp_path)
    report = check(package, locker.public_key, trusted_roots(authority[1]))
    assert report.intact, report.failures
    [stamped] = [c for c in report.checks if c[0].startswith("RFC 3161 timestamp")]
    assert stamped[1] is True and stamped[2].startswith("CN=Docket Test TSA, serial ")
    result = cli("timestamp", "--locker", locker.path)
    assert result.code == 0 and "timestamped by http://127.0.0.1:" in result.out


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's checks, not the catalogue
def test_token_for_another_checkpoint_is_caught(
    locker: Locker, tmp_path: Path, authority: tuple[str, Path]
) -> None:
    first, _ = court_package(locker, tmp_path, "first")
    take(locker, photo(tmp_path / "more", "c.jpg", 3))
    second = tmp_path / "second"
    export(locker, [o["sha256"] for o in _all(locker)], "court", second, "tester")
    token = second / "data" / "custody" / "checkpoint.tsr"
    token.chmod(0o644)
    shutil.copyfile(first / "data" / "custody" / "checkpoint.tsr", token)
    found = failures(check(second, tsa_roots=trusted_roots(authority[1])))
    assert any(
        f.startswith("custody/checkpoint.tsr: timestamp token does not verify") for f in found
    )


def _all(locker: Locker) -> list[dict[str, Any]]:
    with locker.engine.connect() as conn, conn.begin():
        return queries.list_items(conn)


def test_consistency_with_the_previous_export(locker: Locker, tmp_path: Path) -> None:
    court_package(locker, tmp_path, "first")
    take(locker, photo(tmp_path / "more", "c.jpg", 3))
    second = tmp_path / "second.zip"
    export(locker, [o["sha256"] for o in _all(locker)], "court", second, "tester")
    report = check(second)
    assert report.ok, report.failures
    [consistency] = [c for c in report.checks if c[0] == "consistency with the previous export"]
    assert consistency[1] is True


@pytest.mark.parametrize("backend", ["sqlite"])  # the published bytes: metadata and faces
def test_publication_has_no_original_no_identifying_metadata_and_no_face(
    backend: str, locker: Locker, tmp_path: Path
) -> None:
    source = astronaut_with_gps(tmp_path / "in")
    sha256 = take(locker, source).outcomes[0].sha256 or ""
    other = take(locker, photo(tmp_path / "in2", "street.jpg", 5)).outcomes[0].sha256 or ""
    for item, step in ((sha256, RedactStep(faces=True)), (other, StripStep())):
        [(_, blob)] = run_step(locker, item, "image/jpeg", step, "tester").stored
        with locker.engine.connect() as conn, conn.begin():
            view = for_locker(conn, item, None)
            approval.approve(conn, "tester", item, blob.digest.sha256, view)
    package = tmp_path / "publication"
    summary = export(
        locker, [sha256, other], "publication", package, "tester", recipient="newsroom"
    )
    assert summary.items == [sha256, other] and summary.left_out == []
    assert check(package).ok
    originals = {locker.store.path(s).read_bytes() for s in (sha256, other)}
    detector = FaceDetector()
    for path in (package / "data").rglob("*"):
        if path.is_file():
            assert path.read_bytes() not in originals, path
        if path.suffix in (".jpg", ".png"):
            groups = json.loads(
                subprocess.run(
                    ["exiftool", "-j", "-G1", str(path)], capture_output=True, text=True, check=True
                ).stdout
            )[0]
            assert not [k for k in groups if k.split(":")[0] in ("GPS", "ExifIFD", "IFD0")]
            bgr = np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1].copy()
            assert detector.detect(bgr) == [], path
    text = " ".join(p.read_text() for p in (package / "data").rglob("*.json"))
    assert "LK7-000417" not in text and "33.50" not in text and "W-17" not in text


def test_import_continues_the_chain_of_custody(
    locker: Locker, tmp_path: Path, backend: str
) -> None:
    package, items = court_package(locker, tmp_path)
    with Locker.create(tmp_path / "receiver") as receiver:
        summary = import_package(
            receiver, package, "registry clerk", case="Received", key=locker.public_key
        )
        assert sorted(summary.new) == sorted(items)
        with receiver.engine.connect() as conn, conn.begin():
            acquisition = queries.describe_item(conn, items[0])["acquisitions"][0]
            [event] = [e for e in log.events(conn, items[0]) if e.action == "item.acquired"]
        assert acquisition["method"] == "package"
        facts = event.details["acquisition"]["package"]
        assert facts["sender_public_key"] == locker.public_key.hex()
        assert (
            facts["checkpoint_root"]
            == base64.b64decode(
                (package / "data" / "custody" / "checkpoint.txt").read_text().split("\n")[2]
            ).hex()
        )
        assert verify(receiver).ok


def test_import_refuses_a_package_that_does_not_verify(locker: Locker, tmp_path: Path) -> None:
    from docket.errors import DocketError

    package, _ = court_package(locker, tmp_path)
    (package / "data" / "items" / "extra.jpg").write_bytes(b"planted")
    with Locker.create(tmp_path / "receiver") as receiver:
        with pytest.raises(DocketError, match="does not verify"):
            import_package(receiver, package, "registry clerk", key=locker.public_key)
        assert _all(receiver) == []


def test_export_and_check_stream_large_files(tmp_path: Path) -> None:
    """A 512 MiB item (more than the whole memory allowed) goes through export (copy, BagIt's
    SHA-256 and SHA-512) and check in flat memory (the issue's 5 GB case is the same loops,
    only longer)."""
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(512 << 20)
    script = (
        "import sys\n"
        "from docket.cli import main\n"
        "locker, big, out = sys.argv[1:]\n"
        "assert main(['init', locker]) == 0\n"
        "assert main(['ingest', '--locker', locker, '--defer-analysis', big]) == 0\n"
        "from docket.locker import Locker\n"
        "from docket.catalogue import queries\n"
        "with Locker.open(__import__('pathlib').Path(locker)) as lk:\n"
        "    with lk.engine.connect() as c, c.begin():\n"
        "        item = queries.list_items(c)[0]['sha256']\n"
        "    key = lk.public_key.hex()\n"
        "assert main(['export', '--locker', locker, '--profile', 'court', '-o', out, item]) == 0\n"
        "assert main(['check', out, '--key', key]) == 0\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK', hwm.split()[1])\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tmp_path / "locker"),
            str(big),
            str(tmp_path / "package.zip"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    peak = int(done.stdout.rsplit("PEAK", 1)[1].split()[0])
    print(f"\npeak RSS exporting and checking a 512 MiB item: {peak / 1024:.0f} MiB")
    assert peak < 300 * 1024


def test_timestamp_token_in_the_catalogue_is_verified(
    locker: Locker, tmp_path: Path, authority: tuple[str, Path], cli: Any
) -> None:
    from sqlalchemy import update

    from docket.catalogue import schema

    take(locker, photo(tmp_path / "in"))
    assert cli("timestamp", "--locker", locker.path).code == 0
    assert verify(locker, quick=True).ok
    with locker.engine.begin() as conn:
        conn.execute(update(schema.timestamps).values(token=b"not a token"))
    [problem] = [str(p) for p in verify(locker, quick=True).problems]
    assert problem.startswith("timestamp of checkpoint ") and "token differs" in problem
