"""The item's position and capture time as the aids read them from ExifTool's record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

from timezonefinder import TimezoneFinder

_TIME = re.compile(r"^([0-9]{4}):([0-9]{2}):([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})")
_OFFSET = re.compile(r"^([+-])([0-9]{2}):?([0-9]{2})$")


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float


def tag(record: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` ("Group:Tag") with a value."""
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def local_time(value: Any) -> datetime | None:
    """An EXIF 'YYYY:MM:DD HH:MM:SS' as a naive datetime; None when absent or invalid."""
    match = _TIME.match(str(value or "").strip())
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def offset(value: Any) -> timedelta | None:
    match = _OFFSET.match(str(value or "").strip())
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta


def position(record: Mapping[str, Any]) -> Position | None:
    latitude = tag(record, "Composite:GPSLatitude", "GPS:GPSLatitude", "XMP-exif:GPSLatitude")
    longitude = tag(record, "Composite:GPSLongitude", "GPS:GPSLongitude", "XMP-exif:GPSLongitude")
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Position(lat, lon)


def capture(record: Mapping[str, Any]) -> tuple[datetime | None, timedelta | None]:
    """The capture time as the camera wrote it (naive, local) and its stated UTC offset."""
    when = local_time(tag(record, "ExifIFD:DateTimeOriginal", "ExifIFD:CreateDate"))
    return when, offset(tag(record, "ExifIFD:OffsetTimeOriginal", "ExifIFD:OffsetTime"))


@cache
def _finder() -> TimezoneFinder:
    return TimezoneFinder()


def zone_at(where: Position) -> ZoneInfo | None:
    """The IANA time zone at a position (timezonefinder's offline boundaries)."""
    name = _finder().timezone_at(lng=where.longitude, lat=where.latitude)
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return None


def in_utc(when: datetime, stated: timedelta | None, where: Position | None) -> datetime | None:
    """The capture time in UTC: by its stated offset, else by the zone at its position."""
    if stated is not None:
        return (when - stated).replace(tzinfo=UTC)
    zone = zone_at(where) if where is not None else None
    if zone is None:
        return None
    return when.replace(tzinfo=zone).astimezone(UTC)


def zone_rules_version() -> str:
    """The IANA time zone database zoneinfo reads (the system's, else the tzdata package)."""
    for folder in TZPATH:
        index = Path(folder) / "tzdata.zi"
        if index.is_file():
            with index.open(encoding="ascii", errors="replace") as stream:
                first = stream.readline().strip()
            if first.startswith("# version "):
                return f"{first.removeprefix('# version ')} ({folder})"
    try:
        return f"{package_version('tzdata')} (tzdata package)"
    except PackageNotFoundError:
        return "unknown"
