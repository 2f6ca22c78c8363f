"""The plain-PNG worker, run as a sandboxed one-shot subprocess (see sandbox.run_worker): a
picture of any type but JPEG written again as a PNG that holds its pixels and nothing else
(every frame of an animation, with their durations), turned upright by its EXIF orientation.

Stripping a PNG, GIF, WebP or TIFF in place leaves what ExifTool does not know (a private
chunk, an application extension, a private tag); a PNG written from the decoded pixels holds
only what Pillow writes for them (docket.protect.hidden_data checks it). PNG is lossless, so
the pixels are the ones the original decodes to. Modes PNG cannot hold (CMYK, YCbCr, LAB,
floating point) are converted to RGB(A), and the answer says so.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from PIL import Image, ImageOps, ImageSequence

PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}
# What of a frame's own information a PNG needs to show the same pixels.
KEPT_INFO = ("transparency",)


def _plain(frame: Image.Image, notes: list[str]) -> Image.Image:
    if frame.mode not in PNG_MODES:
        wanted = "RGBA" if "A" in frame.getbands() else "RGB"
        notes.append(f"converted from {frame.mode} to {wanted}")
        frame = frame.convert(wanted)
    frame.info = {key: frame.info[key] for key in KEPT_INFO if key in frame.info}
    return frame


def handle(request: dict[str, Any]) -> dict[str, Any]:
    notes: list[str] = []
    with Image.open(request["input"]) as opened:
        kind = opened.format or "unknown"
        if getattr(opened, "n_frames", 1) > 1:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(opened):
                durations.append(int(frame.info.get("duration", 100)))
                frames.append(_plain(frame.copy(), notes))
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
    how = f"{kind} written again as PNG (lossless){'; ' if notes else ''}{'; '.join(notes[:1])}"
    return {"ok": True, "how": how, "width": size[0], "height": size[1]}


def main() -> None:
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    request = json.loads(sys.stdin.read())
    try:
        answer = handle(request)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        answer = {"ok": False, "error": f"cannot read the picture ({type(exc).__name__}: {exc})"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
