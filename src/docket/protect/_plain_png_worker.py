"""The plain-PNG worker, run as a sandboxed one-shot subprocess (see sandbox.run_worker): a
picture of any type but JPEG written again as a PNG that holds its pixels and nothing else
(every frame of an animation, with their durations), turned upright by its EXIF orientation.

Stripping a PNG, GIF, WebP or TIFF in place leaves what ExifTool does not know (a private
chunk, an application extension, a private tag); a PNG written from the decoded pixels holds
only what Pillow writes for them (docket.protect.hidden_data checks it). PNG is lossless, so
the pixels are the ones the original decodes to, but where the answer says otherwise: modes
PNG cannot hold (CMYK, YCbCr, LAB, floating point) converted to RGB(A), 32-bit values cut to
16, a 16-bit-per-channel colour picture read as 8 bits by Pillow. A palette becomes RGB(A)
(the same colours: its unused entries could carry anything). Animation frames are kept,
each as RGBA; a TIFF of several pages is refused (strip writes one picture).
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from PIL import Image, ImageOps, ImageSequence

from docket.analyse.heif import open_heif_in_pillow

# Modes a PNG holds as they are. A palette ("P", "PA") is not kept: its unused entries (and
# their transparency) can carry any bytes, so those pictures become RGB(A), the same colours.
PNG_MODES = {"1", "L", "LA", "I;16", "RGB", "RGBA"}
# Formats whose frames are an animation (kept as one, APNG); the pages of a TIFF are not.
ANIMATED = {"GIF", "PNG", "WEBP"}
# Pillow's APNG writer holds every frame at once (as RGBA), under the sandbox's 3 GiB (140
# frames of 1080p, 1.1 GiB decoded, were written; 190, 1.5 GiB, were not): an
# animation larger than this decoded is refused in words rather than crashing the worker.
ANIMATION_BUDGET = 1 << 30


class Refused(ValueError):
    """A picture this worker will not write as one PNG, with the reason."""


def _plain(frame: Image.Image, notes: list[str]) -> Image.Image:
    if frame.mode in ("P", "PA"):
        wanted = "RGBA" if frame.mode == "PA" or "transparency" in frame.info else "RGB"
        frame = frame.convert(wanted)
    elif frame.mode == "I":  # 32-bit integers: PNG holds 16
        notes.append("32-bit values cut to 16 bits")
        frame = frame.convert("I;16")
    elif frame.mode not in PNG_MODES:
        wanted = "RGBA" if "A" in frame.getbands() else "RGB"
        notes.append(f"converted from {frame.mode} to {wanted}")
        frame = frame.convert(wanted)
    frame.info = {}
    return frame


def _depth_note(opened: Image.Image) -> list[str]:
    """Pillow reads a colour PNG or TIFF of 16 bits per channel as 8: say so."""
    raw = " ".join(
        str(tile.args[0] if isinstance(tile.args, tuple) else tile.args)
        for tile in getattr(opened, "tile", [])
    )
    deep = ";16" in raw and opened.mode in ("RGB", "RGBA", "LA")
    return ["reduced to 8 bits per channel"] if deep else []


def handle(request: dict[str, Any]) -> dict[str, Any]:
    notes: list[str] = []
    with Image.open(request["input"]) as opened:
        kind = opened.format or "unknown"
        notes += _depth_note(opened)
        frames_in = getattr(opened, "n_frames", 1)
        if frames_in > 1 and kind not in ANIMATED:
            raise Refused(f"a {kind} of {frames_in} pages: strip writes one picture")
        decoded = frames_in * opened.width * opened.height * 4
        if frames_in > 1 and decoded > ANIMATION_BUDGET:
            raise Refused(
                f"an animation of {frames_in} frames of {opened.width}x{opened.height} is "
                f"{decoded / (1 << 30):.1f} GiB decoded, more than strip writes again at once "
                f"({ANIMATION_BUDGET >> 30} GiB)"
            )
        if frames_in > 1:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(opened):
                if frame.size != opened.size:
                    raise Refused("an animation whose frames differ in size")
                durations.append(int(frame.info.get("duration", 100)))
                frames.append(_plain(frame.convert("RGBA"), notes))
            loop = int(opened.info.get("loop", 0))
            frames[0].save(
                request["output"],
                "PNG",
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=loop,
            )
            size = frames[0].size
        else:
            opened.load()
            upright = _plain(ImageOps.exif_transpose(opened), notes)
            upright.save(request["output"], "PNG")
            size = upright.size
    how = f"{kind} written again as PNG" + (f"; {'; '.join(notes[:2])}" if notes else " (lossless)")
    return {"ok": True, "how": how, "width": size[0], "height": size[1]}


def main() -> None:
    open_heif_in_pillow()
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    request = json.loads(sys.stdin.read())
    try:
        answer = handle(request)
    except Refused as exc:
        answer = {"ok": False, "error": f"cannot strip this picture: {exc}"}
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        answer = {"ok": False, "error": f"cannot read or write the picture ({reason})"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
