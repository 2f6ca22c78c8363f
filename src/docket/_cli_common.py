"""What every command-line module shares: the --locker option and output helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from docket.locker import Locker, default_path

locker_option = click.option(
    "--locker",
    "locker_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Locker folder (default: $DOCKET_LOCKER, else ./locker).",
)


def open_locker(locker_path: Path | None) -> Locker:
    return Locker.open(locker_path or default_path())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
