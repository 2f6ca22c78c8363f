"""One capture: a page loaded, archived, its media taken, and all of it recorded as evidence.

The stages run top to bottom: guard the URL; load the page in the browser, writing every
exchange to the WARC as it is handed over; add the screenshot, the print and the text; package
the WACZ, signed by the locker's WACZ key (capture/wacz_signing.py); download the page's
video; store every part (WACZ, screenshot PNG, PDF print, each image and video) in the store,
each made durable before anything is recorded; then, in ONE transaction, one acquisition per
part (method `capture`, the URL asked as its original path, the page's or the media's own URL
as its URL of origin, the capture time as when it was collected, tied together by the WACZ's
SHA-256 as their container and the part's URL or name inside it) and one `capture.made` event
with the URL asked, the final URL, the HTTP status, the time, the browser and tool versions,
the user agent and the WACZ key's `publicKey`; then the parts are analysed like any ingested
file and a checkpoint is signed. A capture killed before that transaction commits records
nothing (its blobs are unreferenced and its scratch folder is removed by the next open);
after it, all of it stands. Parts are recorded through `record_arrival`, as `docket ingest`
records files: the same bytes twice are one item with two acquisitions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from docket import __version__, clock, mediatype
from docket.analyse.batch import analyse
from docket.capture import media, wacz, wacz_signing
from docket.capture.browser import Exchange, Settings, load
from docket.capture.egress import egress_for
from docket.capture.guard import Guard, proxy_for_browser
from docket.capture.limits import MAX_BYTES, TIMEOUT
from docket.capture.profiles import bind, one_spelling, opened
from docket.capture.warc import WarcFile, warc_date
from docket.catalogue.records import Arrival, record_arrival
from docket.custody import log
from docket.custody.ledger import StoredCheckpoint, make_checkpoint
from docket.locker import Locker

METHOD = "capture"
_MEDIA_TYPES = ("image/", "video/", "audio/")
MEDIA_KINDS = ("image", "video")  # parts named by their own URL


@dataclass(frozen=True)
class CaptureOptions:
    collector: str
    case: str | None = None
    source: str | None = None
    note: str | None = None
    proxy: str | None = None
    timeout: float = TIMEOUT
    allow_private_network: bool = False
    max_bytes: int = MAX_BYTES
    profile: str | None = None  # a browser profile kept in the locker (capture/profiles.py)
    # The digest of the queued request this capture answers (docket.jobs.capture), recorded in
    # its `capture.made` event so that a retried job finds it; None for a capture asked at once.
    request: str | None = None


@dataclass(frozen=True)
class Part:
    """One stored part of a capture; `name` is its URL (media) or its name in the capture."""

    kind: str  # wacz, screenshot, print, image, video
    name: str
    sha256: str
    media_type: str
    size: int
    new: bool
    event: int


@dataclass(frozen=True)
class Capture:
    url: str
    final_url: str
    status: int
    captured_at: str
    timed_out: bool
    parts: list[Part]
    notes: list[str]
    event: int
    checkpoint: StoredCheckpoint | None = None

    @property
    def wacz(self) -> Part:
        return self.parts[0]

    def summary(self) -> dict[str, object]:
        """What the CLI's --json and the web app's JSON answer say of a capture."""
        return {
            "url": self.url,
            "final_url": self.final_url,
            "status": self.status,
            "captured_at": self.captured_at,
            "timed_out": self.timed_out,
            "event": self.event,
            "parts": [
                {
                    "kind": part.kind,
                    "name": part.name,
                    "sha256": part.sha256,
                    "media_type": part.media_type,
                    "size": part.size,
                    "new": part.new,
                }
                for part in self.parts
            ],
            "notes": self.notes,
        }


@dataclass
class _Staged:
    """Files of a capture in its scratch folder, in the order they will be recorded."""

    folder: Path
    files: list[tuple[str, str, Path]] = field(default_factory=list)  # kind, name, path
    media: dict[str, Path] = field(default_factory=dict)  # URL -> body kept

    def keep_media(self, exchange: Exchange) -> None:
        kind = dict((k.lower(), v) for k, v in exchange.response_headers).get("content-type", "")
        wanted = exchange.status == 200 and kind.startswith(_MEDIA_TYPES)
        if wanted and exchange.body and exchange.url not in self.media:
            path = self.folder / f"media-{len(self.media):04d}"
            path.write_bytes(exchange.body)
            self.media[exchange.url] = path


def _tools() -> dict[str, str]:
    found = {name: version(name) for name in ("playwright", "warcio", "wacz", "yt-dlp")}
    return {"docket": __version__} | found


def capture(
    locker: Locker,
    url: str,
    options: CaptureOptions,
) -> Capture:
    """Capture `url` into the locker (see the module docstring)."""
    locker.require_signing_key()
    guard = Guard(options.allow_private_network, proxied=options.proxy is not None)
    guard.check(url)
    if options.proxy is not None:
        proxy_for_browser(options.proxy)  # refused before anything is loaded
    if options.profile is not None:  # a profile holds its case's sessions: never another's
        one_spelling(locker, options.profile)
        with locker.engine.connect() as conn, conn.begin():
            bind(conn, options.collector, options.profile, options.case)
    wacz_key = wacz_signing.locker_key(locker.path, locker.vault_key)
    tools = _tools()
    software = ", ".join(f"{name} {number}" for name, number in tools.items())
    with locker.store.scratch("capture") as work, egress_for(guard) as egress:
        staged = _Staged(work)
        started = time.time()
        info = {"software": software, "format": "WARC File Format 1.1", "isPartOf": url}
        with WarcFile(work / "capture.warc.gz", info) as warc:

            def sink(exchange: Exchange) -> None:
                warc.exchange(exchange)
                staged.keep_media(exchange)

            with opened(locker, options.profile) as kept:  # held, and sealed back in a vault
                settings = Settings(options.timeout, options.max_bytes, options.proxy, kept, egress)
                loaded = load(url, work, guard, settings, sink)
            facts = {
                "url": url,
                "final_url": loaded.final_url,
                "status": loaded.status,
                "captured_at": clock.from_timestamp(started),
                "timed_out": loaded.timed_out,
                "tls": loaded.tls,
                "browser": f"Chromium {loaded.browser_version}",
                "user_agent": loaded.user_agent,
                "tools": tools,
                "proxy": options.proxy is not None,
                "profile": options.profile,
                "wacz_public_key": wacz_key.public,
                "title": loaded.title,
            }
            page = loaded.final_url
            warc.resource(f"urn:view:{page}", "image/png", loaded.screenshot, started)
            warc.resource(f"urn:pdf:{page}", "application/pdf", loaded.pdf, started)
            text = loaded.text.encode()
            warc.resource(f"urn:text:{page}", "text/plain; charset=utf-8", text, started)
            about = facts | {"links": loaded.links, "notes": loaded.notes}
            warc.metadata(f"urn:capture:{url}", about, warc_date(started))
        package = wacz.package(
            warc.path, work / "capture.wacz", page, loaded.title, loaded.text, started, wacz_key
        )
        staged.files.append(("wacz", "capture.wacz", package))
        (work / "screenshot.png").write_bytes(loaded.screenshot)
        staged.files.append(("screenshot", "screenshot.png", work / "screenshot.png"))
        (work / "print.pdf").write_bytes(loaded.pdf)
        staged.files.append(("print", "print.pdf", work / "print.pdf"))
        staged.files += [
            ("image", image, staged.media[image])
            for image in loaded.images
            if image in staged.media
        ]
        notes = list(loaded.notes)
        room = options.max_bytes - loaded.bytes_kept
        if loaded.videos and room <= 0:
            notes.append("video not downloaded: the capture's size cap was reached")
        elif loaded.videos:
            videos = work / "video"
            videos.mkdir()
            way_out = egress.url if egress is not None else options.proxy
            downloads, more = media.take(page, videos, guard, way_out, room, options.timeout)
            notes += more
            staged.files += [("video", download.url, download.path) for download in downloads]
        parts, event = _record(locker, options, staged, facts | {"notes": notes})
    summary = analyse(locker, [part.sha256 for part in parts], options.collector)
    checkpoint = summary.checkpoint
    if checkpoint is None:
        with locker.engine.connect() as conn, conn.begin():
            checkpoint = make_checkpoint(conn, locker.signing_key, locker.origin, options.collector)
    assert loaded.status is not None  # load() raises when no page arrived
    return Capture(
        url=url,
        final_url=page,
        status=loaded.status,
        captured_at=str(facts["captured_at"]),
        timed_out=loaded.timed_out,
        parts=parts,
        notes=notes,
        event=event,
        checkpoint=checkpoint,
    )


def _record(
    locker: Locker, options: CaptureOptions, staged: _Staged, facts: dict[str, object]
) -> tuple[list[Part], int]:
    """Store every part durably, then record them all and the capture in one transaction."""
    url = str(facts["url"])
    blobs = []
    for kind, name, path in staged.files:
        with path.open("rb") as stream:
            blobs.append((kind, name, locker.store.put(stream, label=f"{url} ({name})")))
    container = blobs[0][2].digest.sha256
    parts: list[Part] = []
    with locker.engine.connect() as conn, conn.begin():
        for kind, name, blob in blobs:
            media_type = mediatype.sniff(blob.head)
            inside = kind != "wacz"
            arrival = Arrival(
                collector=options.collector,
                method=METHOD,
                original_path_raw=url.encode(),
                source=options.source,
                note=options.note,
                case=options.case,
                container_sha256=container if inside else None,
                path_in_container_raw=name.encode() if inside else None,
                url_of_origin=name if kind in MEDIA_KINDS else str(facts["final_url"]),
                collected_at=str(facts["captured_at"]),
            )
            new, arrived = record_arrival(conn, blob.digest, media_type, arrival)
            digest = blob.digest
            parts.append(Part(kind, name, digest.sha256, media_type, digest.size, new, arrived.seq))
        details = facts | {
            "case": options.case,
            "parts": [{"kind": p.kind, "name": p.name, "sha256": p.sha256} for p in parts],
        }
        if options.request is not None:
            details["request"] = options.request
        event = log.append(conn, options.collector, "capture.made", details=details)
    return parts, event.seq
