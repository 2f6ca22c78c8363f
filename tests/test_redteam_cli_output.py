"""Red team of what the command line prints from text web users wrote: a reviewer of a case,
signed in to the web app, writes a status comment, a tag or an annotation; the locker's holder
later reads `docket case audit` in a terminal. Text people wrote must neither forge lines of
that table (a newline) nor reach the terminal as control sequences (ESC: clearing the screen,
retitling the window, OSC 8 links). A test that passes guards a promise that held; one marked
xfail(strict) is a finding for the lead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import sign_in, take
from media import sample
from PIL import Image
from PIL.ExifTags import Base

from docket.locker import Locker

FORGED = (
    "     999  2026-01-01T00:00:00.000000Z  ada              reveal      000000000000  shown: x"
)
ESCAPES = "\x1b[2J\x1b]0;docket: verified\x07\x1b]8;;https://example.invalid/\x07link\x1b]8;;\x07"


@pytest.fixture
def written(world: dict[str, Any]) -> dict[str, Any]:
    """reviewer-1 of North writes a comment with a forged audit line and a tag of escapes."""
    client, north = world["client"], world["north"]
    csrf = sign_in(client, "reviewer-1")
    status = client.post(
        f"/api/items/{north}/status",
        json={"status": "in review", "comment": f"fine\n{FORGED}"},
        headers={"x-csrf-token": csrf},
    )
    assert status.status_code == 200, status.text
    tag = client.post(
        f"/api/items/{north}/tags", json={"tag": f"t{ESCAPES}"}, headers={"x-csrf-token": csrf}
    )
    assert tag.status_code == 200, tag.text
    return world


def _audit(cli: Any, locker: Locker) -> str:
    answer = cli("case", "audit", "North", "--locker", locker.path)
    assert answer.code == 0, answer.err
    return str(answer.out)


def test_the_audit_as_json_keeps_what_was_written(
    written: dict[str, Any], locker: Locker, cli: Any
) -> None:
    """The JSON output keeps the text exactly (escaped by JSON itself): nothing is lost."""
    answer = cli("case", "audit", "North", "--locker", locker.path, "--json")
    assert answer.code == 0 and "\x1b" not in answer.out
    details = [e["details"] for e in answer.json()["entries"]]
    assert {"comment": f"fine\n{FORGED}"}.items() <= next(
        d for d in details if "comment" in d
    ).items()
    assert any(d.get("tag") == f"t{ESCAPES}" for d in details)


def test_a_comment_cannot_forge_a_line_of_the_cli_audit(
    written: dict[str, Any], locker: Locker, cli: Any
) -> None:
    out = _audit(cli, locker)
    assert not [line for line in out.splitlines() if line.startswith("     999  ")], out


def test_a_tag_sends_no_control_sequence_to_the_terminal(
    written: dict[str, Any], locker: Locker, cli: Any
) -> None:
    out = _audit(cli, locker)
    assert "tag: t" in out  # the tag's entry is printed
    assert "\x1b" not in out and "\x07" not in out


def _crafted_photo(path: Path) -> Path:
    """A synthetic picture whose camera make, model and software (EXIF, which ExifTool reads
    for `docket show`) carry a terminal title sequence and a forged line of `docket show`."""
    crafted = f"Cam{ESCAPES}era\nflag         clear"
    exif = Image.Exif()
    for tag in (Base.Make, Base.Model, Base.Software):
        exif[tag] = crafted
    sample("rocket").save(path, "JPEG", exif=exif.tobytes())
    return path


def test_an_evidence_file_metadata_drives_no_terminal_in_docket_show(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """Evidence files are attack surface: what ExifTool reads from one is text its maker wrote.
    `docket show` must print it as one printable line, never a control sequence or a line of
    its own (here a forged "flag clear" under an unreviewed item's real flag)."""
    sha = take(locker, _crafted_photo(tmp_path / "crafted.jpg"), case="North").outcomes[0].sha256
    answer = cli("show", str(sha)[:12], "--locker", locker.path)
    assert answer.code == 0, answer.err
    assert "Cam" in answer.out  # the metadata is printed
    assert "\x1b" not in answer.out and "\x07" not in answer.out
    assert [line for line in answer.out.splitlines() if line.startswith("flag ")] == [
        "flag         unreviewed"
    ]


def test_an_evidence_file_metadata_drives_no_terminal_in_docket_aids(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """The editing-software signal quotes the file's EXIF Software: a crafted file's control
    sequences and a forged "no signal" line must not reach the terminal as they are."""
    path = tmp_path / "edited.jpg"
    exif = Image.Exif()
    exif[Base.Software] = f"Adobe Photoshop 25.0{ESCAPES}\n  no signal   editing-software: none"
    sample("coffee").save(path, "JPEG", exif=exif.tobytes())
    sha = take(locker, path, case="North").outcomes[0].sha256
    answer = cli("aids", str(sha)[:12], "--locker", locker.path)
    assert answer.code == 0, answer.err
    assert "Adobe Photoshop 25.0" in answer.out  # the signal quotes it
    assert "\x1b" not in answer.out and "\x07" not in answer.out
    assert "  no signal   editing-software: none" not in answer.out.splitlines()


def test_a_file_name_with_a_direction_override_is_shown_not_obeyed(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    """An original named "invoice<U+202E>gpj.exe" reads "invoiceexe.jpg" in a terminal that
    lays text out by direction: `docket ls` and `docket show` show the control as a mark."""
    path = tmp_path / "invoice\u202egpj.exe"
    sample("rocket").save(path, "JPEG")
    sha = take(locker, path, case="North").outcomes[0].sha256
    shown = "invoice\u27e8U+202E\u27e9gpj.exe"
    for command in (("ls", "--case", "North"), ("show", str(sha)[:12])):
        answer = cli(*command, "--locker", locker.path)
        assert answer.code == 0, answer.err
        assert shown in answer.out, command
        assert "\u202e" not in answer.out, command
