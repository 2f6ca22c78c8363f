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


# Line ends that JSON allows raw inside strings but JavaScript or str.splitlines split on.
_LINE_ENDS = {ord(end): f"\\u{ord(end):04x}" for end in "\u0085\u2028\u2029"}


def json_line(text: str) -> str:
    """One line of JSON Lines that every reader splits alike: the line ends above escaped
    (they occur only inside strings, so the value read back is the same)."""
    return text.translate(_LINE_ENDS)


def print_json_line(value: Any) -> None:
    click.echo(json_line(json.dumps(value, ensure_ascii=False)))
