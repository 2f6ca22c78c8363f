"""The redaction worker, run as a sandboxed one-shot subprocess (see sandbox.run_worker).

Reads one JSON request on stdin, writes the redacted copy (PNG for pictures, so that every
pixel outside the boxes stays exactly as it was; H.264 for video, frame for frame, audio
copied), a contact sheet, or one still (the upright picture or one frame of the video, its
boxes covered or only found, plain or blurred as a safe preview), and answers one JSON line
with the boxes it covered or found.

A video is worked on as it is shown: ffmpeg turns each frame by the video's display matrix
(a phone's portrait video is stored landscape) and hands it over as a PPM that names its own
size, so a frame is never read at the size stored in the file. Boxes are in pixels of these
upright frames, and the copy is encoded from them with no rotation left to turn it again.

A video's copy is made from frames searched at VIDEO_DETECT_SCALE, each also covering the
faces of its neighbours that it missed itself (tracking.covered). Its contact sheet, which is
also the publication export's re-check of a copy, searches every frame at full size and
carries nothing: what the detector finds there is a face, as thoroughly as ever. Either way
several frames are searched at once (one detector and one OpenCV thread per core, while
ffmpeg decodes and encodes in its own processes).
"""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from docket.analyse._imaging import safe_preview
from docket.analyse.heif import open_heif_in_pillow
from docket.analyse.sandbox import FFMPEG_INPUT, AnalysisError, ffmpeg_path
from docket.errors import DocketError
from docket.protect import tracking
from docket.protect.faces import VIDEO_DETECT_SCALE, Box, FaceDetector
from docket.protect.redaction import redact

SHEET_WIDTH = 320
SHEET_COLUMNS = 4
SHEET_FRAMES = 12
STILL_MAX_SIDE = 1600
# Frames decoded upright (ffmpeg applies the display matrix unless told not to), each a PPM
# with its own width and height.
UPRIGHT_FRAMES = ["-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "-"]
CORES = len(os.sched_getaffinity(0))


def _boxes(
    request: dict[str, Any], detector: FaceDetector | None, rgb: np.ndarray, scale: float = 1.0
) -> list[Box]:
    boxes = [Box(*region) for region in request.get("regions", [])]
    if detector is not None:
        boxes += detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]), scale)
    return boxes


def _outline(image: Image.Image, boxes: list[Box], scale: float) -> Image.Image:
    draw = ImageDraw.Draw(image)
    for b in boxes:
        draw.rectangle(
            (b.x * scale, b.y * scale, (b.x + b.w) * scale, (b.y + b.h) * scale),
            outline=(255, 0, 0),
            width=3,
        )
    return image


def _upright(path: str) -> np.ndarray:
    with Image.open(path) as opened:
        opened.load()
        upright = ImageOps.exif_transpose(opened) or opened
        return np.asarray(upright.convert("RGB"))


def picture(request: dict[str, Any], detector: FaceDetector | None) -> dict[str, Any]:
    rgb = _upright(request["input"])
    boxes = _boxes(request, detector, rgb)
    if request.get("preview"):
        sheet = Image.fromarray(rgb)
        scale = min(1.0, 1024 / max(sheet.size))
        sheet = sheet.resize((round(sheet.width * scale), round(sheet.height * scale)))
        _outline(sheet, boxes, scale).save(request["output"], "JPEG", quality=85)
    else:
        Image.fromarray(redact(rgb, boxes, request["method"])).save(request["output"], "PNG")
    return {"boxes": [b.as_list() for b in boxes], "width": rgb.shape[1], "height": rgb.shape[0]}


def _probe(path: str) -> tuple[str, float]:
    ffprobe = str(Path(ffmpeg_path()).with_name("ffprobe"))
    done = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            *FFMPEG_INPUT,
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=r_frame_rate:format=duration",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AnalysisError(f"ffprobe could not read the video ({done.stderr.strip()[-200:]})")
    info = json.loads(done.stdout)
    stream = info["streams"][0]
    numerator, denominator = (int(n) for n in stream["r_frame_rate"].split("/"))
    return (
        stream["r_frame_rate"],
        float(info["format"].get("duration", 0)) or numerator / max(denominator, 1),
    )


def _frames(pipe: IO[bytes]) -> Iterator[np.ndarray]:
    """The RGB frames of ffmpeg's PPM stream (UPRIGHT_FRAMES), each at the size it names."""
    while magic := pipe.readline(4):
        size, depth = pipe.readline(32).split(), pipe.readline(8)
        if magic != b"P6\n" or len(size) != 2 or depth != b"255\n":
            raise AnalysisError("ffmpeg's frames are not the PPM asked for")
        width, height = int(size[0]), int(size[1])
        raw = pipe.read(width * height * 3)
        if len(raw) != width * height * 3:
            raise AnalysisError("ffmpeg's frames end in the middle of a frame")
        yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)


