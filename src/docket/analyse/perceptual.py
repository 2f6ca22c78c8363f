"""PDQ perceptual hashes of a picture, robust to the edits that re-posts go through.

PDQ itself survives re-compression, resizing, brightness and grey-scale, but not crops or
added bands. So a picture is first trimmed of the bands that platforms and screenshots add
(rows and columns that are mostly one colour: borders, caption bars with sparse text), and
hashed as a whole and as central crops; two pictures match when any pair of their hashes is
close. Each hash carries PDQ's quality score; low-quality hashes (flat images) never match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

HASH_SIZE = 512
BAND_TOLERANCE = 24
BAND_COVERAGE = 0.97
BAND_GAP = 0.05
TRIM_ROUNDS = 2
MIN_CONTENT = 0.3
CROPS = {"full": 0.0, "c90": 0.05, "c80": 0.10, "c70": 0.15}


@dataclass(frozen=True)
class PerceptualHash:
    variant: str
    digest: bytes  # 32 bytes, PDQ's 256 bits
    quality: int


def for_hashing(image: Image.Image) -> Image.Image:
    """RGB, at most HASH_SIZE on its long side (PDQ gains nothing from more)."""
    image = image.convert("RGB")
    if max(image.size) > HASH_SIZE:
        image = image.copy()
        image.thumbnail((HASH_SIZE, HASH_SIZE), Image.Resampling.BILINEAR)
    return image


def _band_rows(grey: np.ndarray, reverse: bool) -> int:
    """How many rows from one edge form a band: mostly the colour of the outermost row.

    Lines of caption text inside a band are short runs of rows with less coverage; a band
    ends only where such a run grows longer than BAND_GAP of the height.
    """
    rows = grey[::-1] if reverse else grey
    background = float(np.median(rows[0]))
    coverage = (np.abs(rows.astype(np.int16) - background) <= BAND_TOLERANCE).mean(axis=1)
    gap_limit = max(2, round(len(rows) * BAND_GAP))
    band = gap = 0
    for index, covered in enumerate(coverage):
        if covered >= BAND_COVERAGE:
            band, gap = index + 1, 0
        else:
            gap += 1
            if gap > gap_limit:
                break
    return band


def trim_bands(image: Image.Image) -> list[Image.Image]:
    """The picture with its edge bands cut, once, then again (up to TRIM_ROUNDS): an added
    caption bar goes in the first round, while a picture whose own edges look like bands
    (a sky, a dark background) loses those in later rounds, both with and without the bar."""
    rounds = []
    for _ in range(TRIM_ROUNDS):
        trimmed = _trim_once(image)
        if trimmed.size == image.size:
            break
        rounds.append(trimmed)
        image = trimmed
    return rounds


def _trim_once(image: Image.Image) -> Image.Image:
    """One pass over the four edges; an edge is cut only if enough picture would remain, so a
    low-contrast picture that looks like one big band is left whole."""
    grey = np.asarray(image.convert("L"))
    height, width = grey.shape
    top, bottom, left, right = 0, height, 0, width
    for edge in ("top", "bottom", "left", "right"):
        region = grey[top:bottom, left:right]
        vertical = edge in ("top", "bottom")
        cut = _band_rows(region if vertical else region.T, reverse=edge in ("bottom", "right"))
        remaining = (bottom - top if vertical else right - left) - cut
        if cut == 0 or remaining < (height if vertical else width) * MIN_CONTENT:
            continue
        if edge == "top":
            top += cut
        elif edge == "bottom":
            bottom -= cut
        elif edge == "left":
            left += cut
        else:
            right -= cut
    if (top, bottom, left, right) == (0, height, 0, width):
        return image
    return image.crop((left, top, right, bottom))


def _central(image: Image.Image, margin: float) -> Image.Image:
    if margin == 0:
        return image
    width, height = image.size
    dx, dy = round(width * margin), round(height * margin)
    return image.crop((dx, dy, width - dx, height - dy))


def pdq(image: Image.Image) -> tuple[bytes, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(image.convert("RGB"))))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality)


def hashes(image: Image.Image) -> list[PerceptualHash]:
    """The whole picture and central crops of it, plus the picture without added bands
    (when there are any)."""
    picture = for_hashing(image)
    found = []
    for variant, margin in CROPS.items():
        digest, quality = pdq(_central(picture, margin))
        found.append(PerceptualHash(variant, digest, quality))
    for number, trimmed in enumerate(trim_bands(picture), start=1):
        digest, quality = pdq(trimmed)
        found.append(PerceptualHash(f"trim{number}", digest, quality))
    return found


def distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big").__xor__(int.from_bytes(b, "big")).bit_count()
