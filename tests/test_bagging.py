"""Packages are bagged without touching the process's working folder (docket.disclose.bagging):
bagit-python's make_bag changed it while it worked, so two exports at once in one process (the
web app's threads, a worker's jobs) wrote one package's tag files into the wrong folder."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bagit
import pytest
from conftest import photo, take

from docket.disclose import bagging
from docket.disclose.check import check
from docket.disclose.package import export
from docket.locker import Locker


def test_a_bag_made_here_is_one_bagit_python_validates(tmp_path: Path) -> None:
    folder = tmp_path / "bag"
    (folder / "custody" / "deeper").mkdir(parents=True)
    (folder / "data").write_bytes(b"a payload file that is itself named data")
    (folder / "custody" / "deeper" / "x.json").write_text('{"a": 1}')
    (folder / "empty.txt").write_bytes(b"")
    bagging.make_bag(folder, {"Bagging-Date": "2026-11-27", "Bag-Software-Agent": "Docket"})
    bag = bagit.Bag(str(folder))
    bag.validate()
    assert bag.version == "1.0"
    assert bag.info["Payload-Oxum"] == "48.3"
    assert sorted(bag.payload_files()) == [
        "data/custody/deeper/x.json",
        "data/data",
        "data/empty.txt",
    ]
    (folder / "data" / "data").write_bytes(b"changed")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(folder)).validate()


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's folder: no catalogue work
def test_making_a_package_never_changes_the_working_folder(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [o.sha256 or "" for o in take(locker, photo(tmp_path / "in", "a.jpg", 1)).outcomes]

    def refuse(path: object) -> None:
        raise AssertionError(f"the working folder was changed to {path}")

    monkeypatch.setattr(os, "chdir", refuse)
    export(locker, items, "court", tmp_path / "package", "tester")
    assert check(tmp_path / "package").ok


@pytest.mark.parametrize("backend", ["sqlite"])  # the package's folder: no catalogue work
def test_packages_made_at_once_in_one_process_are_each_whole(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "working"
    here.mkdir()
    monkeypatch.chdir(here)
    summary = take(locker, *(photo(tmp_path / "in", f"{n}.jpg", n) for n in range(2)))
    items = [o.sha256 or "" for o in summary.outcomes]
    outputs = [tmp_path / f"package-{n}" for n in range(4)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda out: export(locker, items, "court", out, "tester"), outputs))
    for output in outputs:
        report = check(output)
        assert report.ok, (output.name, report.failures)
    assert list(here.iterdir()) == []  # no tag file went astray into the working folder
