"""The sandboxed yt-dlp run of a capture: reads one JSON request on stdin, answers one line.

Started by media.take in its own process, with a memory limit and a deadline (yt-dlp parses
what the site sends: player pages, manifests). yt-dlp knows the players of many sites, and its
generic extractor finds HTML5 <video> and <audio> sources and HLS or DASH streams on any other
page. Every URL it chose is put to the guard before anything is downloaded, the capture's proxy
is yt-dlp's proxy and its only way out (no proxy variables, no ffmpeg, only the protocols of its
own HTTP client: PROTOCOLS), each file is capped at what is left of the capture's size cap,
and nothing is post-processed (no remux, no fixup): a direct file's bytes are the bytes the
server sent.
Like the browser, it accepts any certificate (the WARC records whether the browser trusted
it). yt-dlp never prints here; the worker never touches the locker, only its folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yt_dlp

from docket.capture.guard import Guard

MAX_ENTRIES = 20
# How yt-dlp may fetch: its own HTTP client, which goes through the capture's proxy. Never
# ffmpeg (yt-dlp hands it encrypted HLS): ffmpeg opens its own connections, to whatever a
# playlist names (httpproxy://127.0.0.1:...), past the proxy and the guard.
PROTOCOLS = frozenset({"http", "https", "m3u8_native", "http_dash_segments"})
NO_FFMPEG = "/nonexistent/ffmpeg"
# Variables by which a client would go around the capture's proxy (no_proxy=169.254.169.254,
# as containers often set) or through another: removed before yt-dlp starts.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")


class _Silent:
    """yt-dlp's logger: its messages are collected, never printed."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, message: str) -> None: ...

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def error(self, message: str) -> None:
        self.errors.append(message)


def _urls(info: dict[str, Any]) -> list[str]:
    urls = [str(info["url"])] if info.get("url") else []
    for requested in info.get("requested_formats") or []:
        if requested.get("url"):
            urls.append(str(requested["url"]))
    return urls


def _protocols(info: dict[str, Any]) -> list[str]:
    chosen = info.get("requested_formats") or [info]
    return [str(f.get("protocol") or "http") for f in chosen]


def _remote_names(proxy: str | None) -> str:
    """yt-dlp resolves names itself through socks5:// (a DNS leak past Tor); socks5h://
    leaves it to the proxy, as Chromium does (guard.proxy_for_browser refused the rest)."""
    if not proxy:
        return ""
    scheme, sep, rest = proxy.partition("://")
    return f"{'socks5h' if scheme.lower() == 'socks5' else scheme}{sep}{rest}"


def download(
    page_url: str,
    folder: Path,
    guard: Guard,
    proxy: str | None,
    max_bytes: int,
    timeout: float,
) -> tuple[list[dict[str, str]], list[str]]:
    """The page's video and audio downloaded into `folder` ({url, path}), and notes of what
    was not."""
    logger = _Silent()
    options: dict[str, Any] = {
        "logger": logger,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "proxy": _remote_names(proxy),
        "socket_timeout": timeout,
        "max_filesize": max_bytes,
        "format": "best/bestvideo/bestaudio",
        "fixup": "never",
        "ffmpeg_location": NO_FFMPEG,
        "hls_prefer_native": True,  # segments appended as sent; ffmpeg would remux them
        "nocheckcertificate": True,  # as the browser: a broken certificate is recorded, not fatal
        "postprocessors": [],
        "cachedir": False,
        "playlistend": MAX_ENTRIES,
        "paths": {"home": str(folder), "temp": str(folder)},
        "outtmpl": "%(autonumber)03d.%(ext)s",
        "restrictfilenames": True,
        "overwrites": True,
        "retries": 2,
        "fragment_retries": 2,
        # A stream missing a segment (refused, or gone) is not the stream as it was sent.
        "skip_unavailable_fragments": False,
    }
    notes: list[str] = []
    found: list[dict[str, str]] = []
    with yt_dlp.YoutubeDL(options) as ydl:
        try:
            info = ydl.extract_info(page_url, download=False)
        except Exception as exc:  # yt-dlp parses what the site sends: any failure is a note
            return [], [f"no video taken by yt-dlp: {(str(exc).splitlines() or ['?'])[0]}"]
        entries = info.get("entries") if info.get("_type") == "playlist" else [info]
        for entry in list(entries or [])[:MAX_ENTRIES]:
            if not entry:
                continue
            refused = [url for url in _urls(entry) if not guard.allows(url)]
            if refused:
                notes.append(f"{refused[0][:200]}: not downloaded: refused by the guard")
                continue
            other = sorted(set(_protocols(entry)) - PROTOCOLS)
            if other:
                where = entry.get("webpage_url", page_url)
                notes.append(
                    f"{where}: video not downloaded: it needs {', '.join(other)}, which would "
                    "fetch past the capture's proxy"
                )
                continue
            try:
                done = ydl.process_ie_result(entry, download=True)
            except Exception:  # as above: the site's answer failed yt-dlp, not the capture
                notes.append(f"{entry.get('webpage_url', page_url)}: video not downloaded")
                continue
            url = str(done.get("manifest_url") or done.get("url") or page_url)
            files = [
                Path(d["filepath"])
                for d in done.get("requested_downloads") or []
                if "filepath" in d
            ]
            kept = [path for path in files if path.exists()]
            if not kept:
                notes.append(
                    f"{url[:200]}: video not downloaded: no file came back (over the "
                    f"{max_bytes} bytes left of the capture's size cap, or it failed)"
                )
            found += [{"url": url, "path": str(path)} for path in kept]
    notes.extend(f"yt-dlp: {message}" for message in logger.errors)
    return found, notes


def main() -> None:
    for name in list(os.environ):
        if name.lower() in PROXY_VARIABLES:
            del os.environ[name]
    request = json.loads(sys.stdin.read())
    guard = Guard(bool(request["allow_private_network"]), proxied=bool(request["proxy"]))
    found, notes = download(
        request["page_url"],
        Path(request["folder"]),
        guard,
        request["proxy"],
        int(request["max_bytes"]),
        float(request["timeout"]),
    )
    sys.stdout.write(json.dumps({"ok": True, "downloads": found, "notes": notes}) + "\n")


if __name__ == "__main__":
    main()
