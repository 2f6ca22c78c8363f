"""Metadata and sizes as a person reads them: human labels with units, in a fixed order,
instead of the catalogue's field names ("Captured" and its offset, not
`capture_time_has_offset True`; nothing shown for an empty list of warnings)."""

from __future__ import annotations

from typing import Any

# (field, label) in the order a reviewer reads them; fields not listed follow with a label
# made from their name.
ORDER = (
    ("capture_time", "Captured"),
    ("gps_latitude", "Place (GPS)"),
    ("gps_altitude", "Altitude"),
    ("make", "Camera"),
    ("serial", "Camera serial number"),
    ("owner_name", "Owner name in the camera"),
    ("lens", "Lens"),
    ("lens_serial", "Lens serial number"),
    ("software", "Software"),
    ("width", "Picture size"),
    ("duration", "Duration"),
    ("file_type", "File type (ExifTool)"),
    ("warnings", "ExifTool warnings"),
)
# Shown inside another field's line.
FOLDED = {"status", "capture_time_has_offset", "offset_source", "gps_longitude", "model", "height"}


def duration(seconds: float | None) -> str:
    """1.5 s, 2 min 05 s, 1 h 02 min 03 s."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02} min {secs:02} s" if hours else f"{minutes} min {secs:02} s"


def size(count: int) -> str:
    """1.2 MB (1,234,567 bytes): decimal units, the exact count kept."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit} ({count:,} bytes)"
    return f"{count} bytes"


def _value(field: str, meta: dict[str, Any]) -> str:
    value = meta.get(field)
    if field == "capture_time":
        if meta.get("capture_time_has_offset"):
            source = meta.get("offset_source")
            return f"{value} (offset from the {source})" if source else str(value)
        return f"{value} (the file gives no time-zone offset)"
    if field == "gps_latitude":
        return f"{value:.5f}, {meta.get('gps_longitude', 0):.5f} (latitude, longitude)"
    if field == "gps_altitude":
        return f"{value:g} m"
    if field == "make":
        return " ".join(str(v) for v in (value, meta.get("model")) if v)
    if field == "width":
        return f"{value} by {meta.get('height')} px"
    if field == "duration":
        return duration(float(str(value)))
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def metadata_rows(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of every field the file says something about."""
    known = dict(ORDER)
    fields = [f for f, _ in ORDER] + sorted(set(meta) - set(known) - FOLDED)
    return [
        (known.get(f) or f.replace("_", " ").capitalize(), _value(f, meta))
        for f in fields
        if meta.get(f) not in (None, "", [], ())
    ]


FILTERS = {"duration": duration, "size": size, "metadata_rows": metadata_rows}
