"""Video face redaction covers, frame by frame, every face the product promises to find (at
least SMALLEST_VIDEO_FACE pixels high in the source frame), and at least as many faces as the
full-size detector alone covers frame by frame (tracking may add, never lose).

The count is independent of the detector: the test draws the faces (crops of scikit-image's
astronaut, at many sizes, moving over sample photographs) and knows where each one is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import take
from media import sample
from PIL import Image
from test_protect import derivative_path, output

from docket.analyse.batch import run_step
from docket.disclose.publication import COVERED
from docket.locker import Locker
from docket.protect.faces import SMALLEST_VIDEO_FACE, Box, FaceDetector
from docket.protect.steps import RedactStep
from docket.protect.tracking import covered

FPS = 10
SIZE = (640, 360)
CROP = (120, 0, 340, 260)  # the astronaut's head and shoulders in skimage.data.astronaut()
FACE = (182, 59, 88, 118)  # her face within it, brow to chin and ear to ear (x, y, w, h)
HEIGHTS = [SMALLEST_VIDEO_FACE, 44, 52, 64, 80, 104, 136]
FRAMES = 14

Rect = tuple[int, int, int, int]


def head(height: int) -> tuple[Image.Image, Rect]:
    """The astronaut's head scaled so her face is `height` pixels high; the face within it."""
    k = height / FACE[3]
    left, top, right, bottom = CROP
    image = sample("astronaut").crop(CROP)
    size = (round((right - left) * k), round((bottom - top) * k))
    image = image.resize(size, Image.Resampling.LANCZOS)
    x, y, w, h = FACE
    return image, (round((x - left) * k), round((y - top) * k), round(w * k), round(h * k))


def moving_faces(folder: Path) -> tuple[Path, list[list[Rect]]]:
    """A video of two faces of changing sizes crossing sample photographs; each frame's faces."""
    folder.mkdir(parents=True, exist_ok=True)
    backgrounds = [sample(name).resize(SIZE) for name in ("coffee", "rocket", "horse")]
    truth = []
    for i in range(FRAMES):
        frame = backgrounds[i % len(backgrounds)].copy()
        faces = []
        for lane, height in enumerate([HEIGHTS[i % 7], HEIGHTS[(i + 3) % 7]]):
            image, (fx, fy, fw, fh) = head(height)
            half = SIZE[0] // 2  # the left face walks right in its half, the right one left
            x = 8 * i if lane == 0 else SIZE[0] - image.width - 7 * i
            x = min(max(x, lane * half), (lane + 1) * half - image.width)
            y = (SIZE[1] - image.height) // 2 + (3 * i if lane else -3 * i)
            y = min(max(y, 0), SIZE[1] - image.height)
            frame.paste(image, (x, y))
            faces.append((x + fx, y + fy, fw, fh))
        frame.save(folder / f"frame{i:03d}.png")
        truth.append(faces)
    video = folder / "faces.mp4"
    subprocess.run(
        [
            *["ffmpeg", "-loglevel", "error", "-y", "-framerate", str(FPS)],
            *["-i", str(folder / "frame%03d.png"), "-c:v", "libx264", "-crf", "12"],
            *["-pix_fmt", "yuv420p", str(video)],
        ],
        check=True,
        timeout=120,
    )
    return video, truth


def decoded_frames(path: Path) -> list[np.ndarray]:
    """The video's frames (SIZE), BGR as the detector takes them."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    raw = np.frombuffer(done.stdout, dtype=np.uint8)
    return list(raw.reshape(-1, SIZE[1], SIZE[0], 3))


def under(face: Rect, boxes: list[Rect]) -> bool:
    """At least COVERED of the face lies under the boxes."""
    x, y, w, h = face
    mask = np.zeros((h, w), dtype=bool)
    for bx, by, bw, bh in boxes:
        mask[max(0, by - y) : max(0, by + bh - y), max(0, bx - x) : max(0, bx + bw - x)] = True
    return bool(mask.mean() >= COVERED)


@pytest.mark.parametrize("backend", ["sqlite"])  # the frames' pixels: no catalogue work
def test_every_promised_face_is_covered_in_every_frame(locker: Locker, tmp_path: Path) -> None:
    video, truth = moving_faces(tmp_path / "v")
    sha256 = take(locker, video).outcomes[0].sha256 or ""
    run = run_step(locker, sha256, "video/mp4", RedactStep(faces=True), "tester")
    now: list[list[Rect]] = [[] for _ in truth]
    for time, x, y, w, h in output(run)["boxes"]:
        now[round(time * FPS)].append((x, y, w, h))
    detector = FaceDetector()
    source = decoded_frames(video)
    before = [[(b.x, b.y, b.w, b.h) for b in detector.detect(frame)] for frame in source]
    covered_now = [sum(under(face, now[i]) for face in faces) for i, faces in enumerate(truth)]
    covered_before = [
        sum(under(face, before[i]) for face in faces) for i, faces in enumerate(truth)
    ]
    print(
        f"faces drawn {sum(map(len, truth))}, covered now {sum(covered_now)}, "
        f"by the full-size detector alone {sum(covered_before)}"
    )
    assert covered_now == [len(faces) for faces in truth], covered_now
    assert all(n >= b for n, b in zip(covered_now, covered_before, strict=True))
    copy = decoded_frames(derivative_path(locker, run))
    assert [detector.detect(frame) for frame in copy] == [[] for _ in copy]


def test_a_face_missed_in_one_frame_is_covered_from_its_neighbours() -> None:
    before, after = Box(100, 100, 40, 50), Box(120, 104, 40, 50)
    [carried] = covered([before], [], [after], 640, 360)
    midway = Box(110, 102, 40, 50)
    assert carried.x <= midway.x and carried.x + carried.w >= midway.x + midway.w
    assert carried.y <= midway.y and carried.y + carried.h >= midway.y + midway.h
    [alone] = covered([before], [], [], 640, 360)  # gone next frame: carried, grown for motion
    assert alone.w > before.w and alone.x < before.x
    found = Box(102, 101, 40, 50)  # found in the frame itself: nothing carried over it
    assert covered([before], [found], [after], 640, 360) == [found]
