"""A source's trace hidden where ExifTool does not look never leaves in a publication: a PNG's
private chunk, a GIF's application extension and trailer, a video's subtitle track or an
attached file. `strip` leaves them out (a picture other than JPEG becomes a PNG of the same
pixels; a video keeps its pictures and sound) and the publication's re-check refuses a copy
that still holds them. Every file here is made by code; the marker is an invented name."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import photo, take
from PIL import Image

from docket.analyse.batch import run_step
from docket.analyse.steps import DerivativeFile, StepOutput, Tools
from docket.disclose.package import export
from docket.locker import Locker
from docket.protect import approval
from docket.protect.hidden_data import jpeg_extras, png_extras
from docket.protect.steps import StripStep
from docket.scope import for_locker

PROBE_KINDS = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0"]
MARKER = b"GPS 33.5102,36.2809 FILMED-BY Nadira-Qolvex-Invented"
SEI_MARKER = MARKER.replace(b",", b" ")  # a comma would end FFmpeg's option


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def picture(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def png_holding_the_marker(seed: int) -> bytes:
    """A PNG with the marker in a private chunk, a text chunk and bytes after its end."""
    out = io.BytesIO()
    picture(seed).save(out, "PNG")
    plain = out.getvalue()
    header_end = 8 + 25  # the signature, then IHDR's 13 bytes in a chunk
    return (
        plain[:header_end]
        + png_chunk(b"prIv", MARKER)
        + png_chunk(b"tEXt", b"Author\x00" + MARKER)
        + plain[header_end:]
        + MARKER
    )


def png_with_private_chunks(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_holding_the_marker(seed))
    return path


def first_image_descriptor(gif: bytes) -> int:
    """Where a GIF's first image starts: after its header, palette and extensions."""
    flags = gif[10]
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while gif[at] == 0x21:  # an extension: its label, then sub-blocks to an empty one
        at += 2
        while gif[at]:
            at += gif[at] + 1
        at += 1
    assert gif[at] == 0x2C
    return at


def gif_with_private_extension(path: Path) -> Path:
    """A two-frame GIF with the marker in an application extension and after its end."""
    frames = [picture(seed).quantize(16) for seed in (1, 2)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    plain = out.getvalue()
    first_image = first_image_descriptor(plain)
    extension = b"\x21\xff\x0bPRIVATEAPP1" + bytes([len(MARKER)]) + MARKER + b"\x00"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plain[:first_image] + extension + plain[first_image:] + MARKER)
    return path


def video_with_subtitles_and_attachment(folder: Path, container: str) -> Path:
    """A one-second video whose subtitle track says the marker (and, in Matroska, a file
    attached to it that says it too)."""
    folder.mkdir(parents=True, exist_ok=True)
    subtitles = folder / "said.srt"
    subtitles.write_bytes(b"1\n00:00:00,000 --> 00:00:01,000\n" + MARKER + b"\n")
    note = folder / "note.txt"
    note.write_bytes(MARKER)
    out = folder / f"clip.{'mp4' if container == 'mp4' else 'mkv'}"
    command = [
        *["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i"],
        "testsrc=size=160x120:rate=10:duration=1",
        *["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-i", str(subtitles)],
        *["-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:v", "libx264", "-c:a", "aac"],
        *(["-c:s", "mov_text"] if container == "mp4" else ["-c:s", "srt"]),
    ]
    if container != "mp4":
        command += ["-attach", str(note), "-metadata:s:t", "mimetype=text/plain"]
    subprocess.run([*command, str(out)], check=True)
    return out


def stripped(locker: Locker, item: str, media_type: str) -> tuple[str, str]:
    """Strip the item: the copy's SHA-256 and media type, as the step recorded them."""
    run = run_step(locker, item, media_type, StripStep(), "tester")
    assert run.error is None, run.error
    [(derivative, blob)] = run.stored
    return str(blob.digest.sha256), derivative.media_type


def approve(locker: Locker, item: str, copy: str, faces: int = 0) -> None:
    with locker.engine.connect() as conn, conn.begin():
        approval.approve(conn, "editor-7", item, copy[:10], for_locker(conn, item, None), faces)


