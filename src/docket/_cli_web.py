"""Commands for the team set-up: accounts and the web server."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from docket import accounts
from docket._cli_common import locker_option, open_locker
from docket.errors import DocketError
from docket.locker import default_actor


@click.group(name="user")
def user_group() -> None:
    """Accounts for the web app."""


@user_group.command(name="add")
@click.argument("name")
@click.option("--role", type=click.Choice(accounts.ROLES), default="member", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@locker_option
def user_add(name: str, role: str, password_stdin: bool, locker_path: Path | None) -> None:
    """Create an account (the password is hashed with Argon2id)."""
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else click.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        accounts.create_user(conn, default_actor(), name, password, role)
    click.echo(f"created {role} {name}")


@user_group.command(name="token")
@click.argument("name")
@locker_option
def user_token(name: str, locker_path: Path | None) -> None:
    """Issue an API token for NAME (shown once; replaces the previous one)."""
    from sqlalchemy import select

    from docket.catalogue import schema

    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
        if row is None:
            raise DocketError(f"user {name!r}: no such user")
        token = accounts.issue_token(conn, accounts.User(int(row.id), name, str(row.role)))
    click.echo(token)


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@locker_option
def serve_command(host: str, port: int, locker_path: Path | None) -> None:
    """Run the web app on this locker (loopback only unless --host says otherwise)."""
    import uvicorn

    from docket.web.app import create_app

    with open_locker(locker_path) as locker:
        uvicorn.run(create_app(locker), host=host, port=port, log_level="warning")
