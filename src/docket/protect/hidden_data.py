"""What a copy carries besides its picture and sound: the parts of its structure that a
publication must not hold, named for a person (empty: nothing but the picture, or the video's
pictures and sound).

ExifTool's `-all=` removes the metadata it knows and leaves what it does not: a PNG's private
chunk, a GIF's application extension, a WebP's unknown chunk, bytes after a GIF's end. A
video's subtitle or data track (a drone's GPS log, a caption with a name) is a stream, not
metadata. So what may leave is decided by an allowlist of structure, not by a list of known
metadata: a JPEG's segments and a PNG's chunks are walked here, by hand, since no library
lists a file's parts as they are (Pillow and ExifTool skip what they do not know); a video's
streams are read by ffprobe in the sandboxed worker (docket.aids.video.probe), and the units
of a video stream other than those that code its pictures (SEI messages, filler) are counted
by FFmpeg.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from docket.aids.video import probe
from docket.analyse.sandbox import FFMPEG_INPUT, AnalysisError, ffmpeg_path
from docket.store.scratch import environment

MESSAGES_TIMEOUT = 600.0

# JPEG markers whose segments only describe the picture's coding: tables, frame and scan
# headers (SOF0-15 but 0xC4 DHT, 0xC8 reserved, 0xCC DAC, which are listed apart).
_JPEG_CODING = {0xC4, 0xCC, 0xDB, 0xDD, 0xDC} | (set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC})
_SOS, _EOI, _APP0, _APP14 = 0xDA, 0xD9, 0xE0, 0xEE
_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}  # RST0-7 and TEM carry no length
# The exact size of Adobe's segment (and, below, of JFIF's header): a longer one carries bytes
# no decoder reads (ExifTool's -all= keeps Adobe's segment, with whatever follows its fields).
_ADOBE = 12
# PNG chunks that only describe the pixels (colour space without a profile, transparency,
# pixel size, animation frames); iCCP is left out, as a profile holds free text.
PNG_PICTURE_CHUNKS = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"sBIT",
    b"bKGD",
    b"pHYs",
    b"acTL",
    b"fcTL",
    b"fdAT",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_KEPT_STREAMS = {"video", "audio"}
# The units of a video codec's stream that code its pictures (H.264's and HEVC's slices and
# parameter sets, delimiters and ends; AV1's sequence and frame headers, tiles and frames). Any
# other unit (SEI messages, where cameras and apps write text, x264 its settings; filler;
# reserved and unspecified types) is left out by strip and refused by the check: a remux copies
# them all. FFmpeg's filter_units keeps or drops units by type.
PICTURE_UNITS = {
    "h264": "1|5|7|8|9|10|11",
    "hevc": "0-9|16-21|32-37",
    "av1": "1|2|3|4|6|7",
}
# FFmpeg's bitstream filter that writes a stream's parameter sets again from their fields, so
# that bytes after them go too.
REWRITTEN_HEADERS = {"h264": "h264_metadata", "hevc": "hevc_metadata", "av1": "av1_metadata"}
_RAW_FORMAT = {"h264": "h264", "hevc": "hevc", "av1": "obu"}
# Codecs whose streams carry nothing but pictures once only those units are left. VP8's and
# VP9's frames can carry bytes past their pictures that no filter can take out; MPEG-4 Part 2
# and MPEG-2 carry user data: each is named, to be redacted (which writes H.264).
PLAIN_VIDEO = set(PICTURE_UNITS)
# Sound is encoded again by strip and redaction (AAC frames can carry data elements, Opus and
# MP3 frames padding); these are codecs whose frames hold sound alone once so encoded.
PLAIN_AUDIO = {"aac", "opus", "mp3", "ac3", "eac3", "alac"} | {"pcm_s16le", "pcm_s16be"}


def _jpeg_marker_name(marker: int) -> str:
    if 0xE0 <= marker <= 0xEF:
        return f"an APP{marker - 0xE0} segment"
    if marker == 0xFE:
        return "a comment (COM)"
    return f"a segment with marker 0x{marker:02X}"


def jpeg_extras(data: bytes) -> list[str]:
    """The parts of a JPEG that are not its coded picture (a JFIF header without a thumbnail
    and Adobe's colour-transform segment are part of it)."""
    if not data.startswith(b"\xff\xd8"):
        return ["not a JPEG (no start-of-image marker)"]
    extras: list[str] = []
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            return [*extras, f"{len(data) - at} bytes outside any segment at offset {at}"]
        while at < len(data) and data[at] == 0xFF:  # fill bytes before a marker
            at += 1
        if at >= len(data):
            break
        marker = data[at]
        at += 1
        if marker == _EOI:
            if at < len(data):
                extras.append(f"{len(data) - at} bytes after the picture's end")
            return extras
        if marker in _STANDALONE:
            continue
        if at + 2 > len(data):
            break
        length = int.from_bytes(data[at : at + 2], "big")
        payload = data[at + 2 : at + length]
        if length < 2 or at + length > len(data):
            return [*extras, f"{_jpeg_marker_name(marker)} cut short at offset {at}"]
        at += length
        if marker == _APP0 and payload[:5] + payload[12:] == b"JFIF\x00\0\0":
            continue  # JFIF's header alone (14 bytes), no thumbnail: 0 wide and 0 high
        if marker == _APP14 and payload.startswith(b"Adobe") and len(payload) == _ADOBE:
            continue  # Adobe's colour transform alone, which the colours depend on
        if marker == _SOS:
            at = _after_scan(data, at)
            continue
        if marker not in _JPEG_CODING:
            extras.append(_jpeg_marker_name(marker))
    return [*extras, "no end-of-picture marker"]


def _after_scan(data: bytes, at: int) -> int:
    """Where the entropy-coded data that starts at `at` ends: the next marker that is not a
    stuffed 0xFF00 nor a restart marker."""
    while (at := data.find(b"\xff", at)) != -1 and at + 1 < len(data):
        following = data[at + 1]
        if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            at += 1 if following == 0xFF else 2
            continue
        return at
    return len(data)


def png_extras(data: bytes) -> list[str]:
    """The chunks of a PNG outside PNG_PICTURE_CHUNKS, and anything after its end."""
    if not data.startswith(_PNG_SIGNATURE):
        return ["not a PNG (no signature)"]
    extras: list[str] = []
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            return [*extras, f"a chunk cut short at offset {at}"]
        if kind not in PNG_PICTURE_CHUNKS:
            shown = kind.decode("ascii") if kind.isalpha() else kind.hex()
            extras.append(f"a {shown} chunk")
        at = end
        if kind == b"IEND":
            if at < len(data):
                extras.append(f"{len(data) - at} bytes after the picture's end")
            return extras
    return [*extras, "no IEND chunk"]


# jpegtran's lossless rewrite: the coded picture alone, with the tables it uses (Huffman ones
# made anew), JFIF's and Adobe's segments as it writes them, nothing after the picture.
JPEGTRAN_REWRITE = ("-copy", "none", "-optimize")
_JPEGTRAN_WARNED = 2  # libjpeg's exit status when it warned (extraneous bytes) and wrote all


def rewritten_jpeg(path: Path, scratch: Path) -> bytes:
    """`path` written again by jpegtran (JPEGTRAN_REWRITE): what strip keeps of a JPEG, and
    what a JPEG fit to publish is already (the rewrite of a rewrite is the same bytes)."""
    jpegtran = shutil.which("jpegtran")
    if jpegtran is None:
        raise AnalysisError("jpegtran is not installed (Debian: apt install libjpeg-turbo-progs)")
    done = subprocess.run(
        [jpegtran, *JPEGTRAN_REWRITE, str(path)],
        capture_output=True,
        timeout=MESSAGES_TIMEOUT,
        check=False,
        env=environment(scratch),
    )
    if done.returncode not in (0, _JPEGTRAN_WARNED) or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[:1] or ["?"]
        raise AnalysisError(f"jpegtran cannot read the picture ({reason[0][-200:]})")
    return done.stdout


def picture_extras(path: Path, media_type: str, scratch: Path) -> list[str]:
    """What a picture copy holds besides its picture; only JPEG and PNG are read this way,
    and a picture of any other type is named as such (strip makes them PNG). A JPEG must
    also be its own lossless rewrite: unused coding tables and bytes inside or after the
    coded data are not segments, and only a rewrite leaves them out."""
    if media_type == "image/jpeg":
        data = path.read_bytes()
        extras = jpeg_extras(data)
        if not extras and rewritten_jpeg(path, scratch) != data:
            extras.append(
                "coding tables or bytes that a lossless rewrite leaves out (strip writes one)"
            )
        return extras
    if media_type == "image/png":
        return png_extras(path.read_bytes())
    return [f"a {media_type} picture, whose parts are not checked (only JPEG and PNG are)"]


def stream_extras(streams: list[dict[str, Any]]) -> list[str]:
    """A video's streams other than its pictures and sound (ffprobe's `streams`): subtitles,
    data tracks (GPS logs, telemetry), attachments, and cover pictures."""
    extras = []
    for number, stream in enumerate(streams):
        kind = str(stream.get("codec_type", "unknown"))
        name = str(stream.get("codec_name") or stream.get("codec_tag_string") or "")
        about = f"stream {number}{f', {name}' if name else ''}"
        if kind not in _KEPT_STREAMS:
            extras.append(f"a {kind} stream ({about})")
        elif (stream.get("disposition") or {}).get("attached_pic"):
            extras.append(f"an attached picture ({about})")
        elif name not in (PLAIN_VIDEO if kind == "video" else PLAIN_AUDIO):
            extras.append(f"a {kind} codec whose own data is not checked ({about})")
    return extras


def units_outside_pictures(path: Path, streams: list[dict[str, Any]], scratch: Path) -> list[str]:
    """The video streams of `path` that hold units other than PICTURE_UNITS: FFmpeg drops
    those units from each, under the sandbox's input limits and a deadline, and any byte left
    is another unit."""
    found = []
    for number, stream in enumerate(streams):
        codec = str(stream.get("codec_name", ""))
        if stream.get("codec_type") != "video" or codec not in PICTURE_UNITS:
            continue
        done = subprocess.run(
            [
                *[ffmpeg_path(), "-nostdin", "-v", "error", *FFMPEG_INPUT, "-i", str(path)],
                *["-map", f"0:{number}", "-c", "copy"],
                *["-bsf:v", f"filter_units=remove_types={PICTURE_UNITS[codec]}"],
                *["-f", _RAW_FORMAT[codec], "-"],
            ],
            capture_output=True,
            timeout=MESSAGES_TIMEOUT,
            check=False,
            env=environment(scratch),
        )
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise AnalysisError(f"cannot read stream {number}'s units ({reason[0][-200:]})")
        if done.stdout:
            found.append(
                f"units besides the pictures (SEI messages, filler or others) in stream "
                f"{number}, {codec}"
            )
    return found


def video_extras(path: Path, scratch: Path) -> list[str]:
    """What a video copy holds besides its pictures and sound: streams, then messages."""
    streams = probe(path, scratch).get("streams", [])
    return stream_extras(streams) or units_outside_pictures(path, streams, scratch)
