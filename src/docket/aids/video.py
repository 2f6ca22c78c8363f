"""Video signals from ffprobe's reading of the container: its encoder history, its creation
times, and signs of re-encoding.

ffprobe runs in a one-shot sandboxed worker (_video_worker.py) with a deadline. Three signals:
- `video-encoders`: the major brand, the muxer and each stream's encoder, handler name and
  vendor, with FFmpeg's marks (Lavf/Lavc, x264's settings message, its default handler names
  and vendor) and editors named;
- `re-encoding`: a video whose tags claim a phone or camera (Apple's or Android's make and
  model tags) but that FFmpeg or x264 wrote: not as the device left it;
- `creation-times`: the container's creation time against its streams' and against Apple's
  local creation date.
A mark says which software last wrote the file; no mark proves nothing (tags are easily
rewritten, and FFmpeg can be told to leave none).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from docket.aids.signals import Signal
from docket.aids.software import EDITORS
from docket.analyse.sandbox import run_worker

TIMEOUT = 120.0
TOLERANCE_SECONDS = 2
ENCODERS = "video-encoders"
REENCODED = "re-encoding"
TIMES = "creation-times"
FFMPEG_HANDLERS = ("VideoHandler", "SoundHandler", "SubtitleHandler", "DataHandler")
FFMPEG_VENDORS = ("FFMP", "[0][0][0][0]")
MAKE_TAGS = ("com.apple.quicktime.make", "com.android.manufacturer", "make", "manufacturer")
MODEL_TAGS = ("com.apple.quicktime.model", "com.android.model", "model")

ENCODERS_EXPLANATION = (
    "The container names the software that wrote it (its muxer, e.g. Lavf for FFmpeg) and "
    "each stream its encoder (Lavc, x264) and handler; phones and cameras write their own "
    "names, or none. FFmpeg's marks or an editor's name say the file passed through that "
    "software (a messaging app, an editor, a converter); none found proves nothing, since "
    "tags are easily rewritten or left out."
)
REENCODED_EXPLANATION = (
    "The video's tags name a phone or camera, but the file was written by FFmpeg or encoded "
    "by x264, which devices do not use (they encode in hardware and write their own "
    "container). It was re-encoded or re-muxed after the device: by a platform, an app or an "
    "editor. That is common and often innocent (uploads are re-encoded); it means these bytes "
    "are not the device's original."
)
TIMES_EXPLANATION = (
    "A device writes the container's creation time and its streams' at the same moment, and "
    "Apple's devices also the local time with its offset. Times that disagree mean the video "
    "was re-muxed, cut or edited, or a time was changed. Agreement shows only that the tags "
    "agree: tools often copy times over."
)


def probe(path: Path, scratch: Path) -> dict[str, Any]:
    """ffprobe's format and streams (and x264's banner), read in the sandboxed worker."""
    return run_worker("docket.aids._video_worker", {"path": str(path)}, TIMEOUT, scratch)


def _tags(entry: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (entry.get("tags") or {}).items()}


def _marks(answer: dict[str, Any]) -> list[str]:
    """FFmpeg's and editors' marks on the file, each said as found."""
    marks = []
    muxer = _tags(answer["format"]).get("encoder", "")
    if muxer.startswith("Lavf") or EDITORS.search(muxer):
        marks.append(f"written by {muxer}")
    for number, stream in enumerate(answer["streams"]):
        tags = _tags(stream)
        encoder = tags.get("encoder", "")
        if encoder.startswith("Lavc") or "x264" in encoder or EDITORS.search(encoder):
            marks.append(f"stream {number} encoded by {encoder}")
        if tags.get("handler_name") in FFMPEG_HANDLERS:
            marks.append(f"stream {number} handler {tags['handler_name']} (FFmpeg's default)")
        if tags.get("vendor_id") in FFMPEG_VENDORS:
            marks.append(f"stream {number} vendor {tags['vendor_id']} (FFmpeg's)")
    if answer.get("x264"):
        marks.append(f"x264's settings message ({answer['x264']})")
    return marks


def _history(answer: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(answer["format"])
    return {
        "format": answer["format"].get("format_name"),
        "major_brand": tags.get("major_brand"),
        "compatible_brands": tags.get("compatible_brands"),
        "muxer": tags.get("encoder"),
        "streams": [
            {
                "codec": stream.get("codec_name"),
                **{
                    key: _tags(stream).get(key)
                    for key in ("encoder", "handler_name", "vendor_id", "creation_time")
                },
            }
            for stream in answer["streams"]
        ],
        "x264": answer.get("x264"),
    }


def encoders(answer: dict[str, Any]) -> Signal:
    details = _history(answer)
    marks = _marks(answer)
    if marks:
        return Signal(ENCODERS, "signal", "; ".join(marks), ENCODERS_EXPLANATION, details)
    brand = (details["major_brand"] or "").strip() or "none"
    summary = f"no FFmpeg or editor marks (brand {brand}, muxer {details['muxer'] or 'unnamed'})"
    return Signal(ENCODERS, "no signal", summary, ENCODERS_EXPLANATION, details)


def _device(answer: dict[str, Any]) -> str | None:
    tags = {k.lower(): v for k, v in _tags(answer["format"]).items()}
    make = next((tags[t] for t in MAKE_TAGS if tags.get(t)), "")
    model = next((tags[t] for t in MODEL_TAGS if tags.get(t)), "")
    named = " ".join(part for part in (make, model) if part).strip()
    return named or None


def reencoding(answer: dict[str, Any]) -> Signal:
    device = _device(answer)
    if device is None:
        return Signal(REENCODED, "not checked", "the video names no camera", REENCODED_EXPLANATION)
    marks = _marks(answer)
    details = {"device": device, "marks": marks}
    if marks:
        summary = f"claims {device} but {'; '.join(marks)}"
        return Signal(REENCODED, "signal", summary, REENCODED_EXPLANATION, details)
    summary = f"claims {device}; no FFmpeg or x264 marks"
    return Signal(REENCODED, "no signal", summary, REENCODED_EXPLANATION, details)


def _time(value: str | None) -> datetime | None:
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return found if found.tzinfo is not None and found.year > 1970 else None


def _apart(seconds: float) -> str:
    seconds = abs(seconds)
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def times(answer: dict[str, Any]) -> Signal:
    tags = _tags(answer["format"])
    container = _time(tags.get("creation_time"))
    others = {
        f"stream {n}": when
        for n, stream in enumerate(answer["streams"])
        if (when := _time(_tags(stream).get("creation_time"))) is not None
    }
    local = _time(tags.get("com.apple.quicktime.creationdate"))
    if local is not None:
        others["Apple's creation date"] = local
    if container is None or not others:
        summary = "no container creation time, or nothing to compare it with"
        return Signal(TIMES, "not checked", summary, TIMES_EXPLANATION)
    gaps = {name: (when - container).total_seconds() for name, when in others.items()}
    details = {"container": container.isoformat(), "seconds_apart": gaps}
    apart = {name: gap for name, gap in gaps.items() if abs(gap) > TOLERANCE_SECONDS}
    if not apart:
        summary = f"the container's creation time agrees with {', '.join(gaps)}"
        return Signal(TIMES, "no signal", summary, TIMES_EXPLANATION, details)
    said = ", ".join(f"{name} {_apart(gap)} apart" for name, gap in apart.items())
    return Signal(
        TIMES, "signal", f"the container's creation time: {said}", TIMES_EXPLANATION, details
    )


def signals(path: Path, scratch: Path) -> list[Signal]:
    answer = probe(path, scratch)
    return [encoders(answer), reencoding(answer), times(answer)]
