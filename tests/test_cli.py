"""The command line, called through main(args) as a user would type it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from conftest import photo

from docket.custody import merkle
from docket.custody.checkpoint import Checkpoint


def test_init_refuses_to_reset_an_existing_locker(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "locker"
    assert cli("init", target).code == 0
    again = cli("init", target)
    assert again.code == 1
    assert (
        again.err.strip()
        == f"docket: {target}: a locker already exists here; it was left unchanged"
    )


def test_init_uses_docket_locker_variable(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DOCKET_LOCKER", str(tmp_path / "from-env"))
    assert cli("init").code == 0
    assert (tmp_path / "from-env" / "docket.json").is_file()
    key = tmp_path / "from-env" / "keys" / "signing.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_commands_without_a_locker_say_so(cli: Any, tmp_path: Path) -> None:
    result = cli("ls", "--locker", tmp_path / "none")
    assert result.code == 1 and "no locker here" in result.err and result.err[-1] == "\n"


def test_ingest_json_lines_then_ls_show_log(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    source = photo(tmp_path / "in")
    result = cli(
        "ingest",
        "--locker",
        locker,
        "--json",
        "--case",
        "North",
        "--source",
        "W-9",
        "--note",
        "handed over on a USB stick",
        source,
        tmp_path / "missing.jpg",
    )
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["type"] for line in lines] == ["file", "file", "summary"]
    assert lines[0]["status"] == "new" and lines[1]["status"] == "refused"
    assert lines[2]["new"] == 1 and lines[2]["refused"] == 1
    sha256 = lines[0]["sha256"]

    listed = cli("ls", "--locker", locker, "--case", "North", "--json").json()
    assert [row["sha256"] for row in listed] == [sha256]

    shown = cli("show", "--locker", locker, sha256[:8], "--json").json()
    assert shown["acquisitions"][0]["source"] == "W-9"
    assert shown["acquisitions"][0]["note"] == "handed over on a USB stick"
    assert shown["metadata"]["serial"] == "LK7-000417"

    events = [
        json.loads(line)
        for line in cli("log", "--locker", locker, "--item", sha256[:10], "--json").out.splitlines()
    ]
    assert [e["action"] for e in events] == [
        "item.acquired",
        "metadata.recorded",
        "previews.recorded",
        "perceptual.recorded",
        "picture-signals.recorded",
        "metadata-signals.recorded",
        "content-credentials.recorded",
    ]


def test_unknown_or_ambiguous_id(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    assert "no item" in cli("show", "--locker", locker, "abcd").err
    assert "hex digits" in cli("show", "--locker", locker, "zz").err


def test_prove_prints_a_proof_that_verifies(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    cli("ingest", "--locker", locker, photo(tmp_path / "in"))
    proof = cli("prove", "--locker", locker, "1").json()
    leaf = base64.b64decode(proof["leaf"])
    assert json.loads(leaf)["action"] == "item.acquired"
    assert merkle.verify_inclusion(
        proof["event"],
        proof["tree_size"],
        merkle.leaf_hash(leaf),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["root"]),
    )
    note = proof["checkpoint"]
    assert note.splitlines()[1] == str(proof["tree_size"])
    assert note.splitlines()[2] == base64.b64encode(bytes.fromhex(proof["root"])).decode()


def test_prove_consistency_between_checkpoints(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    cli("ingest", "--locker", locker, photo(tmp_path / "in", seed=1))
    cli("ingest", "--locker", locker, photo(tmp_path / "in2", seed=2))
    made = cli("checkpoint", "--locker", locker)
    assert made.out.startswith("checkpoint 3\n")
    proof = cli("prove", "--locker", locker, "--consistency", "1", "3").json()
    assert merkle.verify_consistency(
        proof["old_size"],
        proof["new_size"],
        bytes.fromhex(proof["old_root"]),
        bytes.fromhex(proof["new_root"]),
        [bytes.fromhex(h) for h in proof["proof"]],
    )
    backwards = cli("prove", "--locker", locker, "--consistency", "3", "1")
    assert backwards.code == 1 and "give the older one first" in backwards.err


def test_signed_note_format(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    note = cli("checkpoint", "--locker", locker).out.split("\n", 1)[1]
    body, signature_line = note.split("\n\n")
    origin, size, root, time = body.splitlines()
    dash, name, stamp = signature_line.strip().split(" ")
    assert dash == "\u2014" and name == origin and origin.startswith("docket.locker/")
    public = bytes.fromhex(cli("prove", "--locker", locker, "0").json()["public_key"])
    signature = base64.b64decode(stamp)[4:]
    checkpoint = Checkpoint(
        origin, int(size), base64.b64decode(root), time.removeprefix("time "), signature
    )
    assert checkpoint.verify(public)
    assert not Checkpoint(
        origin, int(size) + 1, checkpoint.root, checkpoint.time, signature
    ).verify(public)


def test_verify_exit_codes(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    result = cli("ingest", "--locker", locker, "--json", photo(tmp_path / "in"))
    sha256 = json.loads(result.out.splitlines()[0])["sha256"]
    ok = cli("verify", "--locker", locker)
    assert ok.code == 0 and ok.out.strip().endswith("verified: no problems")
    blob = locker / "objects" / sha256[:2] / sha256[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"replaced")
    blob.chmod(0o444)  # a writable blob is a problem of its own (blob permissions)
    bad = cli("verify", "--locker", locker, "--json")
    assert bad.code == 1
    report = bad.json()
    assert report["ok"] is False
    assert [p["subject"] for p in report["problems"]] == [f"item {sha256[:16]}"]
