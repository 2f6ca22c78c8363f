"""Verification aids end to end: recorded at ingest as analysis with custody events, read back
by `docket aids`, and each picture signal right on its known case and quiet on a clean file."""

from __future__ import annotations

import subprocess
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aids_evidence import decoded, jpeg, painted, saved_twice, scene, set_thumbnails
from conftest import sign_in, take
from PIL import Image
from sqlalchemy import select

from docket.aids.steps import PictureForensicsStep
from docket.analyse.batch import run_step
from docket.analyse.sandbox import ImageWorker
from docket.catalogue import schema
from docket.locker import Locker


@pytest.fixture
def worker(tmp_path: Path) -> Any:
    found = ImageWorker(tmp_path)
    yield found
    found.close()


def findings(worker: ImageWorker, path: Path, out: Path) -> dict[str, dict[str, Any]]:
    """The picture signals of both tasks: at ingest (quick) and when asked for (thorough)."""
    quick = worker.ask({"task": "aids-quick", "path": str(path)})
    thorough = worker.ask({"task": "aids-thorough", "path": str(path), "out": str(out)})
    assert Path(thorough["error_levels"]).is_file()
    return {s["name"]: s for s in quick["signals"] + thorough["signals"]}


def test_a_clean_picture_gives_no_signal_never_authentic(
    worker: ImageWorker, tmp_path: Path
) -> None:
    path = tmp_path / "clean.jpg"
    path.write_bytes(jpeg(scene(3), 90))
    set_thumbnails([(path, scene(3))], tmp_path)
    found = findings(worker, path, tmp_path / "out")
    assert found["double-compression"]["finding"] == "no signal"
    assert found["exif-thumbnail"]["finding"] == "no signal"
    assert found["jpeg-quantisation"]["details"]["estimated_quality"] == 90
    assert found["jpeg-quantisation"]["details"]["libjpeg_standard"] is True
    assert found["error-levels"]["finding"] == "for review"
    text = str(found).lower()
    assert "authentic" not in text.replace("not mean authentic", "")


def test_a_picture_saved_twice_names_the_earlier_quality(
    worker: ImageWorker, tmp_path: Path
) -> None:
    path = tmp_path / "twice.jpg"
    path.write_bytes(saved_twice(scene(4), 60, 92))
    found = findings(worker, path, tmp_path / "out")["double-compression"]
    assert found["finding"] == "signal"
    assert abs(found["details"]["earlier_quality"] - 60) <= 3
    assert found["details"]["last_quality"] == 92


def test_an_edit_after_the_thumbnail_is_flagged(worker: ImageWorker, tmp_path: Path) -> None:
    path = tmp_path / "edited.jpg"
    path.write_bytes(jpeg(painted(scene(5)), 92))
    set_thumbnails([(path, scene(5))], tmp_path)
    found = findings(worker, path, tmp_path / "out")["exif-thumbnail"]
    assert found["finding"] == "signal"
    assert found["details"]["worst_region_difference"] > found["details"]["whole_difference"]


def test_a_png_is_not_checked_for_jpeg_signals(worker: ImageWorker, tmp_path: Path) -> None:
    path = tmp_path / "drawing.png"
    scene(6).save(path, "PNG")
    found = findings(worker, path, tmp_path / "out")
    assert found["double-compression"]["finding"] == "not checked"
    assert found["exif-thumbnail"]["finding"] == "not checked"
    assert found["error-levels"]["finding"] == "for review"


def test_a_truncated_jpeg_is_a_failed_analysis_with_its_reason(
    locker: Locker, tmp_path: Path
) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(jpeg(scene(7), 90)[:300])
    take(locker, path)
    with locker.engine.connect() as conn:
        rows = conn.execute(
            select(schema.results.c.status, schema.results.c.error).where(
                schema.results.c.step == "picture-signals"
            )
        ).all()
    assert [r.status for r in rows] == ["failed"]
    assert "cannot decode the picture" in str(rows[0].error)
    assert any(locker.store.path(d).is_file() for d in [_only_item(locker)])


def _only_item(locker: Locker) -> str:
    with locker.engine.connect() as conn:
        return str(conn.execute(select(schema.items.c.sha256)).scalar_one())


