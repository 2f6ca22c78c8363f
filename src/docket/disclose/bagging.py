"""A folder made into a BagIt 1.0 bag (RFC 8493) in place: its files moved under data/, the
payload and tag manifests in SHA-256 and SHA-512, bag-info.txt with the Payload-Oxum.

Written here, not with bagit-python's make_bag, because make_bag changes the process's working
directory while it works (os.chdir) and names its files relative to it: two packages made at
once in one process (the web app's threads, a worker's concurrent jobs) wrote each other's tag
files into the wrong folder, leaving one package without them. The layout is the one
bagit-python writes (two spaces in payload manifests, one in tag manifests, CR and LF in names
written %0D and %0A, bag-info.txt's keys sorted), and bagit-python still checks every package
(docket.disclose._check_bag).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from docket.disclose._check_bag import DECLARATION

ALGORITHMS = ("sha256", "sha512")
_BLOCK = 1 << 20
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def make_bag(folder: Path, info: Mapping[str, str], algorithms: Sequence[str] = ALGORITHMS) -> None:
    """Make `folder` (which holds the payload) a bag, with `info` in bag-info.txt."""
    payload = Path(tempfile.mkdtemp(dir=folder))  # a payload file may itself be named data
    for entry in sorted(folder.iterdir()):
        if entry != payload:
            entry.rename(payload / entry.name)
    data = folder / "data"
    payload.rename(data)
    data.chmod(folder.stat().st_mode & 0o7777)
    size = count = 0
    lines: dict[str, list[str]] = {algorithm: [] for algorithm in algorithms}
    for path in _files(data):
        digests = _digests(path, algorithms)
        name = _encoded(path.relative_to(folder).as_posix())
        for algorithm in algorithms:
            lines[algorithm].append(f"{digests[algorithm]}  {name}\n")
        size += path.stat().st_size
        count += 1
    for algorithm in algorithms:
        _write(folder / f"manifest-{algorithm}.txt", "".join(lines[algorithm]))
    _write(folder / "bagit.txt", DECLARATION)
    tags = {**info, "Payload-Oxum": f"{size}.{count}"}
    _write(
        folder / "bag-info.txt",
        "".join(f"{key}: {_LINE_BREAK.sub('', str(tags[key]))}\n" for key in sorted(tags)),
    )
    tag_files = sorted(
        path
        for path in _files(folder, skip=data)
        if not path.relative_to(folder).as_posix().startswith("tagmanifest-")
    )
    for algorithm in algorithms:
        listed = []
        for path in tag_files:
            digest = _digests(path, [algorithm])[algorithm]
            listed.append(f"{digest} {path.relative_to(folder).as_posix()}\n")
        _write(folder / f"tagmanifest-{algorithm}.txt", "".join(listed))


def _files(top: Path, skip: Path | None = None) -> Iterator[Path]:
    """Every file below `top` (but not below `skip`), folders and files in sorted order."""
    for folder, folders, files in os.walk(top):
        folders[:] = sorted(f for f in folders if Path(folder, f) != skip)
        for name in sorted(files):
            yield Path(folder, name)


def _digests(path: Path, algorithms: Sequence[str]) -> dict[str, str]:
    hashers = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            for hasher in hashers.values():
                hasher.update(block)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}


def _encoded(name: str) -> str:
    return name.replace("\r", "%0D").replace("\n", "%0A")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
