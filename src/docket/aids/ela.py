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

from PIL import Image, ImageChops

from docket.aids.signals import Signal

NAME = "error-levels"
QUALITY = 90
MAX_SIDE = 1600

EXPLANATION = (
    f"The picture was saved once more at quality {QUALITY} and the difference made visible: "
    "areas that differ in brightness from similar areas around them may have been saved a "
    "different number of times (pasted, painted or retouched). Edges, fine texture and "
    "saturated colour are bright in every picture, so this is a picture to read with care, "
    "not a finding; a picture saved many times shows almost nothing."
)


def error_levels(picture: Image.Image) -> Image.Image:
    """The largest per-channel difference after one more save, scaled so the largest is white
    (all in Pillow's C loops: a 12-megapixel picture is 36 million values)."""
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY)
    with Image.open(io.BytesIO(out.getvalue())) as again:
        red, green, blue = ImageChops.difference(picture, again.convert("RGB")).split()
    difference = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    difference.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
    low_high = difference.getextrema()  # a single band: (lowest, highest)
    peak = max(1, int(low_high[1]) if isinstance(low_high[1], int | float) else 1)
    return difference.point([min(255, value * 255 // peak) for value in range(256)])


def signal(picture: Image.Image, out: Path) -> Signal:
    image = error_levels(picture)
    image.save(out, "PNG", compress_level=1)
    details = {"quality": QUALITY, "width": image.width, "height": image.height}
    summary = f"error levels at quality {QUALITY}, stored as a picture to look at"
    return Signal(NAME, "for review", summary, EXPLANATION, details)
