"""What commands print (issue 18): redact counts regions and frames, not boxes, and the
commands that print results take --json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from conftest import photo

from docket._samples import write_video
from docket.disclose.check import UNCONFIRMED


def ingested(cli: Any, tmp_path: Path, *files: Path) -> Path:
    locker = tmp_path / "locker"
    assert cli("init", locker).code == 0
    assert cli("ingest", "--locker", locker, "--case", "North", *files).code == 0
    return locker


def test_redact_says_one_region_over_its_frames(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    locker = ingested(cli, tmp_path, write_video(tmp_path / "v" / "clip.mp4", seconds=4))
    item = cli("ls", "--locker", locker, "--json").json()[0]["sha256"][:10]
    args = ["redact", "--locker", locker, item, "--region", "10,10,60,40"]
    done = cli(*args, "--from", "1.5", "--to", "3.5")
    assert done.code == 0, done.err
    assert "covered 1 region over 30 frames" in done.out  # 15 fps: frames 23 to 52
    again = cli(*args, "--from", "1.5", "--to", "3.5", "--method", "fill", "--json").json()
    assert (again["regions"], again["frames"]) == (1, 30)
    shown = cli("show", "--locker", locker, item).out.splitlines()
    copies = [line for line in shown if line.startswith("copy ")]
    assert len(copies) == 2 and all(" redacted " in line for line in copies)
    assert "publication  no copy approved (docket approve)" in shown
    assert any(line.startswith("keyframes") and "(at 0, 0.267, 0.533," in line for line in shown)


def test_redact_of_a_picture_counts_regions(cli: Any, tmp_path: Path) -> None:
    locker = ingested(cli, tmp_path, photo(tmp_path / "in"))
    item = cli("ls", "--locker", locker, "--json").json()[0]["sha256"][:10]
    regions = ["--region", "10,10,60,40", "--region", "100,100,20,20"]
    done = cli("redact", "--locker", locker, item, *regions)
    assert done.code == 0 and "covered 2 regions; metadata stripped" in done.out


def test_flag_and_export_take_json(cli: Any, tmp_path: Path) -> None:
    locker = ingested(cli, tmp_path, photo(tmp_path / "in"))
    item = cli("ls", "--locker", locker, "--json").json()[0]["sha256"]
    flagged = cli("flag", "--locker", locker, item[:10], "sensitive", "--json").json()
    assert flagged["item"] == item and flagged["flag"] == "sensitive" and flagged["case"] == "North"
    out = tmp_path / "court"
    exported = cli(
        "export", "--locker", locker, "--case", "North", "--profile", "court", "-o", out, "--json"
    )
    assert exported.code == 0, exported.err
    summary = json.loads(exported.out)
    assert summary["items"] == [item] and summary["left_out"] == []
    assert summary["fingerprint"].startswith("SHA256:")
    carried = hashlib.sha256((out / "data" / "verify_package.py").read_bytes()).hexdigest()
    assert summary["verifier_sha256"] == carried  # what the recipient compares before running it
    plain = cli(
        "export", "--locker", locker, "--case", "North", "--profile", "court", "-o", tmp_path / "2"
    )
    assert plain.code == 0, plain.err
    assert plain.out.strip().endswith(f"SHA-256 {carried} (send both apart from the package)")
    checked = cli("check", out, "--json")
    assert checked.code == UNCONFIRMED  # consistent; no --key given to confirm the signer
    assert isinstance(json.loads(checked.out), dict)
