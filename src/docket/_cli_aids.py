"""CLI commands for aids; registered in cli.py through COMMANDS."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
