"""The picture signals, computed inside the sandboxed analysis worker (analyse/_worker.py).

Decoding is where a crafted file attacks, so this module runs only there, under the worker's
memory limit and deadline, and answers plain JSON. Two tasks: `aids-quick` (at ingest: the
quantisation tables from the header, and the EXIF thumbnail against the picture the worker
has already decoded at reduced scale for the previews) and `aids-thorough` (on demand: double
compression and the error-level picture, which need the full-resolution pixels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from docket.aids import ela, ghosts, quantisation, thumbnail
from docket.aids.signals import Signal
from docket.analyse._imaging import PictureCache

NOT_JPEG = "not a JPEG picture"
ORIENTATION = 0x0112


def _not_jpeg(*modules: Any) -> list[Signal]:
    return [Signal(m.NAME, "not checked", NOT_JPEG, m.EXPLANATION) for m in modules]


def _tables(image: Image.Image) -> dict[int, list[int]]:
    found = getattr(image, "quantization", None) or {}
    return {int(k): list(v) for k, v in found.items()} if image.format == "JPEG" else {}


def quick(path: Path, cache: PictureCache) -> list[Signal]:
    with Image.open(path) as image:
        tables = _tables(image)
        if not tables:
            return _not_jpeg(quantisation, thumbnail)
        orientation = image.getexif().get(ORIENTATION, 1)
        found = [quantisation.signal(tables)]
        found.append(thumbnail.signal(image, lambda: cache.get(path), int(orientation or 1)))
    return found


def _decode(image: Image.Image) -> tuple[Image.Image, np.ndarray]:
    """The picture (RGB) and its luminance, decoded once at full resolution: a JPEG's own Y
    plane, without a round trip through RGB."""
    if image.format == "JPEG":
        image.draft("YCbCr", image.size)
    image.load()
    if image.mode == "YCbCr":
        return image.convert("RGB"), np.asarray(image.getchannel(0))
    picture = image.convert("RGB")
    return picture, np.asarray(picture.convert("L"))


def thorough(path: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with Image.open(path) as image:
        tables = _tables(image)
        picture, luminance = _decode(image)
    if tables:
        quality, _exact = quantisation.estimate_quality(tables)
        found = [ghosts.signal(luminance, quality)]
    else:
        found = _not_jpeg(ghosts)
    found.append(ela.signal(picture, out / "error_levels.png"))
    return {"signals": [s.as_dict() for s in found], "error_levels": str(out / "error_levels.png")}


def handle(task: str, request: dict[str, Any], cache: PictureCache) -> dict[str, Any]:
    path = Path(request["path"])
    if task == "aids-quick":
        return {"signals": [s.as_dict() for s in quick(path, cache)]}
    if task == "aids-thorough":
        return thorough(path, Path(str(request["out"])))
    raise ValueError(f"unknown task {task!r}")
