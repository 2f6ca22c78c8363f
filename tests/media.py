"""Synthetic test media with real structure: scikit-image's bundled sample photographs and
videos made from them with ffmpeg. Nothing here is real evidence or a real person's case."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

# Photographs (not microscopy or astronomy frames, whose black or white backgrounds merge
# with an added caption bar; the closing note gives their figures separately).
PHOTOGRAPHS = [
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "horse",
    "moon",
    "rocket",
    "retina",
    "brick",
    "grass",
    "gravel",
    "page",
    "text",
    "logo",
]


def sample(name: str) -> Image.Image:
    array = getattr(skimage.data, name)()
    if array.dtype != np.uint8:
        array = (array * 255 if array.max() <= 1 else array).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _recompress(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(jpeg(image, 40))).convert("RGB")


def _crop(image: Image.Image) -> Image.Image:
    dx, dy = image.width // 10, image.height // 10
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def _caption(image: Image.Image) -> Image.Image:
    bar = image.height // 6
    out = Image.new("RGB", (image.width, image.height + bar), (255, 255, 255))
    out.paste(image, (0, bar))
    ImageDraw.Draw(out).text(
        (10, bar // 3), "BREAKING: footage from the northern checkpoint", fill=(0, 0, 0)
    )
    return out


def _border(image: Image.Image) -> Image.Image:
    out = Image.new(
        "RGB", (image.width + image.width // 5, image.height + image.height // 3), (28, 28, 30)
    )
    out.paste(image, (image.width // 10, image.height // 6))
    return out


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize50": lambda im: im.resize((im.width // 2, im.height // 2)),
    "jpeg40": _recompress,
    "crop10": _crop,
    "bright20": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "caption": _caption,
    "grey": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "screenshot": _border,
}


def slideshow(folder: Path, names: list[str], seconds: float = 2.5, fps: int = 15) -> Path:
    """A video showing each sample photograph in turn (scene changes between them)."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    for i, name in enumerate(names):
        frame = folder / f"frame{i}.png"
        sample(name).resize((480, 360)).save(frame)
        inputs += ["-loop", "1", "-t", str(seconds), "-i", str(frame)]
    streams = "".join(f"[{i}:v]" for i in range(len(names)))
    video = folder / "slideshow.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            f"{streams}concat=n={len(names)}:v=1:a=0,format=yuv420p",
            "-r",
            str(fps),
            str(video),
        ],
        check=True,
        timeout=120,
    )
    return video


def still(video: Path, at: float, target: Path) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            str(at),
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-q:v",
            "3",
            str(target),
        ],
        check=True,
        timeout=60,
    )
    return target
