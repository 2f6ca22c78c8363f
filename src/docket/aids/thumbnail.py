"""The EXIF thumbnail against the main picture.

A camera writes a small preview (IFD1's JPEGInterchangeFormat) when it takes the picture.
Many editors change the main picture and leave that preview as it was; a thumbnail that shows
something else than the picture means the picture (or the thumbnail) changed after it was
written. We compare the two at the thumbnail's size, in grey, over a 4x4 grid, after trimming
the black bars some cameras add, so a change in one region counts.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter
from PIL.ExifTags import IFD

from docket.aids.signals import Signal

NAME = "exif-thumbnail"
GRID = 4
REGION_THRESHOLD = 8.0  # mean grey-level difference (0..255) in one of the 16 regions
WHOLE_THRESHOLD = 5.0
MAX_THUMBNAIL_BYTES = 1 << 20
THUMBNAIL_PIXELS = 1 << 20

EXPLANATION = (
    "Cameras store a small preview of the picture in its EXIF data. A preview that differs "
    "from the picture means one of them changed after the preview was written (an edit, a "
    "crop, a replaced picture). A matching preview shows nothing: editors and apps that "
    "rewrite the preview, or drop it, leave no such trace."
)

JPEG_OFFSET, JPEG_LENGTH = 0x0201, 0x0202


def embedded(image: Image.Image) -> bytes | None:
    """The thumbnail's JPEG bytes (IFD1), or None when the file holds none."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return None
    ifd1 = image.getexif().get_ifd(IFD.IFD1)
    offset, length = ifd1.get(JPEG_OFFSET), ifd1.get(JPEG_LENGTH)
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return None
    start = 6 + offset if raw.startswith(b"Exif\x00\x00") else offset
    data = raw[start : start + min(length, MAX_THUMBNAIL_BYTES)]
    return data if data.startswith(b"\xff\xd8") else None


def _trim_bars(grey: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(grey.mean(axis=1) > 8)
    cols = np.flatnonzero(grey.mean(axis=0) > 8)
    if len(rows) < 8 or len(cols) < 8:
        return grey
    return grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def differences(thumb: Image.Image, picture: Image.Image) -> tuple[float, float]:
    """(whole, worst region) mean absolute grey difference, at the thumbnail's size."""
    small = _trim_bars(np.asarray(thumb.convert("L")))
    height, width = small.shape
    main = picture.convert("L").resize((width, height), Image.Resampling.BOX)
    blur = ImageFilter.GaussianBlur(1)
    a = np.asarray(Image.fromarray(small).filter(blur), dtype=np.float32)
    b = np.asarray(main.filter(blur), dtype=np.float32)
    diff = np.abs(a - b)
    regions = [
        float(block.mean())
        for band in np.array_split(diff, GRID, axis=0)
        for block in np.array_split(band, GRID, axis=1)
    ]
    return float(diff.mean()), max(regions)


# EXIF orientation -> the transposition that makes a picture stored that way upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def signal(image: Image.Image, decode: Callable[[], Image.Image], orientation: int = 1) -> Signal:
    """`image`: the opened file (for its EXIF); `decode`: gives the decoded picture, upright
    (at any scale no smaller than the thumbnail), called only when there is a thumbnail;
    `orientation`: the file's EXIF orientation, which the thumbnail shares."""
    data = embedded(image)
    if data is None:
        return Signal(NAME, "not checked", "no EXIF thumbnail in the file", EXPLANATION)
    try:
        with Image.open(io.BytesIO(data)) as stored:
            if stored.width * stored.height > THUMBNAIL_PIXELS:
                return Signal(NAME, "not checked", "the EXIF thumbnail is too large", EXPLANATION)
            stored.load()
            turn = UPRIGHT.get(orientation)
            thumb = stored.transpose(turn) if turn is not None else stored.copy()
    except (OSError, SyntaxError, ValueError) as exc:  # the picture itself may be fine
        summary = f"the EXIF thumbnail cannot be decoded ({type(exc).__name__})"
        return Signal(NAME, "signal", summary, EXPLANATION, {"error": str(exc)[:200]})
    picture = decode()  # a picture that cannot be decoded fails the step, with its reason
    whole, region = differences(thumb, picture)
    size = thumb.size
    details = {
        "thumbnail_size": list(size),
        "whole_difference": round(whole, 2),
        "worst_region_difference": round(region, 2),
        "thresholds": {"whole": WHOLE_THRESHOLD, "region": REGION_THRESHOLD},
    }
    picture_ratio = picture.width / picture.height
    thumb_ratio = size[0] / size[1]
    if whole >= WHOLE_THRESHOLD or region >= REGION_THRESHOLD:
        summary = "the EXIF thumbnail differs from the picture"
        if abs(picture_ratio - thumb_ratio) / thumb_ratio > 0.05:
            summary += " (and has another shape: cropped?)"
        return Signal(NAME, "signal", summary, EXPLANATION, details)
    return Signal(NAME, "no signal", "the EXIF thumbnail matches the picture", EXPLANATION, details)
