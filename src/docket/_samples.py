"""Synthetic sample evidence for the demo and the tests: made by code, never real imagery.

Photos are drawn shapes with EXIF (capture time with offset, GPS, make, model, serial); the
video is ffmpeg's test pattern; the zip holds photos and one truncated, corrupt JPEG.
Names of people and places are invented.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

EXIF_MAKE, EXIF_MODEL, EXIF_SOFTWARE = 0x010F, 0x0110, 0x0131
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL, BODY_SERIAL = 0x9003, 0x9011, 0xA431


@dataclass(frozen=True)
class PhotoFacts:
    capture_time: str  # EXIF form, "YYYY:MM:DD HH:MM:SS"
    offset: str
    latitude: float
    longitude: float
    altitude: float
    make: str = "Larkspur"
    model: str = "LK-7"
    serial: str = "LK7-000417"


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def exif_for(facts: PhotoFacts) -> Image.Exif:
    exif = Image.Exif()
    exif[EXIF_MAKE] = facts.make
    exif[EXIF_MODEL] = facts.model
    exif[EXIF_SOFTWARE] = "Larkspur FW 2.1"
    sub = exif.get_ifd(EXIF_IFD)
    sub[DATE_TIME_ORIGINAL] = facts.capture_time
    sub[OFFSET_TIME_ORIGINAL] = facts.offset
    sub[BODY_SERIAL] = facts.serial
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N" if facts.latitude >= 0 else "S"
    gps[2] = _dms(facts.latitude)
    gps[3] = "E" if facts.longitude >= 0 else "W"
    gps[4] = _dms(facts.longitude)
    gps[5] = b"\x00"
    gps[6] = facts.altitude
    return exif


def draw_scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure (sky, ground, buildings, texture), different for each seed."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    sky = (rng.randrange(60, 140), rng.randrange(100, 180), rng.randrange(180, 250))
    for y in range(height):  # a graded sky
        shade = y / height
        draw.line((0, y, width, y), fill=tuple(int(c * (1 - 0.5 * shade)) for c in sky))
    horizon = rng.randrange(height // 3, 2 * height // 3)
    draw.rectangle((0, horizon, width, height), fill=(rng.randrange(60, 120), 90, 50))
    for _ in range(rng.randrange(5, 10)):
        left = rng.randrange(0, width - 40)
        top = rng.randrange(height // 6, horizon)
        colour = tuple(rng.randrange(40, 220) for _ in range(3))
        right = left + rng.randrange(30, 140)
        draw.rectangle((left, top, right, horizon), fill=colour)
        for wy in range(top + 6, horizon - 6, 14):  # windows
            for wx in range(left + 5, right - 8, 12):
                draw.rectangle((wx, wy, wx + 5, wy + 7), fill=(20, 20, 30))
    for _ in range(rng.randrange(3, 7)):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(8, 50)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(0, 255) for _ in "rgb"))
    for _ in range(400):  # gravel and grass texture on the ground
        x, y = rng.randrange(width), rng.randrange(horizon, height)
        shade = rng.randrange(30, 160)
        draw.line(
            (x, y, x + rng.randrange(-4, 5), y + rng.randrange(2, 7)),
            fill=(shade, shade + 20, shade // 2),
            width=2,
        )
    return image


def jpeg_bytes(image: Image.Image, facts: PhotoFacts | None = None, quality: int = 88) -> bytes:
    out = io.BytesIO()
    if facts is None:
        image.save(out, "JPEG", quality=quality)
    else:
        image.save(out, "JPEG", quality=quality, exif=exif_for(facts))
    return out.getvalue()


def write_photo(path: Path, seed: int, facts: PhotoFacts | None = None) -> Path:
    path.write_bytes(jpeg_bytes(draw_scene(seed), facts))
    return path


def write_video(path: Path, seconds: int = 3, creation_time: str = "2024-03-01T09:15:00Z") -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to make the sample video (apt install ffmpeg)")
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=320x240:rate=15:duration={seconds}",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "mp4",
            "-metadata",
            f"creation_time={creation_time}",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    return path


def repost(image: Image.Image, caption: str) -> Image.Image:
    """What a platform re-post does to a picture: smaller, a caption bar on top, (and when
    saved with jpeg_bytes) re-compressed with its metadata gone."""
    small = image.resize((image.width * 3 // 5, image.height * 3 // 5), Image.Resampling.BILINEAR)
    bar = small.height // 6
    out = Image.new("RGB", (small.width, small.height + bar), (255, 255, 255))
    out.paste(small, (0, bar))
    ImageDraw.Draw(out).text((8, bar // 3), caption, fill=(0, 0, 0))
    return out


def write_samples(folder: Path) -> list[Path]:
    """The demo's evidence set: three photos, a video, a re-posted copy of one photo, and a
    zip from a witness's phone holding another copy and a corrupt JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        write_photo(
            folder / "market_0412.jpg",
            1,
            PhotoFacts("2024:03:01 12:34:56", "+03:00", 33.5043, 36.2842, 712.5),
        ),
        write_photo(
            folder / "checkpoint_north.jpg",
            2,
            PhotoFacts("2024:03:02 07:05:10", "+03:00", 33.5121, 36.3107, 698.0),
        ),
        write_photo(
            folder / "IMG_2291.JPG",
            3,
            PhotoFacts(
                "2024:03:02 18:40:00",
                "+03:00",
                33.4988,
                36.2764,
                705.0,
                make="Quillon",
                model="Q2",
                serial="Q2-88213",
            ),
        ),
        write_video(folder / "street_clip.mp4"),
    ]
    reposted = folder / "channel_repost.jpg"
    reposted.write_bytes(
        jpeg_bytes(repost(draw_scene(1), "Shared 2 hours ago - market district"), quality=45)
    )
    made.append(reposted)
    archive = folder / "witness_phone_export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("DCIM/100PHONE/IMG_0001.jpg", jpeg_bytes(draw_scene(4)))
        bundle.writestr("DCIM/100PHONE/IMG_0002.jpg", (folder / "market_0412.jpg").read_bytes())
        bundle.writestr("DCIM/100PHONE/IMG_0003.jpg", jpeg_bytes(draw_scene(5))[:700])
    made.append(archive)
    return made


if __name__ == "__main__":
    for made_path in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "samples")):
        print(made_path)
