"""Capture speed: pages per minute and MB/s of `capture()` against the local test site
(tests/web_site.py on 127.0.0.1), and the time from a URL to a verified item.

Run by hand: .venv/bin/python bench/capture.py [--pages 50] [--timeout 30]
The pages cycle through the site's mix: a gallery (four photographs, one lazily loaded, one
fetched at its srcset's full size, an MP4 taken by yt-dlp), an HLS stream, a redirect chain
to the gallery and a 404; each URL differs by its query, so every page is a capture of its
own while the photographs and video come back as held items. Each capture starts its own
Chromium (fresh profile), writes the WARC and WACZ, stores every part, records them and
analyses what is new. "URL to verified" is one capture into an empty locker followed by a
full `verify`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from web_site import make_site, serve

from docket.capture.run import CaptureOptions, capture
from docket.locker import Locker
from docket.verify import verify

MIX = ["/gallery.html", "/stream.html", "/redirect/1", "/no-such-page"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    options = CaptureOptions(collector="bench", allow_private_network=True, timeout=args.timeout)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        site = make_site(work / "site")
        with serve(site):
            Locker.create(work / "first").close()
            with Locker.open(work / "first") as locker:
                start = time.perf_counter()
                capture(locker, site.url("/gallery.html?first"), options)
                captured = time.perf_counter() - start
                report = verify(locker)
                verified = time.perf_counter() - start
            assert report.ok

            Locker.create(work / "locker").close()
            stored = parts = 0
            with Locker.open(work / "locker") as locker:
                start = time.perf_counter()
                for page in range(args.pages):
                    done = capture(locker, site.url(f"{MIX[page % len(MIX)]}?page={page}"), options)
                    stored += sum(part.size for part in done.parts)
                    parts += len(done.parts)
                took = time.perf_counter() - start
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores (shared), Chromium headless")
    print(f"URL to verified item: capture {captured:.1f} s, then verify: {verified:.1f} s total")
    print(
        f"{args.pages} pages in {took:.1f} s: {args.pages / took * 60:.1f} pages/min, "
        f"{parts} parts, {stored / 2**20:.1f} MB stored at {stored / 2**20 / took:.2f} MB/s"
    )


if __name__ == "__main__":
    main()
