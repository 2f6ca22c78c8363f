"""The package as files: unpacked safely, and checked as a BagIt 1.0 bag (RFC 8493).

Beyond bagit-python's own checks: the bag declares version 1.0, holds no `fetch.txt` (a
package is complete in itself), every payload file is in every payload manifest, and no tag
file is there that BagIt does not define. Part of the stand-alone checker (docket.disclose.check).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Protocol

import bagit

from docket.disclose.verify_package import unpacking_refused

TAG_FILES = {
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "manifest-sha512.txt",
    "tagmanifest-sha256.txt",
    "tagmanifest-sha512.txt",
}
DECLARATION = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
AGENT = "Docket"
_ONE_LINE = re.compile(r"[\r\n]")
MAX_MEMBERS = 100_000
MAX_EXPANDED = 64 << 30


class Recorder(Protocol):
    def record(self, name: str, failures: list[str], detail: str = "") -> None: ...

    def skip(self, name: str, why: str) -> None: ...


class PackageError(ValueError):
    """The package cannot be read at all (no such file, not a zip, an escaping member)."""


def unpack(package: Path, scratch: Path) -> Path:
    """The bag's folder: the package itself, or the one folder its zip holds."""
    if package.is_dir():
        return package
    if not package.exists():
        raise PackageError(f"{package}: no such file or folder")
    if not zipfile.is_zipfile(package):
        raise PackageError(f"{package}: neither a package folder nor a zip file")
    try:
        with zipfile.ZipFile(package) as bundle:
            members = bundle.infolist()
            if len({m.filename for m in members}) != len(members):
                raise PackageError(f"{package}: the zip names a member twice")
            if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_EXPANDED:
                raise PackageError(f"{package}: too many or too large members for a package")
            for member in members:
                name = member.filename
                if name.startswith("/") or "\\" in name or ".." in name.split("/"):
                    raise PackageError(f"{package}: member {name!r} escapes the package")
            refused = unpacking_refused(package, members, scratch)
            if refused is not None:
                raise PackageError(f"{package}: not unpacked: {refused}")
            bundle.extractall(scratch)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as exc:
        if isinstance(exc, PackageError):
            raise
        raise PackageError(f"{package}: damaged zip ({exc})") from exc
    entries = list(scratch.iterdir())
    if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
        raise PackageError(f"{package}: the zip does not hold exactly one package folder")
    return entries[0]


def files_under(folder: Path) -> set[str]:
    """Every file below `folder`, as POSIX paths relative to it (symbolic links included)."""
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() or path.is_symlink()
    }


def check_bag(root: Path, report: Recorder) -> None:
    """bagit's checks run one by one so that every problem is reported (its validate()
    stops at the first), then RFC 8493's rules bagit-python leaves out."""
    name = "BagIt 1.0 structure and every payload hash (RFC 8493)"
    failures: list[str] = []
    if (root / "fetch.txt").exists():
        report.record(name, ["bag: fetch.txt: a package must hold its files, not fetch them"])
        return
    try:
        bag = bagit.Bag(str(root))
    except (bagit.BagError, OSError, ValueError, UnicodeDecodeError) as exc:
        report.record(name, [f"bag: {exc}"])
        return
    if (root / "bagit.txt").read_bytes() != DECLARATION.encode():
        failures.append("bag: bagit.txt does not declare BagIt 1.0 in UTF-8, as Docket writes it")
    stages = (
        bag._validate_structure,
        bag._validate_bagittxt,
        bag._validate_oxum,
        bag._validate_completeness,
        lambda: bag._validate_entries(1),
    )
    for stage in stages:
        try:
            stage()
        except bagit.BagValidationError as exc:
            failures += [f"bag: {detail}" for detail in exc.details] or [f"bag: {exc.message}"]
        except (bagit.BagError, OSError, ValueError, UnicodeDecodeError) as exc:
            failures.append(f"bag: {exc}")
    payload = {p for p in files_under(root / "data")} if (root / "data").is_dir() else set()
    for algorithm in bag.algorithms:
        listed = {
            path.removeprefix("data/")
            for path, hashes in bag.entries.items()
            if path.startswith("data/") and algorithm in hashes
        }
        for missing in sorted(payload - listed):
            failures.append(f"bag: data/{missing}: not in manifest-{algorithm}.txt")
    outside = {p for p in files_under(root) if not p.startswith("data/")}
    for extra in sorted(outside - TAG_FILES):
        failures.append(f"bag: {extra}: a file outside the package's payload and tag files")
    for missing in sorted(TAG_FILES - outside):
        failures.append(f"bag: {missing}: missing")
    report.record(name, failures)


def bag_info(origin: str, profile: str, recipient: str | None, date: str) -> dict[str, str]:
    """bag-info.txt as Docket writes it, but for Payload-Oxum: every value follows from the
    signed export record, so the checker can hold the file to it byte for byte."""
    return {
        "Bag-Software-Agent": AGENT,
        "Bagging-Date": date,
        "Docket-Profile": profile,
        "Docket-Recipient": recipient or "",
        "External-Description": f"Docket evidence package, {profile} profile",
        "Source-Organization": origin,
    }


def bag_info_text(info: dict[str, str], oxum: str) -> str:
    """The file bagit-python writes for `info` (sorted; CR and LF dropped from values)."""
    values = {**info, "Payload-Oxum": oxum}
    return "".join(f"{k}: {_ONE_LINE.sub('', values[k])}\n" for k in sorted(values))
