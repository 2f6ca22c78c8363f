"""Editing software named in a file's metadata (ExifTool's record, read outside the worker).

Editors and apps often sign their work: the Software and CreatorTool tags, the XMP history
(xmpMM:History, one entry per save with its software and action), Photoshop's image resource
blocks, and comment segments. A name found is a fact about the file's path; an absent name
proves nothing, since metadata is easily removed or rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from docket.aids.signals import Signal

NAME = "editing-software"

# Editors, apps and services that re-encode what passes through them, and video tools (FFmpeg
# names itself Lavf/Lavc; phones' own encoders do not).
EDITORS = re.compile(
    r"photoshop|lightroom|gimp|snapseed|picsart|pixelmator|affinity|paint\.net|canva|facetune|"
    r"vsco|meitu|airbrush|photopea|fotor|polarr|picasa|imagemagick|graphicsmagick|gd-jpeg|"
    r"whatsapp|telegram|instagram|facebook|signal messenger|wechat|twitter|"
    r"lavf|lavc|handbrake|premiere|capcut|inshot|kinemaster|final cut|davinci|imovie",
    re.IGNORECASE,
)
SOFTWARE_TAGS = (
    "Software",
    "CreatorTool",
    "ProcessingSoftware",
    "HistorySoftwareAgent",
    "Comment",
    "Encoder",  # a video's muxer (Lavf: FFmpeg)
    "CompressorName",  # a video track's encoder (Lavc: FFmpeg)
)
CAMERA_TAGS = ("Make", "Model", "DateTimeOriginal")

EXPLANATION = (
    "Editors and apps often write their name into the file (Software, CreatorTool, the XMP "
    "history of saves, Photoshop's own blocks). A name found says the file passed through "
    "that software; no name proves nothing, because metadata is easily removed or rewritten. "
    "A JPEG with no camera metadata at all was often re-encoded by a messaging app or "
    "editor, or stripped on purpose (to protect a source, too)."
)


def _values(record: Mapping[str, Any], tag: str) -> list[str]:
    found: list[str] = []
    for key, value in record.items():
        if key.rsplit(":", 1)[-1] == tag:
            found.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return found


def signal(record: Mapping[str, Any]) -> Signal:
    named = {
        f"{tag}: {value}"
        for tag in SOFTWARE_TAGS
        for value in _values(record, tag)
        if EDITORS.search(value)
    }
    history = _values(record, "HistoryAction")
    photoshop = sorted({k for k in record if k.split(":", 1)[0] in ("Photoshop", "XMP-photoshop")})
    details: dict[str, Any] = {
        "software": sorted({v for tag in SOFTWARE_TAGS for v in _values(record, tag)}),
        "editors_named": sorted(named),
        "history_actions": history,
        "photoshop_tags": photoshop[:20],
    }
    reasons = []
    if named:
        reasons.append("names " + "; ".join(sorted(named)))
    if history:
        reasons.append(f"an XMP history of {len(history)} save(s)")
    if photoshop:
        reasons.append("Photoshop's own metadata")
    if reasons:
        return Signal(NAME, "signal", "the metadata " + ", ".join(reasons), EXPLANATION, details)
    is_jpeg = record.get("File:FileType") == "JPEG"
    if is_jpeg and not any(_values(record, tag) for tag in CAMERA_TAGS):
        summary = "no camera metadata at all: re-encoded by an app or editor, or stripped"
        return Signal(NAME, "signal", summary, EXPLANATION, details)
    return Signal(
        NAME, "no signal", "no editing software named in the metadata", EXPLANATION, details
    )
