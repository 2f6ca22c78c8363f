"""Metadata consistency, the sun and nearby places: each right on a known case, quiet on
agreeing metadata, "not checked" when the file lacks what the check needs. The sun is checked
against NOAA's solar calculator equations, worked here by hand."""

from __future__ import annotations

import math
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aids_evidence import jpeg, scene
from conftest import take
from sqlalchemy import select

from docket.aids import consistency, places, software, sun
from docket.aids._time import Position
from docket.aids.results import aid_results
from docket.catalogue import schema
from docket.locker import Locker

BERLIN = {"Composite:GPSLatitude": 52.52, "Composite:GPSLongitude": 13.405}


def record(**tags: Any) -> dict[str, Any]:
    return {"File:FileType": "JPEG", **BERLIN, **{k.replace("__", ":"): v for k, v in tags.items()}}


@pytest.mark.parametrize(
    ("when", "offset", "finding"),
    [
        ("2024:07:01 12:00:00", "+02:00", "no signal"),  # summer time in force
        ("2024:01:15 12:00:00", "+01:00", "no signal"),
        ("2024:07:01 12:00:00", "+01:00", "signal"),  # winter offset in July
        ("2024:07:01 12:00:00", "+03:00", "signal"),
    ],
)
def test_the_offset_is_held_against_the_zone_at_the_position_on_that_date(
    when: str, offset: str, finding: str
) -> None:
    found = consistency.zone(
        record(ExifIFD__DateTimeOriginal=when, ExifIFD__OffsetTimeOriginal=offset)
    )
    assert found.finding == finding
    assert found.details["zone"] == "Europe/Berlin"


def test_no_offset_or_no_position_is_not_checked() -> None:
    assert consistency.zone(record(ExifIFD__DateTimeOriginal="2024:07:01 12:00:00")).finding == (
        "not checked"
    )
    bare = {
        "ExifIFD:DateTimeOriginal": "2024:07:01 12:00:00",
        "ExifIFD:OffsetTimeOriginal": "+02:00",
    }
    assert consistency.zone(bare).finding == "not checked"


def test_gps_clock_against_capture_time() -> None:
    base = {
        "ExifIFD:DateTimeOriginal": "2024:07:01 14:00:00",
        "ExifIFD:OffsetTimeOriginal": "+02:00",
    }
    agreeing = consistency.gps_clock(record(**_g("2024:07:01", "12:00:30"), **_k(base)))
    assert agreeing.finding == "no signal"
    apart = consistency.gps_clock(record(**_g("2024:07:01", "09:00:00"), **_k(base)))
    assert apart.finding == "signal"
    assert apart.details["seconds"] == 3 * 3600
    # No stated offset: the zone at the position (Berlin, summer) gives UTC.
    zoned = consistency.gps_clock(
        record(ExifIFD__DateTimeOriginal="2024:07:01 14:00:00", **_g("2024:07:01", "12:00:00"))
    )
    assert zoned.finding == "no signal"


def _g(day: str, clock: str) -> dict[str, str]:
    return {"GPS__GPSDateStamp": day, "GPS__GPSTimeStamp": clock}


def _k(tags: dict[str, str]) -> dict[str, str]:
    return {k.replace(":", "__"): v for k, v in tags.items()}


def test_capture_against_modify_time() -> None:
    same = record(
        ExifIFD__DateTimeOriginal="2024:07:01 14:00:00", IFD0__ModifyDate="2024:07:01 14:00:00"
    )
    later = record(
        ExifIFD__DateTimeOriginal="2024:07:01 14:00:00", IFD0__ModifyDate="2024:07:03 09:00:00"
    )
    earlier = record(
        ExifIFD__DateTimeOriginal="2024:07:01 14:00:00", IFD0__ModifyDate="2024:06:01 14:00:00"
    )
    assert consistency.modified(same).finding == "no signal"
    assert consistency.modified(later).finding == "signal"
    assert "after capture" in consistency.modified(later).summary
    assert "before the capture" in consistency.modified(earlier).summary
    assert consistency.modified(record()).finding == "not checked"


def test_editing_software_is_named_and_absence_proves_nothing() -> None:
    edited = software.signal(record(IFD0__Software="Adobe Photoshop 25.1 (Windows)"))
    assert edited.finding == "signal" and "Photoshop" in edited.summary
    history = software.signal(
        record(**{"XMP-xmpMM__HistoryAction": ["saved", "saved"], "IFD0__Make": "Larkspur"})
    )
    assert history.finding == "signal" and "2 save(s)" in history.summary
    camera = software.signal(
        record(IFD0__Make="Larkspur", IFD0__Model="LK-7", IFD0__Software="Larkspur FW 2.1")
    )
    assert camera.finding == "no signal"
    stripped = software.signal(record())
    assert stripped.finding == "signal" and "no camera metadata" in stripped.summary


