"""The `metadata` step: ExifTool's raw record plus the fields investigators ask for first."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docket.analyse.exiftool import ExifTool
from docket.errors import MetadataError

STEP = "metadata"
STEP_VERSION = "1"

_EXIF_TIME = re.compile(
    r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class NormalisedMetadata:
    """Fields read from a file's own metadata; None where the file does not say."""

    capture_time: str | None
    capture_time_has_offset: bool
    gps_latitude: float | None
    gps_longitude: float | None
    gps_altitude: float | None
    make: str | None
    model: str | None
    serial: str | None
    software: str | None
    width: int | None
    height: int | None
    duration: float | None
    file_type: str | None
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class MetadataOutcome:
    raw: dict[str, Any]
    normalised: NormalisedMetadata


def _tag(record: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` present, each either 'Group:Tag' or a bare 'Tag' in any group."""
    for name in names:
        if ":" in name:
            if record.get(name) not in (None, ""):
                return record[name]
            continue
        for key, value in record.items():
            if key.rsplit(":", 1)[-1] == name and value not in (None, ""):
                return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def parse_exif_time(value: Any, offset: Any = None) -> tuple[str, bool] | None:
    """'2024:03:01 12:34:56' (+ optional offset) as ISO 8601; says whether the offset is known."""
    if value is None:
        return None
    match = _EXIF_TIME.match(str(value).strip())
    if match is None or match.group(1) == "0000":
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction or ''}"
    zone = zone or (str(offset).strip() if offset else None)
    if zone and re.fullmatch(r"Z|[+-]\d{2}:?\d{2}", zone):
        if zone != "Z" and ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        return text + zone, True
    return text, False


def _capture_time(record: Mapping[str, Any]) -> tuple[str | None, bool]:
    candidates = [
        (_tag(record, "Composite:SubSecDateTimeOriginal"), None),
        (_tag(record, "DateTimeOriginal"), _tag(record, "OffsetTimeOriginal")),
        (_tag(record, "Composite:SubSecCreateDate"), None),
        (_tag(record, "ExifIFD:CreateDate"), _tag(record, "OffsetTimeDigitized")),
        (_tag(record, "XMP-exif:DateTimeOriginal", "XMP-xmp:CreateDate"), None),
        (_tag(record, "Keys:CreationDate", "UserData:DateTimeOriginal"), None),
    ]
    for value, offset in candidates:
        parsed = parse_exif_time(value, offset)
        if parsed is not None:
            return parsed
    # QuickTime CreateDate is UTC by the specification (when the writer followed it).
    parsed = parse_exif_time(_tag(record, "QuickTime:CreateDate"), "Z")
    return parsed if parsed is not None else (None, False)


def normalise(record: Mapping[str, Any]) -> NormalisedMetadata:
    capture_time, has_offset = _capture_time(record)
    warnings = [str(record[key]) for key in record if key.rsplit(":", 1)[-1] == "Warning"]
    return NormalisedMetadata(
        capture_time=capture_time,
        capture_time_has_offset=has_offset,
        gps_latitude=_number(_tag(record, "Composite:GPSLatitude", "GPSLatitude")),
        gps_longitude=_number(_tag(record, "Composite:GPSLongitude", "GPSLongitude")),
        gps_altitude=_number(_tag(record, "Composite:GPSAltitude", "GPSAltitude")),
        make=_text(_tag(record, "IFD0:Make", "Make")),
        model=_text(_tag(record, "IFD0:Model", "Model")),
        serial=_text(
            _tag(
                record,
                "ExifIFD:SerialNumber",
                "SerialNumber",
                "BodySerialNumber",
                "InternalSerialNumber",
            )
        ),
        software=_text(_tag(record, "IFD0:Software", "Software", "Encoder")),
        width=_integer(_tag(record, "File:ImageWidth", "ImageWidth", "SourceImageWidth")),
        height=_integer(_tag(record, "File:ImageHeight", "ImageHeight", "SourceImageHeight")),
        duration=_number(_tag(record, "QuickTime:Duration", "Composite:Duration", "Duration")),
        file_type=_text(_tag(record, "File:FileType")),
        warnings=tuple(warnings),
    )


def read_metadata(exiftool: ExifTool, blob: Path) -> MetadataOutcome:
    """Run ExifTool on a stored blob; an ExifTool error becomes a MetadataError with its reason."""
    record = exiftool.read(blob)
    error = _tag(record, "ExifTool:Error")
    if error is not None:
        raise MetadataError(str(error))
    return MetadataOutcome(record, normalise(record))
