"""Commands for the team set-up: accounts and the web server."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click

from docket import access, accounts
from docket._cli_common import locker_option, open_locker, print_json
from docket.catalogue import queries
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
    password = _password(password_stdin)
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        accounts.create_user(conn, default_actor(), name, password, role)
    click.echo(f"created {role} {name}")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _operator() -> accounts.User:
    """Whoever runs the command line holds the locker itself: they act as an admin, under
    their own name in the custody log."""
    return accounts.User(0, default_actor(), "admin")


@user_group.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def user_ls(as_json: bool, locker_path: Path | None) -> None:
    """The accounts: name, role, state, created, last sign-in."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn:
        users = accounts.list_users(conn)
    if as_json:
        print_json(users)
        return
    if not users:
        click.echo("no accounts yet (make one: docket user add NAME)")
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        seen = u["last_sign_in"] or "never signed in"
        click.echo(f"{u['name']:<24} {u['role']:<7} {state:<9} {u['created']}  {seen}")


@user_group.command(name="disable")
@click.argument("name")
@locker_option
def user_disable(name: str, locker_path: Path | None) -> None:
    """Disable NAME: their sessions end and their API tokens are revoked at once."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        accounts.disable_user(conn, default_actor(), accounts.user_named(conn, name))
    click.echo(f"disabled {name}")


@user_group.command(name="enable")
@click.argument("name")
@locker_option
def user_enable(name: str, locker_path: Path | None) -> None:
    """Let a disabled NAME sign in again (revoked tokens stay revoked)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        accounts.enable_user(conn, default_actor(), accounts.user_named(conn, name))
    click.echo(f"enabled {name}")


@user_group.command(name="password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@locker_option
def user_password(name: str, password_stdin: bool, locker_path: Path | None) -> None:
    """Set a new password for NAME; their sessions end."""
    password = _password(password_stdin)
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        accounts.reset_password(conn, default_actor(), accounts.user_named(conn, name), password)
    click.echo(f"password of {name} changed")


@user_group.command(name="token")
@click.argument("name")
@click.option("--label", default="api", show_default=True, help="What the token is for.")
@click.option(
    "--expires",
    "days",
    type=click.IntRange(min=1),
    default=accounts.TOKEN_DAYS,
    show_default=True,
    help=f"Days until it expires (at most ${accounts.MAX_TOKEN_DAYS_ENV}, "
    f"default {accounts.MAX_TOKEN_DAYS}).",
)
@locker_option
def user_token(name: str, label: str, days: int, locker_path: Path | None) -> None:
    """Issue an API token for NAME (printed once; only its hash is kept)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        user = accounts.user_named(conn, name)
        issued = accounts.new_token(conn, user, label, days, actor=default_actor())
    click.echo(issued.secret)
    click.echo(f"token {issued.id} of {name}, expires {issued.expires}", err=True)


@user_group.command(name="tokens")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def user_tokens(name: str, as_json: bool, locker_path: Path | None) -> None:
    """The API tokens of NAME (never their secrets), newest first."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn:
        tokens = accounts.list_tokens(conn, accounts.user_named(conn, name))
    if as_json:
        print_json(tokens)
        return
    for t in tokens:
        used = t["last_used"] or "never used"
        click.echo(f"{t['id']:>5}  {t['state']:<7}  expires {t['expires']}  {used}  {t['label']}")


@user_group.command(name="revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@locker_option
def user_revoke(token_id: int, locker_path: Path | None) -> None:
    """Revoke API token TOKEN_ID (its number in `docket user tokens`)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        accounts.revoke_token(conn, default_actor(), token_id)
    click.echo(f"token {token_id} revoked")


@click.group(name="member")
def member_group() -> None:
    """Members of a case and their roles (owner, investigator, reviewer, viewer)."""


@member_group.command(name="ls")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def member_ls(case: str, as_json: bool, locker_path: Path | None) -> None:
    """The members of CASE and their roles."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn:
        members = access.list_members(conn, _operator(), queries.case_id_of(conn, case))
    if as_json:
        print_json(members)
        return
    if not members:
        click.echo(f"{case} has no members (add one: docket member add {case} NAME ROLE)")
    for m in members:
        click.echo(f"{m['name']:<24} {m['role']}{'  (disabled)' if m['disabled'] else ''}")


@member_group.command(name="add")
@click.argument("case")
@click.argument("name")
@click.argument("role", type=click.Choice(access.CASE_ROLES))
@locker_option
def member_add(case: str, name: str, role: str, locker_path: Path | None) -> None:
    """Add NAME to CASE as ROLE."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        case_id, member = queries.case_id_of(conn, case), accounts.user_named(conn, name)
        access.add_member(conn, _operator(), case_id, member, role)
    click.echo(f"{name} is {role} of {case}")


@member_group.command(name="role")
@click.argument("case")
@click.argument("name")
@click.argument("role", type=click.Choice(access.CASE_ROLES))
@locker_option
def member_role(case: str, name: str, role: str, locker_path: Path | None) -> None:
    """Make NAME's role in CASE ROLE (the last owner is never demoted)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        case_id, member = queries.case_id_of(conn, case), accounts.user_named(conn, name)
        access.change_member_role(conn, _operator(), case_id, member, role)
    click.echo(f"{name} is {role} of {case}")


@member_group.command(name="remove")
@click.argument("case")
@click.argument("name")
@locker_option
def member_remove(case: str, name: str, locker_path: Path | None) -> None:
    """Remove NAME from CASE (never its last owner)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        case_id, member = queries.case_id_of(conn, case), accounts.user_named(conn, name)
        access.remove_member(conn, _operator(), case_id, member)
    click.echo(f"{name} removed from {case}")


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
@click.option(
    "--replay-same-origin",
    is_flag=True,
    help="Offer replay of captured pages (ReplayWeb.page). Off by default: a replayed page "
    "runs in the web app's own origin, so a hostile capture that escapes ReplayWeb.page's "
    "rewriting could act as the reviewer. Turn on only for captures of pages you trust.",
)
@locker_option
def serve_command(
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    max_upload: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    replay_same_origin: bool,
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
        app = create_app(
            locker,
            max_upload,
            allowed_hosts=allowed_hosts or LOOPBACK_NAMES,
            replay_same_origin=replay_same_origin,
        )
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