def test_ingest_records_the_aids_with_custody_events_and_cli_prints_them(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    path = tmp_path / "twice.jpg"
    path.write_bytes(saved_twice(scene(8), 55, 90))
    take(locker, path)
    item = _only_item(locker)
    with locker.engine.connect() as conn:
        actions = set(conn.execute(select(schema.events.c.action)).scalars())
    assert {"picture-signals.recorded", "metadata-signals.recorded"} <= actions
    assert "picture-forensics.recorded" not in actions  # only when asked for
    result = cli("aids", "--locker", locker.path, item[:12], "--json")
    assert result.code == 0, result.err
    with locker.engine.connect() as conn:
        actions = set(conn.execute(select(schema.events.c.action)).scalars())
    assert "picture-forensics.recorded" in actions
    shown = result.json()
    steps = {r["step"]: r for r in shown["results"]}
    signals = {s["name"]: s for s in steps["picture-forensics"]["signals"]}
    assert signals["double-compression"]["finding"] == "signal"
    assert steps["picture-signals"]["tools"]["pillow"]
    assert Path(shown["error_levels"]).is_file()
    text = cli("aids", "--locker", locker.path, item[:12])
    assert "signal      double-compression" in text.out
    assert "not a verdict" in text.out


def test_the_item_page_has_a_verification_section(world: dict[str, Any]) -> None:
    client = world["client"]
    sign_in(client, "viewer-1")
    page = client.get(f"/items/{world['north']}")
    assert page.status_code == 200
    assert "<h2>Verification</h2>" in page.text
    assert "picture-signals v2 (ok; numpy" in page.text
    assert "picture-forensics (not run" in page.text
    assert "jpeg-quantisation: libjpeg&#39;s standard tables at quality 90" in page.text
    api = client.get(f"/api/items/{world['north']}").json()
    steps = {r["step"] for r in api["verification"]}
    assert {"picture-signals", "metadata-signals", "content-credentials"} <= steps
    assert "picture-forensics" in steps


def test_the_court_report_lists_the_proven_aids_with_tool_versions(
    locker: Locker, tmp_path: Path
) -> None:
    from docket.disclose.check import check
    from docket.disclose.package import export, items_of_case

    path = tmp_path / "twice.jpg"
    path.write_bytes(saved_twice(scene(10), 50, 90))
    take(locker, path, case="Harbour")
    # Run when asked for, by the case's own collector (another person's work stays home).
    run_step(locker, _only_item(locker), "image/jpeg", PictureForensicsStep(), "tester")
    with locker.engine.connect() as conn:
        items = items_of_case(conn, "Harbour")
    out = tmp_path / "court"
    export(locker, items, "court", out, "tester", recipient="Tribunal", case="Harbour")
    assert check(out).ok
    report = (out / "data" / "report.html").read_text()
    assert "<h3>Verification aids</h3>" in report
    # a table per aid: finding (translated), check, what it found (as recorded)
    assert "<td>signal<td><b>double-compression</b><td lang=en dir=auto>saved before at" in report
    assert "<b>picture-forensics</b> version 1, ok (event" in report
    assert "pillow 13" in report and "c2pa-python " in report


def test_the_pdf_court_report_lists_the_proven_aids_with_tool_versions(
    locker: Locker, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    from docket.disclose.package import export, items_of_case

    path = tmp_path / "twice.jpg"
    path.write_bytes(saved_twice(scene(16), 50, 90))
    take(locker, path, case="Harbour")
    run_step(locker, _only_item(locker), "image/jpeg", PictureForensicsStep(), "tester")
    with locker.engine.connect() as conn:
        items = items_of_case(conn, "Harbour")
    out = tmp_path / "court"
    export(locker, items, "court", out, "tester", recipient="Tribunal", case="Harbour")
    reader = PdfReader(out / "data" / "report.pdf")
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    text = text.replace("\u200e", "").replace("\u200f", "")  # the values' direction marks
    assert "Verification aids: signals for a person to weigh, never a verdict" in text
    assert "signal double-compression saved before at about" in text
    assert "picture-forensics version 1, ok (event" in text
    pillow = package_version("pillow")
    assert f"pillow {pillow}" in text and "c2pa-python " in text
    assert "metadata-signals version 2, ok" in text and "exiftool " in text


def test_a_broken_exif_thumbnail_is_a_signal_not_a_failed_step(
    worker: ImageWorker, tmp_path: Path
) -> None:
    path = tmp_path / "broken-thumbnail.jpg"
    path.write_bytes(jpeg(scene(11), 90))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xdb" + bytes(range(256)) * 8)  # a JPEG start, then junk
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", f"-ThumbnailImage<={broken}", str(path)],
        check=True,
    )
    found = findings(worker, path, tmp_path / "out")["exif-thumbnail"]
    assert found["finding"] == "signal"
    assert "cannot be decoded" in found["summary"]


def test_tables_that_are_not_libjpegs_are_named_so(worker: ImageWorker, tmp_path: Path) -> None:
    path = tmp_path / "own-tables.jpg"
    own = [[max(1, (i * 7) % 50) for i in range(64)], [max(1, (i * 5) % 60) for i in range(64)]]
    scene(12).save(path, "JPEG", qtables=own)
    found = findings(worker, path, tmp_path / "out")["jpeg-quantisation"]
    assert found["details"]["libjpeg_standard"] is False
    assert "own tables" in found["summary"]
    assert found["details"]["tables"]["0"] == own[0]


def test_error_levels_brighten_a_region_pasted_from_an_unsaved_picture(
    worker: ImageWorker, tmp_path: Path
) -> None:
    pasted = decoded(jpeg(scene(13), 60))  # the scene, saved once at 60
    pasted.paste(scene(14).crop((0, 0, 96, 96)), (160, 96))  # never saved as a JPEG
    path = tmp_path / "pasted.jpg"
    path.write_bytes(jpeg(pasted, 95))
    findings(worker, path, tmp_path / "out")
    with Image.open(tmp_path / "out" / "error_levels.png") as levels:
        grey = np.asarray(levels, dtype=np.float32)
    inside = grey[104:184, 168:248].mean()
    outside = np.concatenate([grey[:, :150].ravel(), grey[:, 260:].ravel()]).mean()
    assert inside > 2 * outside


def test_aids_no_run_shows_what_is_recorded_and_runs_nothing(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg(scene(15), 90))
    take(locker, path)
    item = _only_item(locker)[:12]
    shown = cli("aids", "--locker", locker.path, item, "--no-run", "--json").json()
    steps = {r["step"]: r for r in shown["results"]}
    assert shown["ran"] == [] and steps["picture-forensics"]["status"] == "not run"
    assert shown["error_levels"] is None
    text = cli("aids", "--locker", locker.path, item).out
    assert "ran picture-forensics now (recorded)" in text
    again = cli("aids", "--locker", locker.path, item, "--json").json()
    assert again["ran"] == []  # recorded at its version: not run twice
