"""HEIF pictures (an iPhone's HEIC photos) decoded through pillow-heif's libheif.

Registered only in the sandboxed workers that decode pictures (analysis, strip, redaction,
orientation): libheif parses untrusted files as every decoder does, so it runs where a crash
or a hang costs one file (sandbox.py). Pillow reads AVIF itself.
"""

from __future__ import annotations

import pillow_heif


def open_heif_in_pillow() -> None:
    """Let Image.open read HEIF: its primary picture only (neither the thumbnails, the depth
    map nor the auxiliary pictures a phone adds), on one thread (one worker runs per core)."""
    pillow_heif.register_heif_opener(
        decode_threads=1, thumbnails=False, depth_images=False, aux_images=False
    )
