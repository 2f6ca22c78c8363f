"""The command line's top-level commands: each module's commands are all reachable, and
starting one command does not import every other command's modules."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click

import docket
from docket.cli import ELSEWHERE, cli


def _command_modules() -> list[str]:
    return sorted(
        f"docket.{info.name}"
        for info in pkgutil.iter_modules(docket.__path__)
        if info.name.startswith("_cli_") and info.name != "_cli_reference"
    )


def test_every_command_of_the_cli_modules_is_registered_once() -> None:
    commands: dict[str, click.Command] = {}
    for name in _command_modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            callback = getattr(value, "callback", None)
            if isinstance(value, click.Command) and getattr(callback, "__module__", "") == name:
                commands[f"{name}:{attribute}"] = value  # defined here, not imported
    nested = {
        id(sub)
        for group in commands.values()
        if isinstance(group, click.Group)
        for sub in group.commands.values()
    }
    top_level = {where for where, command in commands.items() if id(command) not in nested}
    assert top_level == set(ELSEWHERE.values())
    context = click.Context(cli)
    for name, where in ELSEWHERE.items():
        command = cli.get_command(context, name)
        assert command is commands[where]
        assert command.name == name
    assert len(set(cli.list_commands(context))) == len(cli.list_commands(context))


def test_starting_the_cli_imports_no_other_command_s_modules() -> None:
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import docket.cli; print('\\n'.join(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "docket.ingest.run" in shown  # the check sees what the CLI module imports
    for heavy in (
        "docket.disclose.package",
        "docket.jobs.export",
        "docket.web",
        "docket.copies.audit",
        "docket.review",
        "docket._cli_jobs",
        "sqlalchemy.orm",
    ):
        assert heavy not in shown
