"""The orientation worker, run as a sandboxed one-shot subprocess (see sandbox.run_worker):
writes a picture with its pixels turned as its EXIF orientation says, so it stays upright
once the orientation tag is stripped. A re-encode: PNG is lossless, JPEG at RE_ENCODE_QUALITY.
"""

from __future__ import annotations

import json
import sys
import warnings

from PIL import Image, ImageOps

from docket.analyse.heif import open_heif_in_pillow

RE_ENCODE_QUALITY = 95


def main() -> None:
    open_heif_in_pillow()
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    request = json.loads(sys.stdin.read())
    try:
        with Image.open(request["input"]) as opened:
            opened.load()
            kind = opened.format or "PNG"
            upright = ImageOps.exif_transpose(opened)
            if kind == "JPEG":
                upright.save(request["output"], "JPEG", quality=RE_ENCODE_QUALITY)
                how = f"re-encoded (JPEG quality {RE_ENCODE_QUALITY})"
            else:
                upright.save(request["output"], kind)
                how = f"re-encoded ({kind}{', lossless' if kind == 'PNG' else ''})"
        answer = {"ok": True, "how": how, "width": upright.width, "height": upright.height}
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        answer = {"ok": False, "error": f"cannot turn the picture ({type(exc).__name__}: {exc})"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