def noaa_sun(lat: float, lon: float, when: datetime) -> tuple[float, float]:
    """NOAA's solar calculator (the spreadsheet's equations), by hand: azimuth and elevation
    without refraction."""
    rad, deg = math.radians, math.degrees
    jd = when.timestamp() / 86400 + 2440587.5
    jc = (jd - 2451545) / 36525
    l0 = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360
    m = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    c = (
        math.sin(rad(m)) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(rad(2 * m)) * (0.019993 - 0.000101 * jc)
        + math.sin(rad(3 * m)) * 0.000289
    )
    omega = 125.04 - 1934.136 * jc
    apparent = l0 + c - 0.00569 - 0.00478 * math.sin(rad(omega))
    obliquity0 = 23 + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    obliquity = obliquity0 + 0.00256 * math.cos(rad(omega))
    declination = deg(math.asin(math.sin(rad(obliquity)) * math.sin(rad(apparent))))
    y = math.tan(rad(obliquity / 2)) ** 2
    equation_of_time = 4 * deg(
        y * math.sin(2 * rad(l0))
        - 2 * e * math.sin(rad(m))
        + 4 * e * y * math.sin(rad(m)) * math.cos(2 * rad(l0))
        - 0.5 * y * y * math.sin(4 * rad(l0))
        - 1.25 * e * e * math.sin(2 * rad(m))
    )
    minutes = when.hour * 60 + when.minute + when.second / 60
    true_solar = (minutes + equation_of_time + 4 * lon) % 1440
    hour_angle = true_solar / 4 + 180 if true_solar < 0 else true_solar / 4 - 180
    zenith = deg(
        math.acos(
            math.sin(rad(lat)) * math.sin(rad(declination))
            + math.cos(rad(lat)) * math.cos(rad(declination)) * math.cos(rad(hour_angle))
        )
    )
    turn = deg(
        math.acos(
            (math.sin(rad(lat)) * math.cos(rad(zenith)) - math.sin(rad(declination)))
            / (math.cos(rad(lat)) * math.sin(rad(zenith)))
        )
    )
    azimuth = (turn + 180) % 360 if hour_angle > 0 else (540 - turn) % 360
    return azimuth, 90 - zenith


