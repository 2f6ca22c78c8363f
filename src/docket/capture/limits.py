"""The limits of one capture, in a module of their own so the command line can state them
without importing the browser, the WARC writer or the WACZ packager (every docket command
would pay for those at start-up)."""

from __future__ import annotations

MAX_BYTES = 512 * 1024 * 1024  # per capture: every body kept, the video, and the prints
TIMEOUT = 60.0  # seconds to wait for a page to load
