"""One long-running ExifTool process (`-stay_open`), with a timeout and a memory cap.

The record is ExifTool's values before print conversion (what `-n` gives: numbers for GPS,
durations, sizes), except for identifiers, which keep ExifTool's printed string: a Canon body
serial is the integer 560018150 to `-n` but `0560018150` to the camera's owner. Both forms
come from one read (`-l`), so nothing is parsed twice.

Hand-written rather than pyexiftool because evidence parsing needs what that wrapper lacks:
a deadline on every file (a crafted file must not hang a batch), a restart after a timeout
or crash, and a resource limit on the child.

The last record read is kept: an item's steps run one after another on one thread's ExifTool
(the metadata step, then metadata-signals), so the file is parsed once for both.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from docket.analyse.sandbox import die_with_parent
from docket.errors import MetadataError
from docket.store.scratch import environment

READY = b"{ready}\n"
DEFAULT_TIMEOUT = 30.0
MEMORY_LIMIT = 2 << 30
ARGS = ["-json", "-l", "-G1", "-a", "-u", "-api", "LargeFileSupport=1", "--System:all"]
# Tags whose printed value is the identifier (serial numbers, unique IDs, the lens ExifTool
# names from a maker's code), by tag name.
IDENTIFIER = re.compile(r"Serial|UniqueID|OwnerName|CameraID|LensID", re.IGNORECASE)


def _value(name: str, tag: Any) -> Any:
    """One tag of `-l` output as the record holds it (see the module docstring)."""
    if not isinstance(tag, dict) or "val" not in tag:
        return tag
    if "num" in tag and not IDENTIFIER.search(name.rsplit(":", 1)[-1]):
        return tag["num"]
    return tag["val"]


def _identity(path: Path) -> tuple[str, int, int, int, int] | None:
    """What tells one state of a file from another: its name, inode, size and change times
    (None when it cannot be read: ExifTool then says why)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (str(path), found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _limit_child() -> None:
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class ExifTool:
    def __init__(
        self, scratch: Path, executable: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """`scratch`: where ExifTool may write temporary files (its TMPDIR), in the locker."""
        found = executable or shutil.which("exiftool")
        if found is None:
            raise MetadataError(
                "exiftool is not installed (Debian: apt install libimage-exiftool-perl)"
            )
        self.executable = found
        self.timeout = timeout
        self.env = environment(scratch)
        self._process: subprocess.Popen[bytes] | None = None
        self._last: tuple[tuple[str, int, int, int, int], dict[str, Any]] | None = None
        self.version = self._version()

    def _version(self) -> str:
        """ExifTool's version; a MetadataError (the step fails, the batch goes on) when it
        does not answer in time, as a stalled machine made it once in CI."""
        try:
            done = subprocess.run(
                [self.executable, "-ver"], capture_output=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise MetadataError(
                f"{self.executable} -ver did not answer within {self.timeout:g} s"
            ) from exc
        return done.stdout.decode().strip()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [self.executable, "-stay_open", "True", "-@", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                preexec_fn=_limit_child,
                env=self.env,
            )
        return self._process

    def read(self, path: Path) -> dict[str, Any]:
        """ExifTool's JSON for one file (a copy of the last read when the same file, unchanged,
        is read again); raises MetadataError on timeout, crash or bad output."""
        if "\n" in str(path):
            raise MetadataError(f"{path}: cannot pass a name holding a newline to exiftool")
        key = _identity(path)
        if key is not None and self._last is not None and self._last[0] == key:
            return dict(self._last[1])
        record = self._parse(path)
        self._last = None if key is None else (key, record)
        return dict(record)

    def _parse(self, path: Path) -> dict[str, Any]:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        command = "\n".join([*ARGS, str(path), "-execute", ""])
        try:
            process.stdin.write(command.encode())
            process.stdin.flush()
        except BrokenPipeError as exc:
            self.close()
            raise MetadataError("exiftool stopped unexpectedly") from exc
        output = self._read_until_ready(process)
        try:
            parsed = json.loads(output.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise MetadataError(f"exiftool gave output that is not JSON ({exc})") from exc
        if not isinstance(parsed, list) or len(parsed) != 1 or not isinstance(parsed[0], dict):
            raise MetadataError("exiftool gave no record for the file")
        record = {name: _value(name, tag) for name, tag in parsed[0].items()}
        record.pop("SourceFile", None)
        return record

    def _read_until_ready(self, process: subprocess.Popen[bytes]) -> bytes:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        buffer = bytearray()
        deadline = time.monotonic() + self.timeout
        while not buffer.endswith(READY):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise MetadataError(f"exiftool took longer than {self.timeout:g}s and was stopped")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.kill()
                    raise MetadataError("exiftool stopped unexpectedly")
                buffer += chunk
        return bytes(buffer[: -len(READY)])

    def kill(self) -> None:
        """Stop a hung or dead child at once; the next read starts a fresh one."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(b"-stay_open\nFalse\n")
                process.stdin.flush()
                process.wait(timeout=2)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
