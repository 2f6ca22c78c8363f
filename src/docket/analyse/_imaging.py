"""Picture work done inside the sandboxed worker: decode, previews, perceptual hashes.

Decoding is where a crafted file attacks, so these functions run only in the worker process
(see sandbox.py), never in the process that holds the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from docket.analyse import perceptual

THUMBNAIL_SIZE = 320
# JPEG draft mode decodes at the smallest of 1/2, 1/4, 1/8 scale still this big: enough for
# a 320-pixel thumbnail and for PDQ, which works on 64x64 blocks of a <= 512-pixel picture.
DECODE_SIZE = (THUMBNAIL_SIZE, THUMBNAIL_SIZE)
SAFE_DETAIL = 20
SAFE_BLUR = 6


def open_picture(path: Path) -> Image.Image:
    """Decode, at reduced scale when the format allows (JPEG draft mode decodes at 1/2..1/8),
    upright as the camera meant it (EXIF orientation applied)."""
    with Image.open(path) as image:
        image.draft("RGB", DECODE_SIZE)
        image.load()
        upright = ImageOps.exif_transpose(image)
    return (upright or image).convert("RGB")


def thumbnail(picture: Image.Image) -> Image.Image:
    small = picture.copy()
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return small


def safe_preview(picture: Image.Image) -> Image.Image:
    """Grey, and blurred beyond recognition: the picture is cut down to SAFE_DETAIL pixels on
    its long side (the detail is gone, not hidden), then smoothed back up to thumbnail size."""
    grey = ImageOps.grayscale(picture)
    tiny = grey.copy()
    tiny.thumbnail((SAFE_DETAIL, SAFE_DETAIL), Image.Resampling.BOX)
    width, height = picture.size
    scale = THUMBNAIL_SIZE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return tiny.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(SAFE_BLUR))


class PictureCache:
    """The last picture decoded: an item's steps run one after another in one worker, and
    decoding (Huffman-bound, ~40 ms for a 12 MP JPEG) is most of their cost."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._picture: Image.Image | None = None

    def get(self, path: Path) -> Image.Image:
        if self._path != path or self._picture is None:
            self._path, self._picture = None, None
            self._picture, self._path = open_picture(path), path
        return self._picture


def describe_picture(picture: Image.Image, out: Path | None, want_hashes: bool) -> dict[str, Any]:
    """What the worker answers for one picture: its size, previews written into `out`
    (when given), and its perceptual hashes (when asked)."""
    answer: dict[str, Any] = {"width": picture.width, "height": picture.height}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        thumbnail(picture).save(out / "thumbnail.jpg", "JPEG", quality=85)
        safe_preview(picture).save(out / "safe_preview.jpg", "JPEG", quality=85)
        answer["thumbnail"] = str(out / "thumbnail.jpg")
        answer["safe_preview"] = str(out / "safe_preview.jpg")
    if want_hashes:
        answer["hashes"] = [
            {"variant": h.variant, "pdq": h.digest.hex(), "quality": h.quality}
            for h in perceptual.hashes(picture)
        ]
    return answer
