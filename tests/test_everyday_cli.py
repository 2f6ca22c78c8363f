"""Everyday correctness of the command line (issue 18): exit codes a script can trust, JSON
Lines every reader splits the same way, and summaries that say what happened."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from conftest import photo

from docket.cli import INGEST_NOTHING_STORED, INGEST_SOME_REFUSED
from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker
from docket.progress import Progress


def make_locker(cli: Any, tmp_path: Path) -> Path:
    locker = tmp_path / "locker"
    assert cli("init", locker).code == 0
    return locker


def test_ingest_of_a_missing_path_stores_nothing_and_says_so(cli: Any, tmp_path: Path) -> None:
    locker = make_locker(cli, tmp_path)
    result = cli("ingest", "--locker", locker, tmp_path / "nonexistent")
    assert result.code == INGEST_NOTHING_STORED != 0
    assert "nothing stored" in result.out.splitlines()[-1]


def test_ingest_with_some_refused_has_its_own_code(cli: Any, tmp_path: Path) -> None:
    locker = make_locker(cli, tmp_path)
    result = cli("ingest", "--locker", locker, photo(tmp_path / "in"), tmp_path / "missing.jpg")
    assert result.code == INGEST_SOME_REFUSED
    assert INGEST_SOME_REFUSED not in (0, 1, 2, INGEST_NOTHING_STORED)
    last = result.out.splitlines()[-1]
    assert last.startswith("1 new, 0 already held, 1 refused") and "some refused" in last
    listed = cli("ls", "--locker", locker, "--json").json()
    assert len(listed) == 1


def test_ingest_json_summary_names_the_outcome(cli: Any, tmp_path: Path) -> None:
    locker = make_locker(cli, tmp_path)
    result = cli("ingest", "--locker", locker, "--json", tmp_path / "missing.jpg")
    summary = json.loads(result.out.splitlines()[-1])
    assert result.code == INGEST_NOTHING_STORED
    assert summary["outcome"] == "nothing stored" and summary["exit_code"] == result.code


def test_ingest_of_good_files_exits_zero(cli: Any, tmp_path: Path) -> None:
    locker = make_locker(cli, tmp_path)
    result = cli("ingest", "--locker", locker, photo(tmp_path / "in"))
    assert result.code == 0 and "all stored" in result.out.splitlines()[-1]
    again = cli("ingest", "--locker", locker, photo(tmp_path / "in"))
    assert again.code == 0 and again.out.splitlines()[-1].startswith("0 new, 1 already held")


def test_ingest_help_documents_the_exit_codes(cli: Any) -> None:
    text = cli("ingest", "--help").out
    assert f"{INGEST_SOME_REFUSED}  some inputs were refused" in text
    assert f"{INGEST_NOTHING_STORED}  nothing was stored" in text


def test_log_json_escapes_line_separators(cli: Any, tmp_path: Path) -> None:
    locker = make_locker(cli, tmp_path)
    note = "first\u2028second\u2029third"
    cli("ingest", "--locker", locker, "--note", note, photo(tmp_path / "in"))
    out = cli("log", "--locker", locker, "--json").out
    assert "\u2028" not in out and "\u2029" not in out
    lines = out.splitlines()  # str.splitlines splits on U+2028 too: the strictest reader
    events = [json.loads(line) for line in lines]
    acquired = next(e for e in events if e["action"] == "item.acquired")
    assert acquired["details"]["acquisition"]["note"] == note


def test_a_nested_zip_says_it_is_held_not_expanded(cli: Any, tmp_path: Path) -> None:
    locker = make_locker(cli, tmp_path)
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.write(photo(tmp_path / "a"), "deep.jpg")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(inner, "inner.zip")
        archive.write(photo(tmp_path / "b", seed=2), "top.jpg")
    result = cli("ingest", "--locker", locker, outer)
    assert result.code == 0
    nested = [line for line in result.out.splitlines() if "inner.zip" in line]
    assert len(nested) == 1 and "held, not expanded" in nested[0]


class Recorder(Progress):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def start(self, count: int, amount: int) -> None:
        self.calls.append(("start", count))

    def advance(self, count: int, amount: int) -> None:
        self.calls.append(("advance", count))

    def finish(self) -> None:
        self.calls.append(("finish", 0))


def test_ingest_shows_the_analysis_phase_after_the_files(locker: Locker, tmp_path: Path) -> None:
    files, analysis = Recorder(), Recorder()
    paths = [os.fsencode(photo(tmp_path / "in", f"p{i}.jpg", seed=i)) for i in range(3)]
    ingest(
        locker, paths, IngestOptions(collector="tester"), progress=files, analysis_progress=analysis
    )
    assert files.calls[0] == ("start", 3) and files.calls[-1] == ("finish", 0)
    assert analysis.calls[0] == ("start", 3) and analysis.calls[-1] == ("finish", 0)
    assert ("advance", 3) in analysis.calls
    counts = [count for call, count in analysis.calls if call == "advance"]
    assert counts == sorted(counts)
