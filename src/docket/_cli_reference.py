"""The CLI reference (docs/reference/cli.md), generated from the commands' own --help.

Regenerate with: .venv/bin/python -m docket._cli_reference > docs/reference/cli.md
A test fails when the file is stale.
"""

from __future__ import annotations

import click

from docket.cli import cli


def render() -> str:
    parts = [
        "# Command-line reference",
        "",
        "Generated from `docket --help`; do not edit by hand "
        "(`python -m docket._cli_reference > docs/reference/cli.md`).",
        "",
    ]
    context = click.Context(cli, info_name="docket")
    parts += ["```", cli.get_help(context), "```", ""]
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        assert command is not None
        sub = click.Context(command, info_name=f"docket {name}", parent=None)
        parts += [f"## docket {name}", "", "```", command.get_help(sub), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
