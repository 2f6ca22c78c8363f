"""Evidence for the verification-aid tests, made by code: synthetic scenes (docket._samples)
with sensor-like noise, saved once (clean) or manipulated (saved twice, a region pasted from
another save, an EXIF thumbnail left from before an edit, written with ExifTool)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from docket._samples import draw_scene


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A drawn scene with noise, like a sensor's (flat synthetic areas are unlike photos)."""
    base = np.asarray(draw_scene(seed, size), dtype=np.int16)
    noise = np.random.default_rng(seed).integers(-10, 11, base.shape, dtype=np.int16)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, quality: int, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    if exif is None:
        image.save(out, "JPEG", quality=quality)
    else:
        image.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def saved_twice(image: Image.Image, first: int, second: int) -> bytes:
    return jpeg(decoded(jpeg(image, first)), second)


def pasted_region(image: Image.Image, donor: Image.Image, first: int, second: int) -> bytes:
    """A 128-pixel block-aligned square from a JPEG of `donor` saved at `first`, pasted into
    `image`, the whole saved at `second` (a splice)."""
    patch = decoded(jpeg(donor, first)).crop((64, 64, 192, 192))
    edited = image.copy()
    edited.paste(patch, (128, 64))
    return jpeg(edited, second)


def painted(image: Image.Image) -> Image.Image:
    """The picture with a region painted over (a removed object)."""
    edited = image.copy()
    draw = ImageDraw.Draw(edited)
    width, height = edited.size
    draw.rectangle((width // 4, height // 4, width // 2, height // 2), fill=(30, 140, 40))
    return edited


def set_thumbnails(pairs: list[tuple[Path, Image.Image]], scratch: Path) -> None:
    """Write each picture as the EXIF thumbnail (160 px) of its file, in one ExifTool run."""
    arguments: list[str] = []
    for index, (path, picture) in enumerate(pairs):
        small = picture.copy()
        small.thumbnail((160, 160))
        thumb = scratch / f"thumb-{index}.jpg"
        small.save(thumb, "JPEG", quality=80)
        arguments += ["-overwrite_original", f"-ThumbnailImage<={thumb}", str(path), "-execute"]
    argfile = scratch / "thumbnails.args"
    argfile.write_text("\n".join(arguments) + "\n")
    subprocess.run(["exiftool", "-q", "-@", str(argfile)], check=True, capture_output=True)
