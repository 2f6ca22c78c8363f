"""Running media parsers at arm's length: a worker subprocess for pictures, and ffmpeg, each
with a memory limit and a deadline. A crash or hang costs one file's analysis, never the batch.
Each is given a scratch folder in the locker's tmp/ as its TMPDIR, so nothing it writes for
itself lands in the system's temporary folder.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from docket.errors import DocketError
from docket.store import scratch

MEMORY_LIMIT = 3 << 30
PICTURE_TIMEOUT = 60.0
FFMPEG_TIMEOUT = 600.0
# Demuxers for camera and phone video only: no playlists (hls, concat), no image sequences,
# and only the file protocol, so a crafted file can neither read other files nor call out.
VIDEO_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,asf,ogg,h264,hevc"
FFMPEG_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", VIDEO_FORMATS]


class AnalysisError(DocketError):
    """A step could not analyse an item (bad file, timeout, crash); the item stays held."""


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: be killed when the thread that started us ends (Linux), so a
    crashed or SIGKILLed docket never leaves a parser behind (ExifTool -stay_open would wait
    on its closed stdin for ever)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died between fork and prctl: no signal will come
        os._exit(1)


# One thread per worker: Docket runs one worker per core, so a library's own pool (OpenBLAS,
# which numpy loads, starts one thread per core) would only oversubscribe the cores.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def worker_environment(tmp: Path) -> dict[str, str]:
    """A Python worker's environment: its temporary files in `tmp`, one compute thread."""
    return {**scratch.environment(tmp), **ONE_THREAD}


def _limit_memory() -> None:
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class ImageWorker:
    """One long-lived worker process; not thread-safe (give each thread its own)."""

    def __init__(self, tmp: Path, timeout: float = PICTURE_TIMEOUT) -> None:
        self.tmp = tmp
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "docket.analyse._worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                preexec_fn=_limit_memory,
                env=worker_environment(self.tmp),
            )
        return self._process

    def describe(self, path: Path, out: Path | None, hashes: bool) -> dict[str, Any]:
        request = {"path": str(path), "out": None if out is None else str(out), "hashes": hashes}
        return self.ask(request)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request to the worker (see _worker.handle); its answer, or AnalysisError."""
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write((json.dumps(request) + "\n").encode())
            process.stdin.flush()
        except BrokenPipeError as exc:
            self.kill()
            raise AnalysisError("the picture worker stopped unexpectedly") from exc
        line = self._read_line(process)
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise AnalysisError(str(answer["error"]))
        return answer

    def _read_line(self, process: subprocess.Popen[bytes]) -> bytes:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        buffer = bytearray()
        deadline = time.monotonic() + self.timeout
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise AnalysisError(f"decoding took longer than {self.timeout:g}s and was stopped")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.kill()
                    raise AnalysisError("the picture decoder crashed on this file")
                buffer += chunk
        return bytes(buffer)

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    close = kill


def ffmpeg_path() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise AnalysisError("ffmpeg is not installed (Debian: apt install ffmpeg)")
    return found


def ffmpeg_version() -> str:
    done = subprocess.run(
        [ffmpeg_path(), "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = done.stdout.splitlines()[0] if done.stdout else "ffmpeg"
    return first.split(" Copyright")[0]


def run_ffmpeg(
    blob: Path, output_args: list[str], tmp: Path, timeout: float = FFMPEG_TIMEOUT
) -> str:
    """Run ffmpeg on one stored video, with its temporary files in `tmp`; returns what it
    logged. Raises AnalysisError on failure."""
    command = [
        ffmpeg_path(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "info",
        *FFMPEG_INPUT,
        "-i",
        str(blob),
        *output_args,
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            check=False,
            preexec_fn=_limit_memory,
            env=scratch.environment(tmp),
        )
    except subprocess.TimeoutExpired as exc:
        raise AnalysisError(f"ffmpeg took longer than {timeout:g}s and was stopped") from exc
    log = done.stderr.decode("utf-8", errors="replace")
    if done.returncode != 0:
        reason = [line for line in log.splitlines() if line.strip()][-1:] or ["no reason given"]
        raise AnalysisError(f"ffmpeg could not read the video ({reason[0].strip()})")
    return log


def run_worker(module: str, request: dict[str, Any], timeout: float, tmp: Path) -> dict[str, Any]:
    """Run a one-shot worker module with a memory limit, a deadline and its temporary files
    (and those of the processes it starts) in `tmp`; its JSON answer."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", module],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
            preexec_fn=_limit_memory,
            env=worker_environment(tmp),
        )
    except subprocess.TimeoutExpired as exc:
        raise AnalysisError(f"took longer than {timeout:g}s and was stopped") from exc
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AnalysisError("the worker crashed on this file")
    answer: dict[str, Any] = json.loads(lines[-1])
    if not answer.pop("ok"):
        raise AnalysisError(str(answer["error"]))
    return answer
