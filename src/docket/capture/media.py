"""Video and audio on a captured page, taken by yt-dlp in a sandboxed worker
(_media_worker.py): its own process, a memory limit, and at most MEDIA_TIMEOUT seconds in all,
after which it is stopped and the capture notes that the video was not taken."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docket.analyse.sandbox import AnalysisError, run_worker
from docket.capture.guard import Guard

MEDIA_TIMEOUT = 600.0


@dataclass(frozen=True)
class Download:
    url: str  # the media's own URL (a stream's manifest for HLS/DASH)
    path: Path


def take(
    page_url: str,
    folder: Path,
    guard: Guard,
    proxy: str | None,
    max_bytes: int,
    timeout: float,
) -> tuple[list[Download], list[str]]:
    """The page's video and audio, downloaded into `folder`; and notes of what was not."""
    request = {
        "page_url": page_url,
        "folder": str(folder),
        "allow_private_network": guard.allow_private_network,
        "proxy": proxy,
        "max_bytes": max_bytes,
        "timeout": timeout,
    }
    try:
        answer = run_worker("docket.capture._media_worker", request, MEDIA_TIMEOUT, folder)
    except AnalysisError as exc:
        return [], [f"video not taken: {exc} (yt-dlp)"]
    downloads = [Download(str(d["url"]), Path(d["path"])) for d in answer["downloads"]]
    inside = [d for d in downloads if d.path.resolve().is_relative_to(folder.resolve())]
    return inside, [str(note) for note in answer["notes"]]