def published_bytes(package: Path) -> bytes:
    return b"".join(path.read_bytes() for path in (package / "data").rglob("*") if path.is_file())


def test_a_png_s_private_chunks_never_leave_and_its_pixels_stay(
    locker: Locker, tmp_path: Path
) -> None:
    source = png_with_private_chunks(tmp_path / "in" / "screenshot.png", seed=4)
    item = take(locker, source).outcomes[0].sha256 or ""
    copy, media_type = stripped(locker, item, "image/png")
    held = locker.store.path(copy).read_bytes()
    assert media_type == "image/png" and MARKER not in held and png_extras(held) == []
    with Image.open(source) as before, Image.open(io.BytesIO(held)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))  # lossless: same pixels
    approve(locker, item, copy)
    summary = export(locker, [item], "publication", tmp_path / "press", "tester")
    assert summary.left_out == []
    assert MARKER not in published_bytes(tmp_path / "press")


def jpeg_with_an_unused_table(path: Path) -> Path:
    """A JPEG with a quantisation table no component uses, its 64 values the marker: the
    picture decodes, ExifTool sees nothing, and no segment is out of place."""
    plain = io.BytesIO()
    picture(8).save(plain, "JPEG", quality=90)
    coded = plain.getvalue()
    table = bytes([3]) + MARKER.ljust(64, b" ")[:64]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        coded[:2] + b"\xff\xdb" + (len(table) + 2).to_bytes(2, "big") + table + coded[2:]
    )
    return path


def palette_png_with_the_marker_in_unused_entries(path: Path) -> Path:
    """Four colours used; the palette's other entries (and their transparency) spell it."""
    image = Image.new("P", (32, 24))
    image.putdata([i % 4 for i in range(32 * 24)])
    spelled = list(MARKER.ljust(len(MARKER) + (-len(MARKER)) % 3, b" "))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, *spelled])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG", transparency=bytes([255, 255, 255, 255, *MARKER]))
    return path


def test_unused_tables_and_palette_entries_never_leave(locker: Locker, tmp_path: Path) -> None:
    for source, media_type in (
        (jpeg_with_an_unused_table(tmp_path / "in" / "table.jpg"), "image/jpeg"),
        (palette_png_with_the_marker_in_unused_entries(tmp_path / "in" / "p.png"), "image/png"),
    ):
        assert MARKER[:20] in source.read_bytes()
        item = take(locker, source).outcomes[0].sha256 or ""
        copy, _ = stripped(locker, item, media_type)
        held = locker.store.path(copy).read_bytes()
        assert MARKER[:8] not in held, media_type
        with Image.open(source) as before, Image.open(io.BytesIO(held)) as after:
            assert np.array_equal(
                np.asarray(before.convert("RGBA")), np.asarray(after.convert("RGBA"))
            )
        approve(locker, item, copy)
        exported = export(locker, [item], "publication", tmp_path / media_type[6:], "tester")
        assert exported.left_out == []


def test_tag_names_the_file_chose_never_travel_with_the_copy(
    locker: Locker, tmp_path: Path
) -> None:
    """ExifTool names a PNG text's tag by its keyword: the strip's result, which a publication
    package carries with its custody events, counts tags by group and names none."""
    out = io.BytesIO()
    picture(9).save(out, "PNG")
    plain = out.getvalue()
    source = tmp_path / "in" / "keyword.png"
    source.parent.mkdir(parents=True)
    source.write_bytes(plain[:33] + png_chunk(b"tEXt", b"NadiraQolvexVillage\x00x") + plain[33:])
    item = take(locker, source).outcomes[0].sha256 or ""
    run = run_step(locker, item, "image/png", StripStep(), "tester")
    assert run.output is not None and run.output.data["removed"] == {"PNG": 1}, run.error
    [(_, blob)] = run.stored
    approve(locker, item, blob.digest.sha256)
    export(locker, [item], "publication", tmp_path / "press", "tester")
    assert b"NadiraQolvex" not in published_bytes(tmp_path / "press")


