"""Bench media: a 12-megapixel JPEG with EXIF, and cheap distinct copies of it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from docket._samples import PhotoFacts, draw_scene, exif_for

FACTS = PhotoFacts("2024:03:01 12:34:56", "+03:00", 33.5043, 36.2842, 712.5)


def twelve_megapixel_jpeg() -> bytes:
    scene = np.asarray(draw_scene(1, (4000, 3000)), dtype=np.int16)
    noise = np.random.default_rng(1).integers(-24, 24, scene.shape, dtype=np.int16)
    image = Image.fromarray(np.clip(scene + noise, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif_for(FACTS))
    return out.getvalue()


def unique_copies(base: bytes, folder: Path, count: int) -> list[Path]:
    """Distinct files cheaply: a JPEG comment segment with a serial number after SOI."""
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        comment = f"bench copy {i}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        path = folder / f"IMG_{i:05}.jpg"
        path.write_bytes(base[:2] + segment + base[2:])
        paths.append(path)
    return paths
