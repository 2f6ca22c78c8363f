"""The picture signals, computed inside the sandboxed analysis worker (analyse/_worker.py).

Decoding is where a crafted file attacks, so this module runs only there, under the worker's
memory limit and deadline, and answers plain JSON: the signals and the path of the error-level
picture it wrote into the scratch folder it was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from docket.aids import ela, ghosts, quantisation, thumbnail
from docket.aids.signals import Signal

NOT_JPEG = "not a JPEG picture"


def _luminance(path: Path) -> np.ndarray:
    """The JPEG's own Y plane, without a round trip through RGB."""
    with Image.open(path) as image:
        image.draft("YCbCr", image.size)
        image.load()
        plane = image.getchannel(0) if image.mode == "YCbCr" else image.convert("L")
        return np.asarray(plane)


def signals(path: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with Image.open(path) as image:
        if image.format != "JPEG":
            skipped = [
                Signal(name, "not checked", NOT_JPEG, explanation).as_dict()
                for name, explanation in (
                    (quantisation.NAME, quantisation.EXPLANATION),
                    (ghosts.NAME, ghosts.EXPLANATION),
                    (thumbnail.NAME, thumbnail.EXPLANATION),
                )
            ]
            image.load()
            picture = image.convert("RGB")
            found = [*skipped, ela.signal(picture, out / "error_levels.png").as_dict()]
            return {"signals": found, "error_levels": str(out / "error_levels.png")}
        tables = {int(k): list(v) for k, v in getattr(image, "quantization", {}).items()}
        image.load()
        picture = image.convert("RGB")
        found_signals = [quantisation.signal(tables)]
        quality, _exact = quantisation.estimate_quality(tables) if tables else (0, False)
        found_signals.append(ghosts.signal(_luminance(path), quality))
        found_signals.append(thumbnail.signal(image, picture))
    found_signals.append(ela.signal(picture, out / "error_levels.png"))
    return {
        "signals": [s.as_dict() for s in found_signals],
        "error_levels": str(out / "error_levels.png"),
    }
