"""One-shot sandboxed worker: a video's container and stream tags, as ffprobe reads them.

Started by video.probe through sandbox.run_worker (memory limit, deadline, scratch TMPDIR);
ffprobe inherits the memory limit, runs only camera and phone demuxers on the file protocol
(sandbox.FFMPEG_INPUT: no playlists, no network) under its own deadline, and dies with this
worker. Also looks for x264's settings message in the file's first bytes (x264 writes it into
the first frame; phones and cameras encode in hardware and never do). Reads a JSON request on
stdin, prints one JSON line: ffprobe's format and streams, or the reason it failed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from docket.analyse.sandbox import FFMPEG_INPUT, die_with_parent, ffmpeg_path

PROBE_TIMEOUT = 60.0
X264_SCAN_BYTES = 16 << 20
_X264 = re.compile(rb"x264 - core (\d+)[^\x00]{0,40}")
_CHUNK = 1 << 20


def x264_banner(path: Path) -> str | None:
    """x264's version line, when its settings message is in the file's first 16 MiB."""
    tail = b""
    with path.open("rb") as stream:
        for _ in range(X264_SCAN_BYTES // _CHUNK):
            chunk = stream.read(_CHUNK)
            if not chunk:
                return None
            found = _X264.search(tail + chunk)
            if found is not None:
                return found.group(0).split(b" - H.264")[0].decode("ascii", "replace").strip()
            tail = chunk[-64:]
    return None


def handle(request: dict[str, Any]) -> dict[str, Any]:
    path = Path(request["path"])
    ffprobe = str(Path(ffmpeg_path()).with_name("ffprobe"))
    command = [ffprobe, "-v", "error", *FFMPEG_INPUT, "-show_format", "-show_streams"]
    done = subprocess.run(
        [*command, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        check=False,
        preexec_fn=die_with_parent,
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["no reason given"]
        return {
            "ok": False,
            "error": f"ffprobe (ffmpeg) could not read the video ({reason[0][-200:]})",
        }
    found = json.loads(done.stdout or "{}")
    return {
        "ok": True,
        "format": found.get("format") or {},
        "streams": found.get("streams") or [],
        "x264": x264_banner(path),
    }


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        answer = handle(request)
    except subprocess.TimeoutExpired:
        answer = {"ok": False, "error": f"ffprobe (ffmpeg) took longer than {PROBE_TIMEOUT:g}s"}
    except (OSError, ValueError) as exc:
        answer = {"ok": False, "error": f"the video cannot be read ({exc})"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