@pytest.mark.parametrize(
    ("lat", "lon", "when"),
    [
        (33.5043, 36.2842, datetime(2024, 3, 1, 9, 34, 56, tzinfo=UTC)),
        (52.52, 13.405, datetime(2024, 6, 21, 4, 0, 0, tzinfo=UTC)),
        (-33.87, 151.21, datetime(2023, 12, 2, 23, 30, 0, tzinfo=UTC)),
        (5.6, -0.19, datetime(2025, 9, 10, 16, 45, 0, tzinfo=UTC)),
        (64.14, -21.94, datetime(2024, 12, 21, 13, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_sun_agrees_with_noaas_equations(lat: float, lon: float, when: datetime) -> None:
    from astral import Observer
    from astral.sun import elevation

    expected_azimuth, expected_elevation = noaa_sun(lat, lon, when)
    azimuth, _ = sun.position_of_sun(Position(lat, lon), when)
    plain = elevation(Observer(lat, lon), when, with_refraction=False)
    assert abs(azimuth - expected_azimuth) < 0.1
    assert abs(plain - expected_elevation) < 0.05


def test_the_sun_signal_says_night_and_daylight() -> None:
    noon = sun.signal(Position(33.5, 36.3), datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    midnight = sun.signal(Position(33.5, 36.3), datetime(2024, 3, 1, 22, 0, tzinfo=UTC))
    assert "daylight" in noon.summary and noon.details["elevation"] > 30
    assert "night" in midnight.summary and midnight.details["elevation"] < -18
    assert sun.signal(None, None).finding == "not checked"


def test_haversine_and_the_nearest_places() -> None:
    # One degree of longitude on the equator: 2 * pi * R / 360.
    one = places.haversine_km(np.array([0.0]), np.array([0.0]), 0.0, math.radians(1.0))
    assert abs(float(one[0]) - 2 * math.pi * places.EARTH_RADIUS_KM / 360) < 1e-6
    names, coords = places._cities()
    index = next(i for i, (name, country) in enumerate(names) if country == "SY")
    lat, lon = (math.degrees(v) for v in coords[index])
    found = places.nearest(Position(lat, lon))
    assert found[0]["km"] == 0.0 and found[0]["country"] == "SY"
    assert found == sorted(found, key=lambda p: float(str(p["km"])))
    assert places.signal(None).finding == "not checked"


def test_a_file_whose_offset_contradicts_its_position_is_flagged(
    locker: Locker, tmp_path: Path
) -> None:
    path = tmp_path / "offset.jpg"
    path.write_bytes(jpeg(scene(9), 90))
    subprocess.run(
        [
            "exiftool", "-q", "-overwrite_original", "-DateTimeOriginal=2024:03:01 12:34:56",
            "-OffsetTimeOriginal=-05:00", "-GPSLatitude=33.5043", "-GPSLatitudeRef=N",
            "-GPSLongitude=36.2842", "-GPSLongitudeRef=E", "-Make=Larkspur", str(path),
        ],
        check=True,
    )  # fmt: skip
    take(locker, path)
    with locker.engine.connect() as conn:
        sha256 = str(conn.execute(select(schema.items.c.sha256)).scalar_one())
        results = {r.step: r for r in aid_results(conn, sha256)}
    signals = {s.name: s for s in results["metadata-signals"].signals}
    assert signals["offset-vs-position"].finding == "signal"
    assert "Asia/Damascus" in signals["offset-vs-position"].summary
    assert signals["sun-position"].finding == "for review"
    assert results["metadata-signals"].tools["timezonefinder"]
    assert results["metadata-signals"].tools["tz rules"].startswith("20")


def test_a_video_remuxed_by_ffmpeg_and_a_track_time_changed_are_flagged(
    locker: Locker, tmp_path: Path
) -> None:
    from docket._samples import write_video

    made = write_video(tmp_path / "made.mp4")
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(made.read_bytes())
    subprocess.run(
        [
            "exiftool", "-q", "-overwrite_original", "-Track1:MediaCreateDate=2024:03:02 10:00:00",
            str(changed),
        ],
        check=True,
    )  # fmt: skip
    take(locker, made, changed)
    found = {}
    with locker.engine.connect() as conn:
        for sha256 in conn.execute(select(schema.items.c.sha256)).scalars():
            results = {r.step: r for r in aid_results(conn, str(sha256))}
            assert "picture-signals" not in results  # pictures only
            signals = {s.name: s for s in results["metadata-signals"].signals}
            found[signals["container-vs-stream-time"].finding] = signals
    assert set(found) == {"no signal", "signal"}
    assert "apart from the container" in found["signal"]["container-vs-stream-time"].summary
    software_found = found["no signal"]["editing-software"]
    assert software_found.finding == "signal" and "Lavf" in software_found.summary


def test_the_cameras_identity_serial_numbers_and_maker_notes() -> None:
    canon = {"IFD0:Make": "Canon", "Canon:CanonModelID": 2147484294}
    agreeing = consistency.camera(
        record(**canon, ExifIFD__SerialNumber="0560018150", Canon__SerialNumber="560018150")
    )
    assert agreeing.finding == "no signal", agreeing.summary  # Canon's leading zero
    differing = consistency.camera(
        record(**canon, ExifIFD__SerialNumber="0560018150", **{"XMP-aux:SerialNumber": "7731"})
    )
    assert differing.finding == "signal"
    assert "0560018150" in differing.summary and "7731" in differing.summary
    notes_only = {"Canon:CanonModelID": 2147484294}
    moved = consistency.camera(record(IFD0__Make="NIKON CORPORATION", **notes_only))
    assert moved.finding == "signal" and "Make is NIKON CORPORATION" in moved.summary
    for make in ("RICOH IMAGING COMPANY, LTD.", "PENTAX"):  # Ricoh makes Pentax cameras
        pentax = consistency.camera(record(IFD0__Make=make, Pentax__PentaxModelID=77))
        assert pentax.finding == "no signal", make
    leica = consistency.camera(record(IFD0__Make="LEICA", Panasonic__InternalSerialNumber="x"))
    assert leica.finding == "no signal"
    assert consistency.camera(record(IFD0__Make="Larkspur")).finding == "not checked"


def test_a_serial_number_edited_in_one_place_is_flagged_end_to_end(
    locker: Locker, tmp_path: Path
) -> None:
    path = tmp_path / "serial.jpg"
    path.write_bytes(jpeg(scene(4), 90))
    subprocess.run(
        [
            "exiftool", "-q", "-overwrite_original", "-Make=Larkspur", "-SerialNumber=LK-20931",
            "-XMP-aux:SerialNumber=LK-55555", str(path),
        ],
        check=True,
    )  # fmt: skip
    take(locker, path)
    with locker.engine.connect() as conn:
        sha256 = str(conn.execute(select(schema.items.c.sha256)).scalar_one())
        results = {r.step: r for r in aid_results(conn, sha256)}
    found = {s.name: s for s in results["metadata-signals"].signals}["camera-identity"]
    assert found.finding == "signal"
    assert "LK-20931" in found.summary and "LK-55555" in found.summary
