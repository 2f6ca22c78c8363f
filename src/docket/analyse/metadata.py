"""The `metadata` step: ExifTool's raw record plus the fields investigators ask for first
(the Berkeley Protocol's: capture time and its offset, place, device, its owner and lens).

A capture time's offset is said only when the file gives it, and `offset_source` says how:
an OffsetTime tag (or a zone in the time value itself), QuickTime's UTC CreateDate, or the GPS
fix's UTC time (GPSDateStamp + GPSTimeStamp) set against the camera's local clock. The GPS
way is used only when the two clocks differ by a whole quarter hour within GPS_SLACK and by at
most 14 hours, so a stale fix never invents a time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from docket.analyse.exiftool import ExifTool
from docket.errors import MetadataError

STEP = "metadata"
STEP_VERSION = "2"  # 2: identifiers as printed (leading zeros), offset source, owner, lens
GPS_SLACK = timedelta(minutes=2)
QUARTER_HOUR = timedelta(minutes=15)
MAX_OFFSET = timedelta(hours=14)

# Seconds' fractions to the nanosecond: no longer, so a capture time is at most 35 characters,
# as case_items.capture_time holds it (docket.catalogue.schema.CAPTURE_TIME_MOST).
_EXIF_TIME = re.compile(
    r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$",
    re.ASCII,
)


@dataclass(frozen=True)
class NormalisedMetadata:
    """Fields read from a file's own metadata; None where the file does not say."""

    capture_time: str | None
    capture_time_has_offset: bool
    offset_source: str | None  # "OffsetTime tag", "GPS time", "QuickTime UTC"; None: unknown
    gps_latitude: float | None
    gps_longitude: float | None
    gps_altitude: float | None
    make: str | None
    model: str | None
    serial: str | None
    owner_name: str | None
    lens: str | None
    lens_serial: str | None
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
    if zone and re.fullmatch(r"Z|[+-][0-9]{2}:?[0-9]{2}", zone):
        if zone != "Z" and ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        return text + zone, True
    return text, False


def _lens(record: Mapping[str, Any]) -> str | None:
    """The lens's name; makers' numeric lens codes (LensID, LensType without print
    conversion) name nothing by themselves, so they are skipped."""
    for name in ("LensModel", "Composite:LensID", "XMP-aux:Lens"):
        value = _tag(record, name)
        if isinstance(value, str) and _number(value) is None:
            return _text(value)
    return None


def _offset_from_gps(record: Mapping[str, Any], local: str) -> str | None:
    """The offset that takes the GPS fix's UTC time to the camera's local `local`, if one."""
    date, time = _tag(record, "GPS:GPSDateStamp"), _tag(record, "GPS:GPSTimeStamp")
    if date is None or time is None:
        return None
    utc = parse_exif_time(f"{date} {str(time).split('.')[0]}")
    if utc is None:
        return None
    try:
        difference = datetime.fromisoformat(local[:19]) - datetime.fromisoformat(utc[0][:19])
    except ValueError:
        return None
    quarters = round(difference / QUARTER_HOUR)
    offset = quarters * QUARTER_HOUR
    if abs(difference - offset) > GPS_SLACK or abs(offset) > MAX_OFFSET:
        return None
    sign, minutes = "+" if quarters >= 0 else "-", abs(quarters) * 15
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _capture_time(record: Mapping[str, Any]) -> tuple[str | None, bool, str | None]:
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
        if parsed is None:
            continue
        text, has_offset = parsed
        if has_offset:
            return text, True, "OffsetTime tag"
        gps_offset = _offset_from_gps(record, text)
        if gps_offset is not None:
            return text + gps_offset, True, "GPS time"
        return text, False, None
    # QuickTime CreateDate is UTC by the specification (when the writer followed it).
    parsed = parse_exif_time(_tag(record, "QuickTime:CreateDate"), "Z")
    return (None, False, None) if parsed is None else (parsed[0], True, "QuickTime UTC")


def normalise(record: Mapping[str, Any]) -> NormalisedMetadata:
    capture_time, has_offset, offset_source = _capture_time(record)
    warnings = [str(record[key]) for key in record if key.rsplit(":", 1)[-1] == "Warning"]
    return NormalisedMetadata(
        capture_time=capture_time,
        capture_time_has_offset=has_offset,
        offset_source=offset_source,
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
        owner_name=_text(_tag(record, "OwnerName", "CameraOwnerName")),
        lens=_lens(record),
        lens_serial=_text(_tag(record, "LensSerialNumber")),
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