def test_a_gif_s_extensions_never_leave_and_its_frames_stay(locker: Locker, tmp_path: Path) -> None:
    source = gif_with_private_extension(tmp_path / "in" / "loop.gif")
    item = take(locker, source).outcomes[0].sha256 or ""
    copy, media_type = stripped(locker, item, "image/gif")
    held = locker.store.path(copy).read_bytes()
    assert media_type == "image/png" and MARKER not in held and png_extras(held) == []
    with Image.open(source) as before, Image.open(io.BytesIO(held)) as after:
        assert getattr(after, "n_frames", 1) == getattr(before, "n_frames", 1) == 2
        for frame in range(2):
            before.seek(frame)
            after.seek(frame)
            assert np.array_equal(
                np.asarray(before.convert("RGB")), np.asarray(after.convert("RGB"))
            )


@pytest.mark.parametrize("backend", ["sqlite"])  # the worker's refusal, not the catalogue
def test_an_animation_too_large_to_write_again_is_refused_in_words(
    backend: str, locker: Locker, tmp_path: Path
) -> None:
    """Five frames of 8000x8000 are 1.2 GiB as RGBA: more than the worker writes again at
    once. Refused by name, where it had crashed the worker (a long 1080p GIF does the same)."""
    frames = []
    for shade in range(5):
        frame = Image.new("P", (8000, 8000), shade)
        frame.putpalette([value for level in range(5) for value in (level * 60,) * 3])
        frames.append(frame)
    source = tmp_path / "in" / "long.gif"
    source.parent.mkdir(parents=True)
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100)
    item = take(locker, source, defer_analysis=True).outcomes[0].sha256 or ""
    run = run_step(locker, item, "image/gif", StripStep(), "tester")
    assert run.error is not None and not run.stored
    assert "an animation of 5 frames of 8000x8000 is 1.2 GiB decoded" in run.error, run.error


