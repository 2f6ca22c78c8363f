"""Files from a browser, streamed part by part from the request into a scratch folder in the
locker's own tmp/ (in memory for a vault, see docket.store.scratch): never the system
temporary folder, never whole in memory, and never
before the route has checked who is sending them (docket.web.security caps the body's size).
The scratch folder is removed when the request ends, however it ends; its name carries the
server's process ID first (tmp/<pid>-web-upload-<random>), so that opening the locker
removes what a killed server left and never what a live one uses.

Each file keeps the name the browser sent, as bytes: its last path component, NUL bytes
replaced by U+FFFD, and a name longer than a file name may be cut (its suffix kept). A name
repeated in one upload goes into a subfolder of its own. A full disk answers 507 and leaves
nothing behind.

The form's collection fields (source, note, URL of origin, time collected, method) go on
every acquisition of the upload (docket.ingest.collection checks them before anything is
stored); the collector is always the signed-in person, whose name the custody log records.

The upload is analysed where the locker's analysis runs: on PostgreSQL by `docket worker`
(the item's job commits with it, due at once; only the metadata is read before the answer),
on SQLite in-process, before the answer, as the CLI's ingest does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from docket.errors import DiskFullError, DocketError, is_disk_full
from docket.ingest import collection
from docket.ingest.run import IngestOptions
from docket.jobs.queue import has_queue
from docket.locker import Locker

MAX_FILES = 1000
MAX_FIELDS = 16
MAX_FIELD_BYTES = 4096
NAME_BYTES = 255
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "csrf": {"type": "string"},
                    },
                }
            }
        },
    }
}


# The form's collection fields, named as IngestOptions names them.
COLLECTION_FIELDS = ("source", "note", "url_of_origin", "collected_at", "method")
DEFAULT_NOTE = "uploaded in the browser"
# What the form offers: how the collector got the files, or plain "upload" (Docket sets the rest).
METHODS = tuple(m for m in collection.METHODS if m not in ("import", "capture"))


class UploadError(DocketError):
    """The upload's body is not the form the page sends."""


def with_collection(options: IngestOptions, fields: dict[str, str]) -> IngestOptions:
    """`options` with the upload's collection fields; blank ones are not given."""
    given = {name: fields.get(name, "").strip() or None for name in COLLECTION_FIELDS}
    if given["method"] not in (None, *METHODS):
        raise UploadError(f"method {given['method']!r} is not one of: {', '.join(METHODS)}")
    return replace(
        options,
        source=given["source"],
        note=given["note"] or DEFAULT_NOTE,
        url_of_origin=given["url_of_origin"],
        collected_at=given["collected_at"],
        method=given["method"] or "upload",
    )


def ingest_options(
    locker: Locker, collector: str, case: str, folder: Path, fields: dict[str, str]
) -> IngestOptions:
    """How an upload received into `folder` is ingested (see the module docstring)."""
    options = IngestOptions(
        collector=collector,
        case=case,
        relative_to=os.fsencode(folder),
        defer_analysis=has_queue(locker.engine),
    )
    return with_collection(options, fields)


@contextmanager
def scratch(locker: Locker, purpose: str) -> Iterator[Path]:
    """A private folder in the store's scratch (the locker's tmp/, or memory for a vault, whose
    uploads must not reach its disk in the clear), removed on leaving."""
    with locker.store.scratch(f"web-{purpose}") as folder:
        yield folder


def file_name(raw: bytes, number: int) -> bytes:
    """The name a browser sent, made into one file name (see the module docstring)."""
    name = raw.replace(b"\\", b"/").rsplit(b"/", 1)[-1].replace(b"\0", "\ufffd".encode())
    if name in (b"", b".", b".."):
        return f"upload-{number}".encode()
    if len(name) <= NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(b".")
    tail = dot + suffix if stem and len(suffix) <= 16 else b""
    head = name[: NAME_BYTES - len(tail)]
    for cut in range(4):  # do not leave half a UTF-8 character at the cut
        try:
            (head[: len(head) - cut]).decode()
        except UnicodeDecodeError:
            continue
        head = head[: len(head) - cut]
        break
    return head + tail


class _Parts:
    """The parser's callbacks: file parts into files, the few small fields into a dict."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fields: dict[str, str] = {}
        self.files = 0
        self.taken: set[bytes] = set()
        self.header = b""
        self.value = b""
        self.disposition = b""
        self.out: IO[bytes] | None = None
        self.field: bytearray | None = None
        self.field_name = ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        if self.header.lower() == b"content-disposition":
            self.disposition = self.value
        self.header, self.value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.disposition = b""
        if b"filename" not in options:
            if len(self.fields) >= MAX_FIELDS:
                raise UploadError(f"more than {MAX_FIELDS} form fields")
            self.field_name = options.get(b"name", b"").decode("utf-8", "replace")
            self.field = bytearray()
            return
        if self.files >= MAX_FILES:
            raise UploadError(f"more than {MAX_FILES} files in one upload")
        name = file_name(options[b"filename"], self.files)
        folder = os.fsencode(self.folder)
        if name in self.taken:
            folder = os.fsencode(tempfile.mkdtemp(prefix=f"{self.files}-", dir=self.folder))
        self.taken.add(name)
        self.files += 1
        self.out = open(os.path.join(folder, name), "xb")  # noqa: SIM115 (closed at part end)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is not None:
            self.out.write(data[start:end])
        elif self.field is not None:
            self.field += data[start:end]
            if len(self.field) > MAX_FIELD_BYTES:
                raise UploadError(f"a form field is over {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        elif self.field is not None:
            self.fields[self.field_name] = self.field.decode("utf-8", "replace")
            self.field = None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


async def receive(request: Request, folder: Path) -> dict[str, str]:
    """Stream the multipart body into `folder`; the form's other fields are returned."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise UploadError("send the files as multipart/form-data")
    parts = _Parts(folder)
    callbacks: Any = {
        name: getattr(parts, name)
        for name in (
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(options[b"boundary"], callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadError(f"the upload is not well-formed: {exc}") from exc
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFullError("the locker's disk is full: the upload was not kept") from exc
        raise
    finally:
        parts.close()
    if parts.files == 0:
        raise UploadError("choose at least one file to upload")
    return parts.fields
