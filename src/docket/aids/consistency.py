"""Metadata consistency: do the file's own times and position agree with each other?

Each check its own signal: the capture time against the modify time; the stated UTC offset
against the time zone at the GPS position on that date (timezonefinder's offline boundaries,
Python's zoneinfo for the rules in force then); the GPS clock (UTC, from the satellites)
against the capture time; for a QuickTime/MP4 video, the container's creation time against
its tracks'; the camera's identity: the body serial numbers the file states in different
places, and the maker its Make tag names against the maker whose maker notes it carries.
Disagreement is a reason to look, not proof: cameras keep wrong clocks, travellers forget to
change them, GPS fixes can be minutes old, and repair shops replace maker notes' boards.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from docket.aids import _time
from docket.aids.signals import Signal

MODIFIED = "capture-vs-modify"
ZONE = "offset-vs-position"
GPS_CLOCK = "gps-time-vs-capture"
STREAMS = "container-vs-stream-time"
CAMERA = "camera-identity"
GPS_TOLERANCE_SECONDS = 120
MODIFY_TOLERANCE_SECONDS = 2

MODIFIED_EXPLANATION = (
    "A camera writes the capture and modify times together; a later modify time means "
    "software saved the file afterwards (an edit, a rotation, a re-save), an earlier one "
    "means a clock or a tag was changed. Equal times do not show the file is unedited."
)
ZONE_EXPLANATION = (
    "The UTC offset the camera stated is compared with the legal time at the GPS position on "
    "that date. A different offset means the camera's clock was set for another zone (often "
    "a traveller's), or the time or the position was changed. Agreement shows only that the "
    "two tags agree, not that either is true."
)
GPS_EXPLANATION = (
    "The GPS time comes from the satellites (UTC); the capture time from the camera's clock. "
    "A large gap means a wrong camera clock, an old GPS fix, or an edited tag. Agreement "
    "shows only that the tags agree."
)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if abs(seconds) >= 120 else f"{seconds:.0f} s"


def modified(record: Mapping[str, Any]) -> Signal:
    taken, _ = _time.capture(record)
    changed = _time.local_time(_time.tag(record, "IFD0:ModifyDate"))
    if taken is None or changed is None:
        return Signal(MODIFIED, "not checked", "no capture or modify time", MODIFIED_EXPLANATION)
    gap = (changed - taken).total_seconds()
    details = {"capture": taken.isoformat(), "modify": changed.isoformat(), "seconds": gap}
    if gap > MODIFY_TOLERANCE_SECONDS:
        summary = f"modified {_minutes(gap)} after capture"
    elif gap < -MODIFY_TOLERANCE_SECONDS:
        summary = f"the modify time is {_minutes(-gap)} before the capture time"
    else:
        return Signal(
            MODIFIED, "no signal", "modify time equals capture time", MODIFIED_EXPLANATION, details
        )
    return Signal(MODIFIED, "signal", summary, MODIFIED_EXPLANATION, details)


def zone(record: Mapping[str, Any]) -> Signal:
    taken, stated = _time.capture(record)
    where = _time.position(record)
    if taken is None or stated is None or where is None:
        return Signal(
            ZONE,
            "not checked",
            "needs a capture time with its offset and a GPS position",
            ZONE_EXPLANATION,
        )
    place_zone = _time.zone_at(where)
    if place_zone is None:
        return Signal(
            ZONE, "not checked", "no time zone at the position (open sea?)", ZONE_EXPLANATION
        )
    expected = taken.replace(tzinfo=place_zone).utcoffset()
    details = {
        "stated_offset_hours": stated.total_seconds() / 3600,
        "zone": place_zone.key,
        "zone_offset_hours": None if expected is None else expected.total_seconds() / 3600,
    }
    if expected == stated:
        return Signal(
            ZONE,
            "no signal",
            f"the offset agrees with {place_zone.key} on that date",
            ZONE_EXPLANATION,
            details,
        )
    summary = (
        f"the stated offset ({stated.total_seconds() / 3600:+g} h) is not the legal time at the "
        f"position ({place_zone.key}, {details['zone_offset_hours']:+g} h on that date)"
    )
    return Signal(ZONE, "signal", summary, ZONE_EXPLANATION, details)


def gps_clock(record: Mapping[str, Any]) -> Signal:
    taken, stated = _time.capture(record)
    stamp = _time.tag(record, "Composite:GPSDateTime")
    if stamp is None:
        day, clock = _time.tag(record, "GPS:GPSDateStamp"), _time.tag(record, "GPS:GPSTimeStamp")
        stamp = f"{day} {clock}" if day and clock else None
    satellite = _time.local_time(stamp)
    if taken is None or satellite is None:
        return Signal(GPS_CLOCK, "not checked", "no GPS time or no capture time", GPS_EXPLANATION)
    utc = _time.in_utc(taken, stated, _time.position(record))
    if utc is None:
        return Signal(
            GPS_CLOCK, "not checked", "the capture time's offset is unknown", GPS_EXPLANATION
        )
    gap = (utc - satellite.replace(tzinfo=UTC)).total_seconds()
    details = {
        "gps_utc": satellite.isoformat() + "Z",
        "capture_utc": utc.isoformat(),
        "seconds": gap,
    }
    if abs(gap) <= GPS_TOLERANCE_SECONDS:
        return Signal(
            GPS_CLOCK,
            "no signal",
            f"GPS time within {_minutes(abs(gap))} of capture time",
            GPS_EXPLANATION,
            details,
        )
    summary = f"the GPS time differs from the capture time by {_minutes(abs(gap))}"
    return Signal(GPS_CLOCK, "signal", summary, GPS_EXPLANATION, details)


STREAMS_EXPLANATION = (
    "A camera or phone writes a video's container and its tracks at the same moment, so their "
    "creation times agree. Tracks created at another time than the container mean the video "
    "was re-muxed, cut or re-encoded, or a time was edited. Agreement shows only that the "
    "tags agree; tools that rewrite a video often copy its times."
)


def stream_times(record: Mapping[str, Any]) -> Signal:
    """A QuickTime/MP4 container's creation time against its tracks' media creation times."""
    container = _time.local_time(_time.tag(record, "QuickTime:CreateDate"))
    tracks = {
        key.split(":", 1)[0]: when
        for key, value in record.items()
        if key.endswith(":MediaCreateDate") and (when := _time.local_time(value)) is not None
    }
    if container is None or not tracks:
        return Signal(
            STREAMS, "not checked", "no container or track creation time", STREAMS_EXPLANATION
        )
    gaps = {track: (when - container).total_seconds() for track, when in tracks.items()}
    worst = max(gaps.values(), key=abs)
    details = {"container": container.isoformat(), "tracks_seconds_apart": gaps}
    if abs(worst) <= MODIFY_TOLERANCE_SECONDS:
        return Signal(
            STREAMS, "no signal", "tracks created with the container", STREAMS_EXPLANATION, details
        )
    summary = f"a track was created {_minutes(abs(worst))} apart from the container"
    return Signal(STREAMS, "signal", summary, STREAMS_EXPLANATION, details)


CAMERA_EXPLANATION = (
    "A camera writes its body serial number in its own maker notes and often in the EXIF or "
    "XMP too, and its maker's name in the Make tag beside maker notes in that maker's format. "
    "Serial numbers that differ, or maker notes of another maker than the Make names, mean "
    "metadata was edited or moved from another file. Agreement shows only that the tags agree; "
    "most phones and many editors write no serial at all."
)
# Tags holding a camera body's serial number (not the "internal" serials some makers keep
# beside it, which legitimately differ from the body's).
_SERIAL_TAGS = ("SerialNumber", "BodySerialNumber", "CameraSerialNumber")
# ExifTool's group names (-G1) for maker notes, by the maker whose format they are.
_MAKER_NOTES = {
    "Canon": "canon",
    "Nikon": "nikon",
    "Sony": "sony",
    "Olympus": "olympus",
    "Panasonic": "panasonic",
    "FujiFilm": "fujifilm",
    "Pentax": "pentax",
    "Samsung": "samsung",
    "Apple": "apple",
    "Sigma": "sigma",
    "Kodak": "kodak",
    "Casio": "casio",
}
# Makes whose cameras carry another maker's notes in the ordinary course: Ricoh makes Pentax
# cameras, OM Digital Olympus ones, Leica sells Panasonic-built ones, Sony took over Minolta.
_SAME_MAKER = {
    "ricoh": "pentax",
    "om digital": "olympus",
    "leica": "panasonic",
    "minolta": "sony",
    "konica": "sony",
    "fuji": "fujifilm",
}


def _serial(value: Any) -> str:
    """A serial number as compared: no spaces, no case, no leading zeros (Canon prints
    `0560018150` for the number its maker notes hold as 560018150)."""
    return "".join(str(value).split()).upper().lstrip("0")


def _maker_of_make(make: str) -> str | None:
    name = make.lower()
    for alias, maker in _SAME_MAKER.items():
        if alias in name:
            return maker
    return next((m for m in _MAKER_NOTES.values() if m in name), None)


def camera(record: Mapping[str, Any]) -> Signal:
    """Body serial numbers stated in different places, and Make against the maker notes."""
    serials = {
        key: str(value).strip()
        for key, value in record.items()
        if key.rsplit(":", 1)[-1] in _SERIAL_TAGS and str(value or "").strip()
    }
    make = str(record.get("IFD0:Make") or "").strip()
    notes = sorted(
        {maker for group, maker in _MAKER_NOTES.items() if f"{group}:" in _groups(record)}
    )
    if not serials and not (make and notes):
        return Signal(CAMERA, "not checked", "no serial number or maker notes", CAMERA_EXPLANATION)
    found = []
    if len({_serial(value) for value in serials.values()}) > 1:
        found.append("serial numbers differ: " + ", ".join(f"{k} {v}" for k, v in serials.items()))
    stated = _maker_of_make(make) if make else None
    if stated is not None and notes and stated not in notes:
        found.append(f"the Make is {make} but the maker notes are {' and '.join(notes)}'s")
    details = {"serial_numbers": serials, "make": make or None, "maker_notes": notes}
    if found:
        return Signal(CAMERA, "signal", "; ".join(found), CAMERA_EXPLANATION, details)
    summary = "the serial numbers and maker notes agree with each other"
    return Signal(CAMERA, "no signal", summary, CAMERA_EXPLANATION, details)


def _groups(record: Mapping[str, Any]) -> set[str]:
    return {key.split(":", 1)[0] + ":" for key in record if ":" in key}


def signals(record: Mapping[str, Any]) -> list[Signal]:
    found = [modified(record), zone(record), gps_clock(record), camera(record)]
    if any(key.startswith("QuickTime:") for key in record):  # a QuickTime/MP4 video
        found.append(stream_times(record))
    return found


def utc_capture(record: Mapping[str, Any]) -> datetime | None:
    taken, stated = _time.capture(record)
    return None if taken is None else _time.in_utc(taken, stated, _time.position(record))
