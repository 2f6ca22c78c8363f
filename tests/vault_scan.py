"""What an adversary holding a vault's disk could read: every byte of every file under the
locker folder, searched for marker strings, the originals' SHA-256 (hex and binary) and any
64-byte run of an original. Shared by the vault's locker and convert tests."""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    blocks: np.ndarray  # the originals' blocks (BLOCK bytes a row) but padding, by key
    keys: np.ndarray  # each block's key (`_keys`), in order
    seen: np.ndarray  # a bit per value of a key's top KEY_BITS bits, set for the blocks' keys

    @classmethod
    def of(cls, markers: list[str], originals: list[bytes]) -> Secrets:
        digests: list[bytes] = []
        rows = [np.empty((0, BLOCK), np.uint8)]
        for data in originals:
            digest = hashlib.sha256(data).digest()
            digests += [digest, digest.hex().encode(), digest.hex().upper().encode()]
            whole = np.frombuffer(data, np.uint8, count=len(data) // BLOCK * BLOCK)
            rows.append(whole.reshape(-1, BLOCK))
        every = np.concatenate(rows)
        blocks = every[_distinct(every) >= FILLER_DISTINCT]
        keys = _keys(blocks.view("<u8"))
        order = np.argsort(keys)
        keys = keys[order]
        top = keys >> np.uint64(64 - KEY_BITS)
        byte, bit = top >> np.uint64(3), np.left_shift(1, top & np.uint64(7)).astype(np.uint8)
        starts = np.flatnonzero(np.diff(byte, prepend=~np.uint64(0)))  # keys are in order
        seen = np.zeros(1 << (KEY_BITS - 3), np.uint8)
        if len(keys):
            seen[byte[starts]] = np.bitwise_or.reduceat(bit, starts)
        return cls([m.encode() for m in markers], digests, blocks[order], keys, seen)

    def first_run(self, data: bytes) -> int | None:
        """The first offset of `data` where one of the blocks starts, else None: what a loop
        over every offset asking `data[i : i + BLOCK] in blocks` finds, in numpy (that loop in
        Python took most of a vault test's minute)."""
        if not len(self.keys):
            return None
        view = memoryview(data)
        for start in range(0, len(data) - BLOCK + 1, CHUNK):
            part = view[start : start + CHUNK + BLOCK - 1]
            words = np.empty(len(part) - 7, np.uint64)  # the 64-bit word at each offset of part
            for shift in range(8):
                words[shift::8] = np.frombuffer(part, "<u8", (len(part) - shift) // 8, shift)
            lanes = np.lib.stride_tricks.as_strided(
                words, (len(part) - BLOCK + 1, 4), (words.strides[0], 8 * words.strides[0])
            )
            keys = _keys(lanes)
            top = keys >> np.uint64(64 - KEY_BITS)
            bits = self.seen[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)
            maybe = np.flatnonzero(bits & 1)  # the others' keys are surely no block's
            places = np.searchsorted(self.keys, keys[maybe]).clip(max=len(self.keys) - 1)
            found = self.keys[places] == keys[maybe]
            for at, place in zip(maybe[found].tolist(), places[found].tolist(), strict=True):
                if self._holds(bytes(part[at : at + BLOCK]), int(keys[at]), place):
                    return start + int(at)
        return None

    def _holds(self, window: bytes, key: int, place: int) -> bool:
        """Whether `window`, whose key is `key`, is a block (the first with that key is at
        `place`)."""
        while place < len(self.keys) and int(self.keys[place]) == key:
            if self.blocks[place].tobytes() == window:
                return True
            place += 1
        return False


def _distinct(rows: np.ndarray) -> np.ndarray:
    """How many distinct byte values each row holds, at least FILLER_DISTINCT where it is
    more: counted as a 64-bit set of the bytes' top six bits (a lower bound), and exactly, as a
    256-bit set, only for the rows that bound leaves below FILLER_DISTINCT."""
    step = 1 << 16  # rows at a time: 16 MiB of 64-bit sets
    parts = [_bits_set(_BIT[rows[at : at + step] >> 2]) for at in range(0, len(rows), step)]
    counts = np.concatenate([np.empty(0, np.int64), *parts])
    few = np.flatnonzero(counts < FILLER_DISTINCT)
    exact = rows[few]
    counts[few] = sum(_bits_set(np.where(exact >> 6 == w, _BIT[exact & 63], 0)) for w in range(4))
    return counts


def _bits_set(bits: np.ndarray) -> np.ndarray:
    """How many bits are set in the OR of each row."""
    counts: np.ndarray = np.bitwise_count(np.bitwise_or.reduce(bits, axis=1)).astype(np.int64)
    return counts


_BIT = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))


def _keys(lanes: np.ndarray) -> np.ndarray:
    """A 64-bit key of each row of four little-endian 64-bit words (BLOCK bytes): equal bytes
    give equal keys, so a window whose key is no block's is no block."""
    mixed: np.ndarray = lanes[:, 0] ^ (lanes[:, 1] * _MIX[0])
    return mixed ^ (lanes[:, 2] * _MIX[1]) ^ (lanes[:, 3] * _MIX[2])


_MIX = [np.uint64(m) for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)]
KEY_BITS = 27  # `seen` is 16 MiB: a million blocks set under 1% of its bits
CHUNK = 1 << 20  # offsets looked up at a time (~50 bytes of arrays each)


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
        at = secrets.first_run(data)
        if at is not None:
            found.append(f"{where}: a run of an original's bytes at offset {at}")
    return found
