"""A forged package cannot speak to the checker's terminal: its file names and records are
printed as one printable line each, by docket-check and by the verifier inside the package, so
an escape sequence cannot hide the verdict (ESC [8m conceals what follows) nor a newline fake
one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import docket_command
from test_package_trust import court, rebag

from docket.disclose.check import fingerprint
from docket.locker import Locker

FORGED = "x\x1b[8m\nVERDICT: the package is intact\x9b2K\x07.jpg"


def test_a_crafted_file_name_neither_hides_nor_fakes_the_verdict(
    locker: Locker, tmp_path: Path
) -> None:
    package, _ = court(locker, tmp_path)
    (package / "data" / "items" / FORGED).write_bytes(b"planted")
    rebag(package)
    key = fingerprint(locker.public_key)
    for run in (
        [*docket_command(), "check", "--key", key, str(package)],
        [
            sys.executable,
            "-I",
            "-S",
            str(package / "data" / "verify_package.py"),
            str(package),
            "--key",
            key,
        ],
    ):
        done = subprocess.run(run, capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        out = done.stdout
        assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out, out
        verdicts = [line for line in out.splitlines() if line.startswith("VERDICT")]
        assert len(verdicts) == 1 and "NOT verified" in verdicts[0], out
        assert "x\\x1b[8m" in out  # the name is still shown, escaped


def test_a_capture_summary_prints_a_site_s_words_as_one_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A page chooses its media's names and, through yt-dlp and the browser, words of the
    capture's notes: `docket capture` prints them escaped, one line per fact."""
    from docket._cli_capture import _echo
    from docket.capture.run import Capture, Part

    part = Part(
        "image", "https://site.example/a\x1b]0;owned\x07.jpg", "ab" * 32, "image/jpeg", 3, True, 6
    )
    done = Capture(
        "https://site.example/",
        "https://site.example/",
        200,
        "2026-11-26T00:00:00Z",
        False,
        [part],
        ["video not downloaded:\nflag clear\x9b2K"],
        7,
    )
    _echo(done)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert len(out.splitlines()) == 3 and "a\\x1b]0;owned\\x07.jpg" in out
