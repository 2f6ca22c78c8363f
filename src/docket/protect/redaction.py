"""Covering regions of a frame so that what was there cannot be recovered.

No Gaussian blur (deblurring can undo it): `mosaic` keeps only one colour per coarse block
and adds noise, so fine detail is gone, not hidden; `fill` paints the region solid black.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from docket.protect.faces import Box

if TYPE_CHECKING:
    import numpy as np  # imported by redact(): the CLI reads METHODS at every start

METHODS = ("mosaic", "fill")
BLOCKS_ACROSS = 4
NOISE = 24


def clip(box: Box, width: int, height: int) -> Box | None:
    left, top = max(0, box.x), max(0, box.y)
    right, bottom = min(width, box.x + box.w), min(height, box.y + box.h)
    if right <= left or bottom <= top:
        return None
    return Box(left, top, right - left, bottom - top, box.score)


def redact(frame: np.ndarray, boxes: Sequence[Box], method: str, seed: int = 0) -> np.ndarray:
    """A copy of `frame` (H x W x C, uint8) with every box covered; the rest is untouched."""
    import numpy as np

    out = frame.copy()
    rng = np.random.default_rng(seed)
    height, width = frame.shape[:2]
    for raw in boxes:
        box = clip(raw, width, height)
        if box is None:
            continue
        region = out[box.y : box.y + box.h, box.x : box.x + box.w]
        if method == "fill":
            region[...] = 0
            continue
        block = max(4, max(box.w, box.h) // BLOCKS_ACROSS)
        for y in range(0, box.h, block):
            for x in range(0, box.w, block):
                cell = region[y : y + block, x : x + block]
                cell[...] = cell.reshape(-1, cell.shape[-1]).mean(axis=0).astype(np.uint8)
        noise = rng.integers(-NOISE, NOISE + 1, size=region.shape)
        region[...] = np.clip(region.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return out
