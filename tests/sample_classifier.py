"""A stand-in for a deployment's classifier model, for the hook's test: it calls every
picture graphic and has no opinion on anything else."""

from __future__ import annotations

from pathlib import Path


def everything_graphic(path: Path, media_type: str) -> str | None:
    return "graphic" if media_type.startswith("image/") and path.is_file() else None
