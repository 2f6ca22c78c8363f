"""Metadata an investigator reads first (issue 18): identifiers exactly as ExifTool prints them,
the capture time's offset and where it came from, and the owner, lens and serial surfaced.
Every file here is a synthetic photo whose tags real ExifTool writes."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import photo

from docket.analyse.exiftool import ExifTool
from docket.analyse.metadata import read_metadata


def tagged(path: Path, *tags: str) -> Path:
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", *tags, str(path)], check=True, timeout=60
    )
    return path


def canon_maker_note(path: Path, serial: int) -> Path:
    """A Canon maker note holding only SerialNumber (tag 0x000c, int32u), which ExifTool
    prints as ten digits: the leading zero exists only in its printed form."""
    note = path.with_suffix(".makernote")
    note.write_bytes(struct.pack(">HHHII", 1, 0x000C, 4, 1, serial) + struct.pack(">I", 0))
    return tagged(path, "-Make=Canon", "-Model=Canon EOS 5D Mark III", f"-MakerNoteCanon<={note}")


@pytest.fixture
def exiftool(tmp_path: Path) -> Any:
    with ExifTool(tmp_path) as tool:
        yield tool


def test_a_serial_keeps_its_leading_zero(exiftool: ExifTool, tmp_path: Path) -> None:
    path = canon_maker_note(photo(tmp_path, facts=None), 560018150)
    printed = subprocess.run(
        ["exiftool", "-s3", "-Canon:SerialNumber", str(path)], capture_output=True, text=True
    ).stdout.strip()
    assert printed == "0560018150"  # what a user sees from ExifTool itself
    outcome = read_metadata(exiftool, path)
    assert outcome.normalised.serial == "0560018150"
    assert outcome.raw["Canon:SerialNumber"] == "0560018150"


def test_numbers_that_are_measures_stay_numbers(exiftool: ExifTool, tmp_path: Path) -> None:
    outcome = read_metadata(exiftool, photo(tmp_path))
    assert isinstance(outcome.raw["GPS:GPSLatitude"], float)
    assert outcome.normalised.gps_latitude is not None
    assert abs(outcome.normalised.gps_latitude - outcome.raw["GPS:GPSLatitude"]) < 1e-9


def test_offset_tag_says_so(exiftool: ExifTool, tmp_path: Path) -> None:
    normalised = read_metadata(exiftool, photo(tmp_path)).normalised
    assert normalised.capture_time_has_offset
    assert normalised.offset_source == "OffsetTime tag"


def test_offset_from_gps_time_when_no_offset_tag(exiftool: ExifTool, tmp_path: Path) -> None:
    path = tagged(
        photo(tmp_path, facts=None),
        "-DateTimeOriginal=2024:03:01 12:34:56",
        "-GPSDateStamp=2024:03:01",
        "-GPSTimeStamp=10:34:51",  # the fix is a few seconds older than the shutter
    )
    normalised = read_metadata(exiftool, path).normalised
    assert normalised.capture_time == "2024-03-01T12:34:56+02:00"
    assert normalised.capture_time_has_offset
    assert normalised.offset_source == "GPS time"


def test_offset_from_gps_time_across_midnight(exiftool: ExifTool, tmp_path: Path) -> None:
    path = tagged(
        photo(tmp_path, facts=None),
        "-DateTimeOriginal=2024:03:01 01:30:00",
        "-GPSDateStamp=2024:02:29",
        "-GPSTimeStamp=20:00:00",  # UTC+05:30
    )
    normalised = read_metadata(exiftool, path).normalised
    assert normalised.capture_time == "2024-03-01T01:30:00+05:30"
    assert normalised.offset_source == "GPS time"


def test_a_stale_gps_fix_gives_no_offset(exiftool: ExifTool, tmp_path: Path) -> None:
    path = tagged(
        photo(tmp_path, facts=None),
        "-DateTimeOriginal=2024:03:01 12:34:56",
        "-GPSDateStamp=2024:03:01",
        "-GPSTimeStamp=09:12:00",  # 3 h 22 m 56 s: no time zone is that; the fix is old
    )
    normalised = read_metadata(exiftool, path).normalised
    assert normalised.capture_time == "2024-03-01T12:34:56"
    assert not normalised.capture_time_has_offset
    assert normalised.offset_source is None


def test_owner_lens_and_lens_serial_are_surfaced(exiftool: ExifTool, tmp_path: Path) -> None:
    path = tagged(
        photo(tmp_path),
        "-OwnerName=Ivanna Testova",
        "-LensModel=EF24-70mm f/2.8L II USM",
        "-LensSerialNumber=0000012345",
    )
    normalised = read_metadata(exiftool, path).normalised
    assert normalised.owner_name == "Ivanna Testova"
    assert normalised.lens == "EF24-70mm f/2.8L II USM"
    assert normalised.lens_serial == "0000012345"
