"""Error level analysis: the picture saved once more at a known quality, and what changed.

After N. Krawetz, "A Picture's Worth: Digital Image Analysis and Forensics" (Black Hat 2007),
the method of FotoForensics and Forensically: regions that were saved as a JPEG as often as
the rest change about as much when saved again; a region pasted or painted in later often
changes more (brighter in the image). We store the difference, scaled to the full range, as
a derivative picture for a person to look at; it makes no finding of its own, because edges,
texture and colour also brighten it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from docket.aids.signals import Signal

NAME = "error-levels"
QUALITY = 90
MAX_SIDE = 2048

EXPLANATION = (
    f"The picture was saved once more at quality {QUALITY} and the difference made visible: "
    "areas that differ in brightness from similar areas around them may have been saved a "
    "different number of times (pasted, painted or retouched). Edges, fine texture and "
    "saturated colour are bright in every picture, so this is a picture to read with care, "
    "not a finding; a picture saved many times shows almost nothing."
)


def error_levels(picture: Image.Image) -> Image.Image:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY)
    with Image.open(io.BytesIO(out.getvalue())) as again:
        resaved = np.asarray(again.convert("RGB"), dtype=np.int16)
    difference = np.abs(np.asarray(picture, dtype=np.int16) - resaved).max(axis=2)
    peak = max(1, int(difference.max()))
    scaled = (difference.astype(np.float32) * (255.0 / peak)).astype(np.uint8)
    image = Image.fromarray(scaled)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
    return image


def signal(picture: Image.Image, out: Path) -> Signal:
    image = error_levels(picture)
    image.save(out, "PNG")
    details = {"quality": QUALITY, "width": image.width, "height": image.height}
    summary = f"error levels at quality {QUALITY}, stored as a picture to look at"
    return Signal(NAME, "for review", summary, EXPLANATION, details)
