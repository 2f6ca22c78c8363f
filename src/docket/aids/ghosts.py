"""Signs of double JPEG compression, by the recompression-error curve ("JPEG ghosts").

Method: H. Farid, "Exposing Digital Forgeries From JPEG Ghosts", IEEE Transactions on
Information Forensics and Security 4(1), 2009. A picture saved at quality q1 and saved again at
a higher quality q2 keeps the coarser quantisation of q1: recompressing it at q1 changes it
less than recompressing it at qualities just above q1, so the error curve (mean squared
difference against the recompression quality) dips at q1 before falling towards q2. A picture
saved once falls steadily. We compute the curve on the luminance of a block-aligned central
crop (and on the block with the deepest dip among a grid of tiles, for a region saved at
another quality), with libjpeg's tables at each quality.

What it cannot show: a second save at a lower or equal quality hides the first; a crop or
resize between the saves breaks the 8x8 grid the method relies on; a dip is a sign of an
earlier save, which ordinary sharing also causes, not of what changed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from docket.aids.signals import Signal

NAME = "double-compression"
QUALITIES = range(40, 100, 3)
CROP = 512
TILE = 64
DIP_THRESHOLD = 0.25  # relative rise after the dip; clean saves show 0 (tests/test_aids_rates.py)
FLOOR = 4.0  # squared error added below the ratio, so flat tiles (sky, walls) cannot dip
MARGIN = 6  # a dip this close below the last save's quality is the last save itself

EXPLANATION = (
    "A dip in the recompression-error curve below the file's own quality means the picture "
    "(or a region of it) was saved as a JPEG at that lower quality before its last save: it "
    "was re-encoded, which sharing and editing both do. No dip does not mean one save only: a "
    "second save at a lower quality, a crop or a resize between saves hides it."
)


def _recompress(plane: np.ndarray, quality: int) -> np.ndarray:
    out = io.BytesIO()
    Image.fromarray(plane).save(out, "JPEG", quality=quality)
    with Image.open(io.BytesIO(out.getvalue())) as again:
        return np.asarray(again, dtype=np.float32)


def error_curves(plane: np.ndarray, qualities: range) -> tuple[np.ndarray, np.ndarray]:
    """The whole crop's error per quality, and each TILE-square tile's (tiles x qualities)."""
    original = plane.astype(np.float32)
    rows, cols = plane.shape[0] // TILE, plane.shape[1] // TILE
    whole, tiles = [], []
    for quality in qualities:
        squared = (original - _recompress(plane, quality)) ** 2
        whole.append(float(squared.mean()))
        blocks = squared[: rows * TILE, : cols * TILE].reshape(rows, TILE, cols, TILE)
        tiles.append(blocks.mean(axis=(1, 3)).ravel())
    return np.array(whole), np.array(tiles).T


def dip(curve: np.ndarray, limit: int) -> tuple[float, int]:
    """The deepest relative dip among the first `limit` points: (rise, index of the dip)."""
    best, where = 0.0, -1
    for i in range(min(limit, len(curve) - 1)):
        later = float(curve[i + 1 : limit + 1].max()) if i + 1 <= limit else 0.0
        rise = (later - float(curve[i])) / (later + FLOOR)
        if rise > best:
            best, where = rise, i
    return best, where


def central_crop(luminance: np.ndarray) -> np.ndarray:
    height, width = luminance.shape
    size_y, size_x = min(CROP, height // 8 * 8), min(CROP, width // 8 * 8)
    top = (height - size_y) // 2 // 8 * 8
    left = (width - size_x) // 2 // 8 * 8
    return np.ascontiguousarray(luminance[top : top + size_y, left : left + size_x])


def signal(luminance: np.ndarray, last_quality: int) -> Signal:
    """`luminance`: the decoded Y plane (uint8), grid-aligned at (0, 0)."""
    if min(luminance.shape) < TILE:
        return Signal(NAME, "not checked", "too small to check", EXPLANATION)
    crop = central_crop(luminance)
    qualities = QUALITIES
    limit = sum(1 for q in qualities if q < last_quality - MARGIN)
    if limit < 2:
        return Signal(
            NAME,
            "not checked",
            f"last saved at quality {last_quality}: too low to check",
            EXPLANATION,
        )
    whole, tiles = error_curves(crop, qualities)
    whole_rise, whole_at = dip(whole, limit)
    tile_dips = [dip(curve, limit) for curve in tiles]
    tile_rise, tile_at = max(tile_dips) if tile_dips else (0.0, -1)
    details = {
        "method": "recompression-error curve (Farid 2009)",
        "qualities": list(qualities),
        "curve": [round(float(v), 3) for v in whole],
        "whole_dip": round(whole_rise, 3),
        "tile_dip": round(tile_rise, 3),
        "threshold": DIP_THRESHOLD,
        "last_quality": last_quality,
    }
    if whole_rise >= DIP_THRESHOLD:
        earlier = qualities[whole_at]
        details["earlier_quality"] = earlier
        summary = f"saved before at about quality {earlier}, then again at {last_quality}"
        return Signal(NAME, "signal", summary, EXPLANATION, details)
    if tile_rise >= DIP_THRESHOLD:
        earlier = qualities[tile_at]
        details["earlier_quality"] = earlier
        summary = f"a region was saved before at about quality {earlier}, the rest was not"
        return Signal(NAME, "signal", summary, EXPLANATION, details)
    return Signal(
        NAME, "no signal", "no dip in the recompression-error curve", EXPLANATION, details
    )
