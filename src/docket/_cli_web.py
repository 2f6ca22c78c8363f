"""Commands for the team set-up: accounts and the web server."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click

from docket import accounts
from docket._cli_common import locker_option, open_locker
from docket.errors import DocketError
from docket.locker import default_actor
from docket.web import DEFAULT_MAX_UPLOAD


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


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="A host name the app answers to (repeatable; default: the loopback names). "
    "Requests for any other Host are refused.",
)
@click.option(
    "--max-upload",
    type=click.IntRange(min=1),
    envvar="DOCKET_MAX_UPLOAD_BYTES",
    default=DEFAULT_MAX_UPLOAD,
    show_default=True,
    help="Largest upload body in bytes ($DOCKET_MAX_UPLOAD_BYTES).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this certificate (a reverse proxy usually holds it instead).",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The certificate's private key.",
)
@locker_option
def serve_command(
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    max_upload: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    locker_path: Path | None,
) -> None:
    """Run the web app on this locker (loopback only unless --host says otherwise).

    For a team, keep it on loopback behind a reverse proxy that holds the TLS certificate
    (docs/how-to/serve-a-team.md) and name the proxy's host with --allowed-host."""
    import uvicorn

    from docket.web.app import create_app

    if not _loopback(host) and ssl_certfile is None:
        click.echo(
            f"WARNING: listening on {host}, beyond this machine, without TLS: passwords, "
            "session cookies and evidence would cross the network readable by anyone on it. "
            "Put a reverse proxy with TLS in front (docs/how-to/serve-a-team.md) or give "
            "--ssl-certfile and --ssl-keyfile.",
            err=True,
        )
    with open_locker(locker_path) as locker:
        app = create_app(locker, max_upload, allowed_hosts=allowed_hosts or LOOPBACK_NAMES)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
