"""CLI commands for capture; registered in cli.py through COMMANDS."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
