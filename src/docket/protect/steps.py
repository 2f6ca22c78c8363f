"""Redaction and stripping as steps: they make derivatives of an item, never change it, and
are recorded like analysis (result, derivatives, custody event with all parameters).
Stripping turns a picture's pixels by its EXIF orientation first (losslessly where it can),
and says how in its result."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docket.aids.video import probe
from docket.analyse.exiftool import ExifTool
from docket.analyse.sandbox import FFMPEG_INPUT, AnalysisError, ffmpeg_path, run_worker
from docket.analyse.steps import DerivativeFile, StepOutput, Tools
from docket.mediatype import extension
from docket.protect.faces import (
    DEFAULT_THRESHOLD,
    DETECT_MAX_SIDE,
    SMALLEST_VIDEO_FACE,
    STRIDE,
    VIDEO_DETECT_SCALE,
    FaceDetector,
    default_model,
    model_digest,
)
from docket.protect.hidden_data import (
    JPEGTRAN_REWRITE,
    PICTURE_UNITS,
    REWRITTEN_HEADERS,
    picture_extras,
    rewritten_jpeg,
    video_extras,
)
from docket.protect.tracking import CARRY_GROWTH
from docket.store.scratch import environment

REDACT_TIMEOUT = 3600.0
STILL_TIMEOUT = 300.0
STRIP_TIMEOUT = 600.0
# Groups that describe the file rather than carry metadata, so they stay after stripping.
STRUCTURAL_GROUPS = {"File", "Composite", "ExifTool", "System"}
KEPT_FILE_TAGS = {"Comment"}
# The streams a stripped video keeps: its pictures (V: not a cover picture) and sound; never a
# subtitle, data (a GPS or telemetry track) or attachment stream (docket.protect.hidden_data).
VIDEO_KEPT_STREAMS = ["-map", "0:V?", "-map", "0:a?"]  # either may be missing
# Sound is encoded again: an AAC frame can carry a data element, Opus and MP3 frames padding,
# and no filter takes those out (docket.protect.hidden_data).
SOUND_ENCODED_AGAIN = {
    "mp4": ["-c:a", "aac", "-b:a", "192k"],
    "webm": ["-c:a", "libopus", "-b:a", "128k"],  # WebM holds Opus or Vorbis sound only
}
VIDEO_RECIPE = (
    "ffmpeg -map 0:V? -map 0:a? -c:v copy -map_metadata -1, only the units that code the "
    "pictures (filter_units), the sound encoded again (AAC 192 kb/s; Opus in WebM)"
)
CONTAINERS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-matroska": "matroska",
    "video/webm": "webm",
}


def _kind(media_type: str) -> str:
    if media_type.startswith("image/"):
        return "picture"
    if media_type.startswith("video/"):
        return "video"
    raise AnalysisError(f"{media_type} is neither a picture nor a video")


def metadata_groups(record: dict[str, Any]) -> dict[str, list[str]]:
    """Tags by ExifTool group, leaving out those that only describe the file's structure
    (but not a comment, which ExifTool files under the File group)."""
    groups: dict[str, list[str]] = {}
    for key in record:
        group, _, tag = key.partition(":")
        if tag and (group not in STRUCTURAL_GROUPS or tag in KEPT_FILE_TAGS):
            groups.setdefault(group, []).append(tag)
    return groups


def _pictures_only(streams: list[dict[str, Any]]) -> list[str]:
    """FFmpeg's options that keep, of each video stream kept, only the units that code its
    pictures, with their parameter sets written again from their fields (by the stream's
    number among those kept: VIDEO_KEPT_STREAMS keeps them in order)."""
    options: list[str] = []
    kept = 0
    for stream in streams:
        if stream.get("codec_type") != "video" or (stream.get("disposition") or {}).get(
            "attached_pic"
        ):
            continue
        codec = str(stream.get("codec_name"))
        if codec in PICTURE_UNITS:
            units = f"filter_units=pass_types={PICTURE_UNITS[codec]}"
            options += [f"-bsf:v:{kept}", f"{units},{REWRITTEN_HEADERS[codec]}"]
        kept += 1
    return options


def strip_file(source: Path, media_type: str, target: Path) -> None:
    """Write `target`: a video or JPEG `source` without metadata, its pictures and sound
    copied, not re-encoded (a video keeps only those streams). The tool's own temporary
    files go beside `target` (a step's scratch folder)."""
    if _kind(media_type) == "video":
        container = CONTAINERS.get(media_type, "mp4")
        command = [
            ffmpeg_path(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            *FFMPEG_INPUT,
            "-i",
            str(source),
            *VIDEO_KEPT_STREAMS,
            *_pictures_only(probe(source, target.parent).get("streams", [])),
            "-c:v",
            "copy",
            *SOUND_ENCODED_AGAIN.get(container, SOUND_ENCODED_AGAIN["mp4"]),
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-f",
            container,
            str(target),
        ]
        output = None
    else:
        exiftool = shutil.which("exiftool")
        if exiftool is None:
            raise AnalysisError("exiftool is not installed")
        # `-o -` writes the edited file to stdout: ExifTool will not write a named output
        # for a source whose name has no extension (store blobs have none).
        command = [exiftool, "-q", "-q", "-all=", "-o", "-", str(source)]
        output = target.open("wb")
    try:
        done = subprocess.run(
            command,
            stdout=output,
            stderr=subprocess.PIPE,
            timeout=STRIP_TIMEOUT,
            check=False,
            env=environment(target.parent),
        )
    except subprocess.TimeoutExpired as exc:
        raise AnalysisError("stripping took too long and was stopped") from exc
    finally:
        if output is not None:
            output.close()
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown"]
        raise AnalysisError(f"cannot strip this file ({reason[0]})")


def _counted(groups: dict[str, list[str]]) -> dict[str, int]:
    """Tags counted by group, an XMP group by its family: the names are the file's own (a
    PNG text's keyword, a custom XMP namespace), and the step's result travels with the copy
    in a publication package, so they are not kept."""
    counts: dict[str, int] = {}
    for group, tags in groups.items():
        family = "XMP" if group.startswith("XMP") else group
        counts[family] = counts.get(family, 0) + len(tags)
    return counts


def stripped_report(exiftool: ExifTool, before: Path, after: Path) -> dict[str, Any]:
    """How many tags stripping removed, by ExifTool group, and how many remain."""
    had, has = metadata_groups(exiftool.read(before)), metadata_groups(exiftool.read(after))
    removed = {group: sorted(set(tags) - set(has.get(group, []))) for group, tags in had.items()}
    return {
        "removed": _counted({g: t for g, t in removed.items() if t}),
        "remaining": _counted(has),
    }


# jpegtran's lossless transforms that undo each EXIF orientation (2 to 8).
JPEGTRAN = {
    2: ["-flip", "horizontal"],
    3: ["-rotate", "180"],
    4: ["-flip", "vertical"],
    5: ["-transpose"],
    6: ["-rotate", "90"],
    7: ["-transverse"],
    8: ["-rotate", "270"],
}


def _orientation(record: dict[str, Any]) -> int:
    value = record.get("IFD0:Orientation", 1)
    return int(value) if isinstance(value, int) and value in range(1, 9) else 1


def turn_upright(source: Path, media_type: str, orientation: int, target: Path) -> str:
    """Write `target`: `source` with its pixels turned as its EXIF orientation says, so it
    stays upright once the tag is stripped; how it was done. A JPEG is turned losslessly by
    `jpegtran -perfect` when installed and the picture's size allows it, else re-encoded."""
    jpegtran = shutil.which("jpegtran")
    if media_type == "image/jpeg" and jpegtran is not None:
        done = subprocess.run(
            [
                *[jpegtran, "-copy", "none", "-perfect", *JPEGTRAN[orientation]],
                *["-outfile", str(target), str(source)],
            ],
            capture_output=True,
            timeout=STRIP_TIMEOUT,
            check=False,
            env=environment(target.parent),
        )
        if done.returncode == 0 and target.is_file() and target.stat().st_size:
            return "jpegtran -perfect (lossless)"
        target.unlink(missing_ok=True)
    request = {"input": str(source), "output": str(target)}
    answer = run_worker("docket.protect._orient_worker", request, STRIP_TIMEOUT, target.parent)
    return str(answer["how"])


def _kept_picture(media_type: str) -> str:
    """A JPEG stays a JPEG (ExifTool's -all=, then jpegtran's lossless rewrite: the coded
    picture and the tables it uses alone); any other picture, and a JPEG where jpegtran is
    not installed, becomes a PNG of its pixels (docket.protect._plain_png_worker)."""
    if media_type == "image/jpeg" and shutil.which("jpegtran") is not None:
        return media_type
    return "image/png"


class StripStep:
    """Metadata removed; a picture's pixels first turned upright by its EXIF orientation
    (which goes with the rest), so a portrait stays a portrait. What the copy holds is then
    checked against what a picture or a video needs (docket.protect.hidden_data)."""

    name = "strip"
    # 3: a picture other than JPEG is written again as a plain PNG, a JPEG rewritten by
    # jpegtran, and a video keeps only its pictures and sound, without SEI (2 kept a PNG's
    # private chunks, a JPEG's unused tables and a video's subtitle and data tracks)
    version = "3"

    def applies_to(self, media_type: str) -> bool:
        return media_type.startswith(("image/", "video/"))

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        kept_type = media_type if media_type.startswith("video/") else _kept_picture(media_type)
        target = scratch / f"stripped.{extension(kept_type)}"
        turned = None
        if kept_type == "image/png":
            orientation = _orientation(tools.exiftool.read(blob))
            answer = run_worker(
                "docket.protect._plain_png_worker",
                {"input": str(blob), "output": str(target)},
                STRIP_TIMEOUT,
                scratch,
            )
            recipe = f"pixels only: {answer['how']}"
            if orientation != 1:
                turned = {"exif_orientation": orientation, "pixels_turned_by": answer["how"]}
        else:
            source = blob
            if kept_type == "image/jpeg":
                orientation = _orientation(tools.exiftool.read(blob))
                if orientation != 1:
                    source = scratch / f"upright.{extension(media_type)}"
                    how = turn_upright(blob, media_type, orientation, source)
                    turned = {"exif_orientation": orientation, "pixels_turned_by": how}
            strip_file(source, media_type, target)
            recipe = VIDEO_RECIPE
            if kept_type == "image/jpeg":
                target.write_bytes(rewritten_jpeg(target, scratch))
                recipe = f"exiftool -all=, then jpegtran {' '.join(JPEGTRAN_REWRITE)} (lossless)"
        left = (
            video_extras(target, scratch)
            if kept_type.startswith("video/")
            else picture_extras(target, kept_type, scratch)
        )
        if left:  # what the recipe is for: a copy that still holds them is never made
            raise AnalysisError(f"cannot strip this file: the copy still holds {', '.join(left)}")
        report = stripped_report(tools.exiftool, blob, target)
        return StepOutput(
            {
                **report,
                "recipe": {"tool": recipe, "exiftool": tools.exiftool.version},
                "orientation": turned,
                "media_type": kept_type,
            },
            derivatives=[DerivativeFile(target, "stripped", kept_type)],
        )


@dataclass
class RedactStep:
    """Faces (detected on every picture or frame) and hand-drawn regions, covered."""

    faces: bool
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    start: float | None = None
    end: float | None = None
    method: str = "mosaic"
    strip: bool = True
    model: Path | None = None
    threshold: float = DEFAULT_THRESHOLD
    name: str = "redact"
    # 2: video frames searched at VIDEO_DETECT_SCALE, with faces carried between neighbours
    version: str = "2"
    # The model's SHA-256, read once here: a missing or unreadable model is a FaceModelError
    # before anything runs or is recorded, and the digest logged is of the model checked.
    model_sha256: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.faces:
            self.model_sha256 = model_digest(self.model or default_model())

    def applies_to(self, media_type: str) -> bool:
        return media_type.startswith(("image/", "video/"))

    def request(self, blob: Path, media_type: str, output: Path, preview: bool) -> dict[str, Any]:
        return {
            "input": str(blob),
            "output": str(output),
            "media": _kind(media_type),
            "faces": self.faces,
            "regions": [list(r) for r in self.regions],
            "from": self.start,
            "to": self.end,
            "method": self.method,
            "model": str(self.model or default_model()) if self.faces else None,
            "threshold": self.threshold,
            "preview": preview,
        }

    def parameters(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "regions": [list(r) for r in self.regions],
            "from": self.start,
            "to": self.end,
            "method": self.method,
            "detector": {
                "name": FaceDetector.name,
                "model_sha256": self.model_sha256,
                "threshold": self.threshold,
                "max_side": DETECT_MAX_SIDE,
                "video": {
                    "scale": VIDEO_DETECT_SCALE,
                    "smallest_face": SMALLEST_VIDEO_FACE,
                    "box_slack": STRIDE * (1 / VIDEO_DETECT_SCALE - 1),
                    "tracking": {"neighbours": 1, "carry_growth": CARRY_GROWTH},
                },
            }
            if self.faces
            else None,
        }

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        video = _kind(media_type) == "video"
        redacted = scratch / ("redacted.mp4" if video else "redacted.png")
        answer = run_worker(
            "docket.protect._redact_worker",
            self.request(blob, media_type, redacted, preview=False),
            REDACT_TIMEOUT,
            scratch,
        )
        final, data = redacted, {**self.parameters(), **answer}
        if self.strip:
            final = scratch / ("redacted-stripped.mp4" if video else "redacted-stripped.png")
            strip_file(redacted, "video/mp4" if video else "image/png", final)
        data["stripped"] = self.strip
        return StepOutput(
            data,
            derivatives=[DerivativeFile(final, "redacted", "video/mp4" if video else "image/png")],
        )

    def preview(self, blob: Path, media_type: str, sheet: Path) -> dict[str, Any]:
        """A contact sheet of what would be covered; nothing is stored. The worker's own
        temporary files go beside the sheet, where the person asked for its pictures."""
        return run_worker(
            "docket.protect._redact_worker",
            self.request(blob, media_type, sheet, preview=True),
            REDACT_TIMEOUT,
            sheet.parent,
        )

    def still(
        self,
        blob: Path,
        media_type: str,
        target: Path,
        at: float | None = None,
        cover: bool = False,
        blur: bool = True,
    ) -> dict[str, Any]:
        """One picture of what this redaction works on, written to `target`: the upright
        picture, or the video's frame at `at` seconds; its boxes (regions, and faces when
        asked) covered when `cover`, else only found (the faces are then proposals); grey and
        blurred as a safe preview when `blur` (a JPEG), else plain (a PNG of at most
        STILL_MAX_SIDE pixels a side). Nothing is stored; the answer's boxes, width and
        height are in pixels of the upright picture or of the video's frames."""
        request = self.request(blob, media_type, target, preview=False)
        request["still"] = {"at": at, "cover": cover, "blur": blur}
        return run_worker("docket.protect._redact_worker", request, STILL_TIMEOUT, target.parent)
