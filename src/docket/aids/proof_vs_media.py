"""A ProofMode proof's recorded time, place and device against the media's own metadata.

ProofMode writes its proof from the phone's clock, location service and build at the moment
of capture; the camera writes its own EXIF (or QuickTime) tags into the media. Each of the
three is said to match, to differ (with both values) or not to be compared (one side lacks
it). A difference is a reason to look: the media may have been swapped or edited after the
proof, or the proof written for other media; or innocently, the camera app left the GPS out
or the proof was generated minutes later. A match shows only that the two records agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from docket.aids import _time
from docket.aids.consistency import utc_capture
from docket.aids.places import haversine_km
from docket.aids.signals import Signal

NAME = "proof-vs-media"
TIME_TOLERANCE_SECONDS = 120
PLACE_TOLERANCE_KM = 0.2

EXPLANATION = (
    "ProofMode records the time, place and device when a picture or video is taken; the "
    "camera writes its own time, GPS position and make and model into the file. A difference "
    "means the file or the proof is not what the other describes (swapped, edited, or the "
    "proof made later or for another file), or simply that the camera left a tag out or the "
    "proof was made some minutes later. Agreement shows only that the two records agree."
)


def _proof_time(value: Any) -> datetime | None:
    try:
        found = datetime.fromisoformat(str(value).strip().replace(" GMT", ""))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo is not None else None


def _float(value: Any) -> float | None:
    try:
        found = float(value)
    except (TypeError, ValueError):
        return None
    return found if np.isfinite(found) else None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def compare(proof: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each of time, place and device: {"outcome": match | differs | not compared, ...}."""
    said: dict[str, dict[str, Any]] = {}
    recorded, taken = _proof_time(proof.get("time")), utc_capture(record)
    if recorded is None or taken is None:
        said["time"] = {"outcome": "not compared", "proof": proof.get("time"), "media": None}
    else:
        gap = (taken - recorded).total_seconds()
        outcome = "match" if abs(gap) <= TIME_TOLERANCE_SECONDS else "differs"
        said["time"] = {
            "outcome": outcome,
            "proof": recorded.isoformat(),
            "media": taken.isoformat(),
            "seconds": gap,
        }
    latitude, longitude = _float(proof.get("latitude")), _float(proof.get("longitude"))
    where = _time.position(record)
    if latitude is None or longitude is None or where is None:
        said["place"] = {"outcome": "not compared"}
    else:
        here = np.radians([latitude]), np.radians([longitude])
        km = float(haversine_km(*here, *np.radians([where.latitude, where.longitude]))[0])
        said["place"] = {
            "outcome": "match" if km <= PLACE_TOLERANCE_KM else "differs",
            "proof": [latitude, longitude],
            "media": [where.latitude, where.longitude],
            "km": round(km, 3),
        }
    make = _time.tag(record, "IFD0:Make", "Keys:Make", "UserData:Make")
    model = _time.tag(record, "IFD0:Model", "Keys:Model", "UserData:Model")
    camera = " ".join(str(v) for v in (make, model) if v)
    device = str(proof.get("device") or "")
    if not camera or not device:
        said["device"] = {
            "outcome": "not compared",
            "proof": device or None,
            "media": camera or None,
        }
    else:
        same = _words(camera) <= _words(device) or _words(device) <= _words(camera)
        said["device"] = {
            "outcome": "match" if same else "differs",
            "proof": device,
            "media": camera,
        }
    return said


def _said(part: str, found: dict[str, Any]) -> str:
    if found["outcome"] == "differs":
        extra = f", {found['km']} km apart" if "km" in found else ""
        if "seconds" in found:
            extra = f", {abs(found['seconds']) / 60:.0f} min apart"
        return f"{part} differs (proof {found['proof']}, media {found['media']}{extra})"
    return f"{part} {found['outcome']}"


def signal(comparisons: Mapping[str, Mapping[str, dict[str, Any]]]) -> Signal:
    """One signal over every proof whose media was found: {media name: compare(...)}."""
    if not comparisons:
        summary = "no proof's media was found to compare with"
        return Signal(NAME, "not checked", summary, EXPLANATION)
    outcomes = [f["outcome"] for said in comparisons.values() for f in said.values()]
    lines = [
        f"{media}: " + ", ".join(_said(part, found) for part, found in said.items())
        for media, said in comparisons.items()
    ]
    details = {"comparisons": dict(comparisons)}
    if "differs" in outcomes:
        return Signal(NAME, "signal", "; ".join(lines), EXPLANATION, details)
    if "match" in outcomes:
        return Signal(NAME, "no signal", "; ".join(lines), EXPLANATION, details)
    return Signal(NAME, "not checked", "; ".join(lines), EXPLANATION, details)
