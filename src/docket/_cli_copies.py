"""Commands for copies of a locker (replicate, audit-copies, repair, restore): docket/copies/."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