def _encoder(
    request: dict[str, Any], width: int, height: int, rate: str
) -> subprocess.Popen[bytes]:
    """ffmpeg writing the redacted copy from RGB frames of `width` x `height` on its stdin
    (H.264, audio copied from the original, no metadata: no display matrix either)."""
    return subprocess.Popen(
        [
            ffmpeg_path(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            rate,
            "-i",
            "-",
            *FFMPEG_INPUT,
            "-i",
            request["input"],
            "-map",
            "0:v",
            "-map",
            "1:a?",
            "-c:v",
            "libx264",
            "-bsf:v",
            "filter_units=remove_types=6",  # x264's settings message: no SEI leaves
            "-crf",
            "17",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",  # encoded again: an AAC frame copied could carry a data element
            "-b:a",
            "192k",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-f",
            "mp4",
            request["output"],
        ],
        stdin=subprocess.PIPE,
    )


def _searched(
    frames: Iterator[np.ndarray],
    detector: FaceDetector,
    wanted: Callable[[int], bool],
    scale: float,
) -> Iterator[tuple[np.ndarray, list[Box] | None]]:
    """Each frame with the faces found in it at `scale` (None where not `wanted`), in order.
    CORES frames are searched at once, each by its own detector on one OpenCV thread (OpenCV
    lets go of Python's lock while the network runs)."""
    import cv2

    cv2.setNumThreads(1)
    free: queue.SimpleQueue[FaceDetector] = queue.SimpleQueue()
    free.put(detector)
    for _ in range(CORES - 1):
        free.put(FaceDetector(detector.model, detector.threshold))

    def search(rgb: np.ndarray) -> list[Box]:
        searcher = free.get()
        try:
            return searcher.detect(np.ascontiguousarray(rgb[:, :, ::-1]), scale)
        finally:
            free.put(searcher)

    pending: deque[tuple[np.ndarray, Future[list[Box]] | None]] = deque()
    with ThreadPoolExecutor(CORES) as pool:
        for index, rgb in enumerate(frames):
            pending.append((rgb, pool.submit(search, rgb) if wanted(index) else None))
            if len(pending) > 2 * CORES:
                rgb, found = pending.popleft()
                yield rgb, found.result() if found else None
        while pending:
            rgb, found = pending.popleft()
            yield rgb, found.result() if found else None


def _tracked(
    searched: Iterator[tuple[np.ndarray, list[Box] | None]],
) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Each frame with the faces to cover in it: its own and those its neighbours carry over
    (none in a frame that was not searched)."""
    before: list[Box] = []
    current = next(searched, None)
    while current is not None:
        following = next(searched, None)
        rgb, found = current
        height, width = rgb.shape[:2]
        after = (following[1] or []) if following else []
        boxes = [] if found is None else tracking.covered(before, found, after, width, height)
        yield rgb, boxes
        before, current = found or [], following


def video(request: dict[str, Any], detector: FaceDetector | None) -> dict[str, Any]:
    rate, duration = _probe(request["input"])
    numerator, denominator = (int(n) for n in rate.split("/"))
    fps = numerator / denominator
    start, end = request.get("from"), request.get("to")
    regions = [Box(*region) for region in request.get("regions", [])]
    decoder = subprocess.Popen(
        [
            *[ffmpeg_path(), "-nostdin", "-v", "error", *FFMPEG_INPUT, "-i", request["input"]],
            *["-map", "0:v:0", "-fps_mode", "passthrough", *UPRIGHT_FRAMES],
        ],
        stdout=subprocess.PIPE,
    )
    preview = bool(request.get("preview"))
    encoder = None
    assert decoder.stdout is not None
    covered: list[list[float]] = []
    sheet: list[Image.Image] = []
    frame_count, width, height = 0, 0, 0
    wanted = max(1, int(duration * fps / SHEET_FRAMES))

    def in_range(index: int) -> bool:
        time = index / fps
        return (start is None or time >= start) and (end is None or time <= end)

    frames: Iterator[tuple[np.ndarray, list[Box] | None]]
    if detector is None:
        frames = ((rgb, []) for rgb in _frames(decoder.stdout))
    elif preview:
        frames = _searched(_frames(decoder.stdout), detector, in_range, 1.0)
    else:
        frames = _tracked(
            _searched(_frames(decoder.stdout), detector, in_range, VIDEO_DETECT_SCALE)
        )
    for rgb, faces in frames:
        if frame_count == 0:
            height, width = rgb.shape[:2]
        elif rgb.shape[:2] != (height, width):
            raise AnalysisError(f"the video's frames change size at frame {frame_count}")
        boxes = regions + (faces or []) if in_range(frame_count) else []
        time = frame_count / fps
        covered += [[round(time, 3), *b.as_list()] for b in boxes]
        if preview:
            if frame_count % wanted == 0 and len(sheet) < SHEET_FRAMES:
                scale = SHEET_WIDTH / width
                image = Image.fromarray(rgb).resize((SHEET_WIDTH, round(height * scale)))
                sheet.append(_outline(image, boxes, scale))
        else:
            encoder = encoder or _encoder(request, width, height, rate)
            assert encoder.stdin is not None
            encoder.stdin.write(redact(rgb, boxes, request["method"], seed=frame_count).tobytes())
        frame_count += 1
    decoder.wait()
    if encoder is not None:
        assert encoder.stdin is not None
        encoder.stdin.close()
        if encoder.wait() != 0:
            raise AnalysisError("ffmpeg could not write the redacted video")
    if decoder.returncode != 0 or frame_count == 0:
        raise AnalysisError("ffmpeg could not decode the video")
    if preview:
        rows = (len(sheet) + SHEET_COLUMNS - 1) // SHEET_COLUMNS
        tile_height = sheet[0].height
        contact = Image.new("RGB", (SHEET_WIDTH * SHEET_COLUMNS, tile_height * rows))
        for i, tile in enumerate(sheet):
            contact.paste(
                tile, ((i % SHEET_COLUMNS) * SHEET_WIDTH, (i // SHEET_COLUMNS) * tile_height)
            )
        contact.save(request["output"], "JPEG", quality=85)
    return {"boxes": covered, "frames": frame_count, "fps": rate, "width": width, "height": height}


def _frame(path: str, at: float) -> tuple[np.ndarray, float, float]:
    """The video's frame at `at` seconds (at most two frames before its end: a seek to the
    very last frame can land past it), upright and RGB; the time it was taken from and the
    video's duration."""
    rate, duration = _probe(path)
    numerator, denominator = (int(n) for n in rate.split("/"))
    at = min(max(0.0, at), max(0.0, duration - 2 * denominator / max(numerator, 1)))
    done = subprocess.run(
        [
            *[ffmpeg_path(), "-nostdin", "-v", "error", *FFMPEG_INPUT, "-ss", f"{at:.3f}"],
            *["-i", path, "-map", "0:v:0", "-frames:v", "1", *UPRIGHT_FRAMES],
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    frame = next(_frames(io.BytesIO(done.stdout)), None)
    if done.returncode != 0 or frame is None:
        raise AnalysisError(f"ffmpeg could not decode a frame at {at:.3f} s")
    return frame, at, duration


def still(request: dict[str, Any], detector: FaceDetector | None) -> dict[str, Any]:
    """One still: the picture, or the video's frame at the asked time (its boxes apply only
    within the redaction's from/to range, as in the redaction itself)."""
    asked = request["still"]
    answer: dict[str, Any] = {}
    if request["media"] == "video":
        rgb, at, duration = _frame(request["input"], float(asked.get("at") or 0.0))
        start, end = request.get("from"), request.get("to")
        in_range = (start is None or at >= start) and (end is None or at <= end)
        answer = {"at": round(at, 3), "duration": round(duration, 3)}
        scale = VIDEO_DETECT_SCALE  # searched as the copy's frames are
    else:
        rgb, in_range, scale = _upright(request["input"]), True, 1.0
    boxes = _boxes(request, detector, rgb, scale) if in_range else []
    if asked.get("cover"):
        rgb = redact(rgb, boxes, request["method"])
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if asked.get("blur"):
        safe_preview(image).save(request["output"], "JPEG", quality=85)
    else:
        image.thumbnail((STILL_MAX_SIDE, STILL_MAX_SIDE), Image.Resampling.LANCZOS)
        image.save(request["output"], "PNG")
    height, width = rgb.shape[:2]
    return {**answer, "boxes": [b.as_list() for b in boxes], "width": width, "height": height}


def main() -> None:
    open_heif_in_pillow()
    request = json.loads(sys.stdin.read())
    try:
        detector = (
            FaceDetector(
                Path(request["model"]) if request.get("model") else None,
                float(request.get("threshold", 0.3)),
            )
            if request.get("faces")
            else None
        )
        handler = (
            still if request.get("still") else video if request["media"] == "video" else picture
        )
        answer = {"ok": True, **handler(request, detector)}
    except DocketError as exc:  # a bad file or face model: its message says which and why
        answer = {"ok": False, "error": str(exc)}
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
