"""What an adversary holding a vault's disk could read: every byte of every file under the
locker folder, searched for marker strings, the originals' SHA-256 (hex and binary) and any
64-byte run of an original. Shared by the vault's locker and convert tests."""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from docket._samples import PhotoFacts, write_photo, write_samples

SOURCE = "Kestrel-Marigold-7731"
NOTE = "handed over at the orchard gate, NOTE-MARKER-aquamarine"
FILE_NAME = "orchid_lane_marker_0098.jpg"
MAKE, SERIAL = "Vireomarker", "SN-MARKER-5531"
MARKERS = [SOURCE, "NOTE-MARKER-aquamarine", "orchid_lane_marker", MAKE, SERIAL]

BLOCK = 32  # every 64-byte run of an original holds one of its 32-byte blocks at a multiple of 32
FILLER_DISTINCT = 16  # a block of fewer distinct byte values is padding, not content


def marked_evidence(folder: Path) -> list[Path]:
    """The sample set (docket._samples) and a photo whose name and EXIF carry markers."""
    made = write_samples(folder)
    facts = PhotoFacts("2024:03:03 10:00:00", "+03:00", 33.51, 36.29, 700.0, MAKE, "M1", SERIAL)
    made.append(write_photo(folder / FILE_NAME, 9, facts))
    return made


def originals(files: list[Path]) -> list[bytes]:
    """Every original the files give a locker: the files and the members of a zip."""
    found = []
    for file in files:
        found.append(file.read_bytes())
        if file.suffix == ".zip":
            with zipfile.ZipFile(file) as bundle:
                found += [bundle.read(name) for name in bundle.namelist()]
    return found


@dataclass
class Secrets:
    markers: list[bytes]
    digests: list[bytes]  # each original's SHA-256, raw and as hex in both cases
    blocks: set[bytes]

    @classmethod
    def of(cls, markers: list[str], originals: list[bytes]) -> Secrets:
        digests: list[bytes] = []
        blocks: set[bytes] = set()
        for data in originals:
            digest = hashlib.sha256(data).digest()
            digests += [digest, digest.hex().encode(), digest.hex().upper().encode()]
            for start in range(0, len(data) - BLOCK + 1, BLOCK):
                block = data[start : start + BLOCK]
                if len(set(block)) >= FILLER_DISTINCT:
                    blocks.add(block)
        return cls([m.encode() for m in markers], digests, blocks)


def files_under(root: Path) -> list[Path]:
    return sorted(
        Path(folder) / name
        for folder, _dirs, names in os.walk(root)
        for name in names
        if (Path(folder) / name).is_file()
    )


def findings(root: Path, secrets: Secrets) -> list[str]:
    """Every place under `root` that gives a secret away: '<file>: <what>'."""
    found = []
    for file in files_under(root):
        data = file.read_bytes()
        where = file.relative_to(root)
        found += [f"{where}: marker {m!r}" for m in secrets.markers if m in data]
        found += [f"{where}: an original's SHA-256" for d in secrets.digests if d in data]
        blocks = secrets.blocks
        at = next((i for i in range(len(data) - BLOCK + 1) if data[i : i + BLOCK] in blocks), None)
        if at is not None:
            found.append(f"{where}: a run of an original's bytes at offset {at}")
    return found
