"""Analysis steps. Each has one shape (sigstore's policies): a name, a version, which media it
applies to, and run(blob, scratch, tools) -> StepOutput. A step's name is the same in the
catalogue, the custody log and the CLI; bumping its version makes `docket analyse` run it again.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import PIL

from docket.analyse.exiftool import ExifTool
from docket.analyse.metadata import STEP_VERSION as METADATA_VERSION
from docket.analyse.metadata import read_metadata
from docket.analyse.sandbox import AnalysisError, ImageWorker, ffmpeg_version, run_ffmpeg
from docket.analyse.versions import package_version


@dataclass(frozen=True)
class DerivativeFile:
    path: Path
    kind: str
    media_type: str
    frame_time: float | None = None


@dataclass(frozen=True)
class HashRecord:
    variant: str
    pdq: str
    quality: int
    frame_time: float | None = None


@dataclass
class StepOutput:
    data: dict[str, Any]
    derivatives: list[DerivativeFile] = field(default_factory=list)
    hashes: list[HashRecord] = field(default_factory=list)


class Tools:
    """The parser processes one analysis thread owns, started when first needed, with their
    temporary files in `scratch` (a folder in the locker's tmp/, removed on close)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self._exiftool: ExifTool | None = None
        self._worker: ImageWorker | None = None

    @property
    def exiftool(self) -> ExifTool:
        if self._exiftool is None:
            self._exiftool = ExifTool(self.scratch)
        return self._exiftool

    @property
    def pictures(self) -> ImageWorker:
        if self._worker is None:
            self._worker = ImageWorker(self.scratch)
        return self._worker

    def close(self) -> None:
        if self._exiftool is not None:
            self._exiftool.close()
        if self._worker is not None:
            self._worker.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class Step(Protocol):
    name: str
    version: str

    def applies_to(self, media_type: str) -> bool: ...

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput: ...


def _is_picture(media_type: str) -> bool:
    return media_type.startswith("image/")


def _is_video(media_type: str) -> bool:
    return media_type.startswith("video/")


def _imaging_versions() -> dict[str, str]:
    return {"pillow": PIL.__version__, "pdqhash": package_version("pdqhash")}


class MetadataStep:
    name = "metadata"
    version = METADATA_VERSION

    def applies_to(self, media_type: str) -> bool:
        return True

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        outcome = read_metadata(tools.exiftool, blob)
        return StepOutput(
            {
                "normalised": outcome.normalised.as_dict(),
                "raw": outcome.raw,
                "exiftool": tools.exiftool.version,
            }
        )


class PreviewsStep:
    """A thumbnail and a safe preview (grey, blurred beyond recognition) of a picture, or of
    a representative frame of a video (ffmpeg's `thumbnail` filter picks it)."""

    name = "previews"
    version = "1"

    def applies_to(self, media_type: str) -> bool:
        return _is_picture(media_type) or _is_video(media_type)

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        recipe: dict[str, Any] = {"tools": _imaging_versions()}
        source = blob
        if _is_video(media_type):
            frame = scratch / "frame.jpg"
            run_ffmpeg(
                blob,
                ["-an", "-vf", "thumbnail=60", "-frames:v", "1", "-q:v", "2", str(frame)],
                scratch,
            )
            if not frame.is_file():
                raise AnalysisError("ffmpeg found no video frame to preview")
            recipe["frame"] = "ffmpeg thumbnail filter over the first 60 frames"
            recipe["tools"]["ffmpeg"] = ffmpeg_version()
            source = frame
        answer = tools.pictures.describe(source, scratch / "previews", hashes=False)
        return StepOutput(
            {"width": answer["width"], "height": answer["height"], "recipe": recipe},
            derivatives=[
                DerivativeFile(Path(answer["thumbnail"]), "thumbnail", "image/jpeg"),
                DerivativeFile(Path(answer["safe_preview"]), "safe_preview", "image/jpeg"),
            ],
        )


class PerceptualStep:
    """PDQ hashes of a picture (whole, central crops, and without added bands)."""

    name = "perceptual"
    version = "1"

    def applies_to(self, media_type: str) -> bool:
        return _is_picture(media_type)

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        answer = tools.pictures.describe(blob, None, hashes=True)
        return StepOutput(
            {"recipe": {"tools": _imaging_versions()}},
            hashes=[
                HashRecord(h["variant"], h["pdq"], int(h["quality"])) for h in answer["hashes"]
            ],
        )


KEYFRAME_INTERVAL = 2.0
# The first minute of a video, where most short clips end, is sampled densely, so a still
# taken between scene changes lies within a quarter second of a hashed frame.
DENSE_INTERVAL = 0.25
DENSE_SECONDS = 60.0
SCENE_THRESHOLD = 0.3
MAX_KEYFRAMES = 1000
KEYFRAME_WIDTH = 640
_PTS_TIME = re.compile(r"Parsed_showinfo.*?pts_time:\s*([0-9.]+)")


class KeyframesStep:
    """Frames at every scene change and at least one every DENSE_INTERVAL seconds for the first
    DENSE_SECONDS, every KEYFRAME_INTERVAL seconds after, each kept as a derivative with its
    time in the video, and hashed like a picture."""

    name = "keyframes"
    version = "2"  # 2: dense sampling of the first DENSE_SECONDS

    def applies_to(self, media_type: str) -> bool:
        return _is_video(media_type)

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        frames = scratch / "keyframes"
        frames.mkdir()
        select = (
            f"select='eq(n\\,0)+gt(scene\\,{SCENE_THRESHOLD})"
            f"+gte(t-prev_selected_t\\,if(lt(t\\,{DENSE_SECONDS:g})\\,{DENSE_INTERVAL}\\,{KEYFRAME_INTERVAL}))'"
        )
        log = run_ffmpeg(
            blob,
            [
                "-an",
                "-vf",
                f"{select},scale='min({KEYFRAME_WIDTH},iw)':-2,showinfo",
                "-fps_mode",
                "vfr",
                "-frames:v",
                str(MAX_KEYFRAMES),
                "-q:v",
                "3",
                "-f",
                "image2",
                str(frames / "%05d.jpg"),
            ],
            scratch,
        )
        times = [float(t) for t in _PTS_TIME.findall(log)]
        paths = sorted(frames.glob("*.jpg"))
        if not paths:
            raise AnalysisError("ffmpeg found no video frames to extract")
        output = StepOutput(
            {
                "count": len(paths),
                "recipe": {
                    "interval_seconds": KEYFRAME_INTERVAL,
                    "dense_interval_seconds": DENSE_INTERVAL,
                    "dense_seconds": DENSE_SECONDS,
                    "scene_threshold": SCENE_THRESHOLD,
                    "max_width": KEYFRAME_WIDTH,
                    "tools": {"ffmpeg": ffmpeg_version(), **_imaging_versions()},
                },
            }
        )
        for index, path in enumerate(paths):
            time = round(times[index], 3) if index < len(times) else None
            output.derivatives.append(DerivativeFile(path, "keyframe", "image/jpeg", time))
            answer = tools.pictures.describe(path, None, hashes=True)
            output.hashes.extend(
                HashRecord(h["variant"], h["pdq"], int(h["quality"]), time)
                for h in answer["hashes"]
            )
        return output


def builtin_steps() -> list[Step]:
    """The steps every item goes through, in order; a configured classifier comes last, loaded
    only now (never at import), the same way outside plugins are."""
    steps: list[Step] = [MetadataStep(), PreviewsStep(), PerceptualStep(), KeyframesStep()]
    from docket.aids.steps import ingest_steps

    steps.extend(ingest_steps())
    from docket.protect import classify

    spec = classify.configured()
    if spec is not None:
        steps.append(classify.ClassifyStep(spec))
    return steps