def test_a_video_s_subtitles_and_attachments_never_leave(locker: Locker, tmp_path: Path) -> None:
    for container, media_type in (("mp4", "video/mp4"), ("mkv", "video/x-matroska")):
        source = video_with_subtitles_and_attachment(tmp_path / container, container)
        assert MARKER in source.read_bytes()
        item = take(locker, source).outcomes[0].sha256 or ""
        copy, kept_type = stripped(locker, item, media_type)
        assert kept_type == media_type
        held = locker.store.path(copy)
        assert MARKER not in held.read_bytes()
        kinds = subprocess.run(
            [*PROBE_KINDS, str(held)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert kinds == ["video", "audio"], (container, kinds)
        approve(locker, item, copy)
        summary = export(locker, [item], "publication", tmp_path / f"press-{container}", "tester")
        assert summary.left_out == []
        assert MARKER not in published_bytes(tmp_path / f"press-{container}")
        folder = tmp_path / f"press-{container}" / "data" / "items" / item
        assert (folder / f"stripped.{container}").is_file()  # named for its type, to be opened


def test_bytes_after_adobe_s_fields_never_leave(locker: Locker, tmp_path: Path) -> None:
    """ExifTool's -all= keeps Adobe's segment (colours depend on it) with whatever follows
    its fields: strip then writes the picture again with jpegtran, losslessly."""
    plain = io.BytesIO()
    picture(7).save(plain, "JPEG", quality=90)
    coded = plain.getvalue()
    adobe = b"Adobe\x00\x64\x00\x00\x00\x00\x01" + MARKER
    source = tmp_path / "in" / "adobe.jpg"
    source.parent.mkdir()
    source.write_bytes(
        coded[:2] + b"\xff\xee" + (len(adobe) + 2).to_bytes(2, "big") + adobe + coded[2:]
    )
    item = take(locker, source).outcomes[0].sha256 or ""
    run = run_step(locker, item, "image/jpeg", StripStep(), "tester")
    assert run.error is None and run.output is not None, run.error
    assert run.output.data["recipe"]["tool"] == (
        "exiftool -all=, then jpegtran -copy none -optimize (lossless)"
    )
    [(_, blob)] = run.stored
    held = locker.store.path(blob.digest.sha256).read_bytes()
    assert MARKER not in held and jpeg_extras(held) == []
    with Image.open(source) as before, Image.open(io.BytesIO(held)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))  # the same coded picture


def video_with_a_message(folder: Path) -> Path:
    """A one-second H.264 video whose SEI (user data, as cameras and apps write it) says the
    marker; remuxing copies it."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "clip.mp4"
    sei = f"086f3693-b7b3-4f2c-9653-21492feee5b8+{SEI_MARKER.decode()}"
    subprocess.run(
        [
            *["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i"],
            "testsrc=size=160x120:rate=10:duration=1",
            *["-c:v", "libx264", "-bsf:v", f"h264_metadata=sei_user_data={sei}", str(out)],
        ],
        check=True,
    )
    return out


def test_a_video_s_sei_messages_never_leave(locker: Locker, tmp_path: Path) -> None:
    source = video_with_a_message(tmp_path / "v")
    assert SEI_MARKER in source.read_bytes()
    item = take(locker, source).outcomes[0].sha256 or ""
    copy, _ = stripped(locker, item, "video/mp4")
    held = locker.store.path(copy).read_bytes()
    assert SEI_MARKER not in held and b"x264 - core" not in held
    approve(locker, item, copy)
    summary = export(locker, [item], "publication", tmp_path / "press", "tester")
    assert summary.left_out == []
    assert SEI_MARKER not in published_bytes(tmp_path / "press")


def video_with_marked_units(folder: Path) -> Path:
    """H.264 with the marker in an unspecified NAL unit after every slice and after its SPS's
    fields, and AAC sound: a remux copies all of it."""
    folder.mkdir(parents=True, exist_ok=True)
    plain = folder / "plain.h264"
    subprocess.run(
        [
            *["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i"],
            "testsrc=size=160x120:rate=10:duration=1",
            *["-c:v", "libx264", "-x264-params", "no-info=1", "-f", "h264", str(plain)],
        ],
        check=True,
    )
    marked = b""
    for unit in plain.read_bytes().split(b"\x00\x00\x01")[1:]:
        unit = unit.rstrip(b"\x00")
        kind = unit[0] & 0x1F
        marked += b"\x00\x00\x00\x01" + (unit + SEI_MARKER if kind == 7 else unit)
        if kind in (1, 5):
            marked += b"\x00\x00\x00\x01\x1f" + SEI_MARKER  # type 31: unspecified
    (folder / "marked.h264").write_bytes(marked)
    out = folder / "units.mp4"
    subprocess.run(
        [
            *["ffmpeg", "-v", "error", "-y", "-r", "10", "-f", "h264", "-i"],
            str(folder / "marked.h264"),
            *["-f", "lavfi", "-i", "sine=duration=1", "-c:v", "copy", "-c:a", "aac", str(out)],
        ],
        check=True,
    )
    return out


def test_units_besides_the_pictures_never_leave(locker: Locker, tmp_path: Path) -> None:
    source = video_with_marked_units(tmp_path / "u")
    assert source.read_bytes().count(SEI_MARKER) > 2
    item = take(locker, source).outcomes[0].sha256 or ""
    copy, _ = stripped(locker, item, "video/mp4")
    held = locker.store.path(copy).read_bytes()
    assert SEI_MARKER not in held
    approve(locker, item, copy)
    exported = export(locker, [item], "publication", tmp_path / "press", "tester")
    assert exported.left_out == [] and SEI_MARKER not in published_bytes(tmp_path / "press")


def test_a_recording_with_no_pictures_is_stripped_too(locker: Locker, tmp_path: Path) -> None:
    """An MP4 of sound alone (a voice note): there is no picture stream to keep."""
    source = tmp_path / "voice.mp4"
    subprocess.run(
        [
            *["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1"],
            *["-metadata", f"title={SEI_MARKER.decode()}", "-c:a", "aac", str(source)],
        ],
        check=True,
    )
    item = take(locker, source).outcomes[0].sha256 or ""
    copy, _ = stripped(locker, item, "video/mp4")
    assert SEI_MARKER not in locker.store.path(copy).read_bytes()


class OldStrip:
    """Strip as version 2 made it: ExifTool's `-all=` over a PNG, a video remuxed whole."""

    name = "strip"
    version = "2-as-before"

    def applies_to(self, media_type: str) -> bool:
        return True

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        target = scratch / {"image/png": "stripped.png", "image/jpeg": "stripped.jpg"}.get(
            media_type, "stripped.mp4"
        )
        if media_type.startswith("image/"):
            done = subprocess.run(
                ["exiftool", "-q", "-q", "-all=", "-o", "-", str(blob)],
                capture_output=True,
                check=True,
            )
            target.write_bytes(done.stdout)
        else:
            shutil.copyfile(blob, target)
        return StepOutput({}, derivatives=[DerivativeFile(target, "stripped", media_type)])


def test_a_copy_approved_before_that_still_holds_them_is_refused_by_name(
    locker: Locker, tmp_path: Path
) -> None:
    """The re-check reads the copy's structure: ExifTool saw nothing in either copy."""
    made = {
        "table": (jpeg_with_an_unused_table(tmp_path / "in" / "t.jpg"), "image/jpeg"),
        "png": (png_with_private_chunks(tmp_path / "in" / "a.png", seed=5), "image/png"),
        "subtitles": (video_with_subtitles_and_attachment(tmp_path / "v", "mp4"), "video/mp4"),
        "sei": (video_with_a_message(tmp_path / "m"), "video/mp4"),
    }
    items = {}
    for label, (source, media_type) in made.items():
        item = take(locker, source).outcomes[0].sha256 or ""
        run = run_step(locker, item, media_type, OldStrip(), "tester")
        [(_, blob)] = run.stored
        approve(locker, item, blob.digest.sha256)
        items[label] = item
    clean = take(locker, photo(tmp_path / "in", "b.jpg", 6)).outcomes[0].sha256 or ""
    approve(locker, clean, stripped(locker, clean, "image/jpeg")[0])
    exported = export(locker, [*items.values(), clean], "publication", tmp_path / "press", "tester")
    reasons = dict(exported.left_out)
    assert "holds more than its picture and sound (a prIv chunk" in reasons[items["png"]]
    assert "a subtitle stream (stream 2, mov_text)" in reasons[items["subtitles"]]
    assert "coding tables or bytes that a lossless rewrite leaves out" in reasons[items["table"]]
    sei = "units besides the pictures (SEI messages, filler or others) in stream 0, h264"
    assert sei in reasons[items["sei"]], reasons[items["sei"]]
    assert set(reasons) == set(items.values())
    assert MARKER not in published_bytes(tmp_path / "press")


def test_the_walkers_name_what_is_not_the_picture() -> None:
    plain = io.BytesIO()
    picture(1).save(plain, "JPEG", quality=80)
    coded = plain.getvalue()
    progressive = io.BytesIO()
    picture(2).save(progressive, "JPEG", progressive=True)
    restarts = io.BytesIO()
    picture(3).save(restarts, "JPEG", restart_marker_blocks=1)
    for clean in (coded, progressive.getvalue(), restarts.getvalue()):
        assert jpeg_extras(clean) == []

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    thumbnail = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x01\x01" + b"\x00" * 3
    evil = (
        coded[:2]
        + segment(0xE9, MARKER)
        + segment(0xFE, MARKER)
        + segment(0xE0, thumbnail)
        + coded[2:]
        + MARKER
    )
    assert jpeg_extras(evil) == [
        "an APP9 segment",
        "a comment (COM)",
        "an APP0 segment",
        f"{len(MARKER)} bytes after the picture's end",
    ]
    assert jpeg_extras(coded[:-2]) == ["no end-of-picture marker"]
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    adobe = b"Adobe\x00\x64\x00\x00\x00\x00\x01"
    fields = coded[:2] + segment(0xE0, jfif) + segment(0xEE, adobe) + coded[2:]
    assert jpeg_extras(fields) == []
    padded = coded[:2] + segment(0xE0, jfif + MARKER) + segment(0xEE, adobe + MARKER) + coded[2:]
    assert jpeg_extras(padded) == ["an APP0 segment", "an APP14 segment"]
    assert jpeg_extras(coded[:2] + b"\xff\xe1\x40\x00" + MARKER)[-1].startswith("an APP1")
    png = io.BytesIO()
    picture(1).save(png, "PNG")
    assert png_extras(png.getvalue()) == []
    assert png_extras(png_holding_the_marker(1)) == [
        "a prIv chunk",
        "a tEXt chunk",
        f"{len(MARKER)} bytes after the picture's end",
    ]
