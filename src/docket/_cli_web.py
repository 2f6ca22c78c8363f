"""Commands for the team set-up: accounts and the web server."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from docket import access, accounts
from docket._cli_common import locker_option, open_locker, print_json
from docket.catalogue import queries
from docket.locker import Locker, default_actor, default_path
from docket.web import DEFAULT_MAX_UPLOAD, DEFAULT_THREADS

if TYPE_CHECKING:
    from fastapi import FastAPI


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
    "--replay-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the replay origin, where captured pages replay apart from the app "
    "(default: --port + 1).",
)
@click.option(
    "--replay-origin",
    default=None,
    help="The replay origin as browsers reach it (scheme://host:port), when a reverse proxy "
    "stands in front; default: this --host and --replay-port.",
)
@click.option("--no-replay", is_flag=True, help="Offer no replay of captured pages.")
@click.option(
    "--workers",
    "worker_count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes answering requests on the one port: one per core. Each opens the locker "
    "itself; sign-ins, sessions and throttles hold across them.",
)
@click.option(
    "--threads",
    "thread_count",
    type=click.IntRange(min=1),
    default=DEFAULT_THREADS,
    show_default=True,
    help="Requests each process works on at once; more wait their turn. More threads than "
    "cores make each request dearer (the processes' threads contend for the interpreter "
    "and the database): add processes with --workers instead.",
)
@locker_option
def serve_command(
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    max_upload: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    replay_port: int | None,
    replay_origin: str | None,
    no_replay: bool,
    worker_count: int,
    thread_count: int,
    locker_path: Path | None,
) -> None:
    """Run the web app on this locker (loopback only unless --host says otherwise).

    For a team, keep it on loopback behind a reverse proxy that holds the TLS certificate
    (docs/how-to/serve-a-team.md) and name the proxy's host with --allowed-host."""
    import uvicorn

    from docket.web import workers
    from docket.web.app import create_app
    from docket.web.replay_origin import create_replay_app

    if not _loopback(host) and ssl_certfile is None:
        click.echo(
            f"WARNING: listening on {host}, beyond this machine, without TLS: passwords, "
            "session cookies and evidence would cross the network readable by anyone on it. "
            "Put a reverse proxy with TLS in front (docs/how-to/serve-a-team.md) or give "
            "--ssl-certfile and --ssl-keyfile.",
            err=True,
        )
    replay = (
        None
        if no_replay
        else _replay_listener(host, port, replay_port, replay_origin, ssl_certfile is not None)
    )

    def listener(asgi: FastAPI, at: int) -> uvicorn.Server:
        return uvicorn.Server(
            uvicorn.Config(
                asgi,
                host=host,
                port=at,
                log_level="warning",
                ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile,
            )
        )

    def run_app(
        locker: Locker,
        with_replay: bool,
        sockets: list[socket.socket] | None = None,
        throttle_file: Path | None = None,
    ) -> None:
        app = create_app(
            locker,
            max_upload,
            allowed_hosts=allowed_hosts or LOOPBACK_NAMES,
            replay_origin=None if replay is None else replay[1],
            throttle_file=throttle_file,
            threads=thread_count,
        )
        main_server = listener(app, port)

        def run_main() -> None:  # a worker's on the socket its parent bound
            if sockets is None:
                main_server.run()
            else:
                main_server.run(sockets=sockets)

        if replay is None or not with_replay:
            run_main()
            return
        replay_app = create_replay_app(
            locker, allowed_hosts or LOOPBACK_NAMES, [urlsplit(replay[1]).hostname or host]
        )
        replay_server = listener(replay_app, replay[0])
        # The replay origin runs on a thread beside the app; Ctrl-C stops the app, then it.
        thread = threading.Thread(target=replay_server.run, name="docket-replay", daemon=True)
        thread.start()
        try:
            run_main()
        finally:
            replay_server.should_exit = True
            thread.join(10)

    if worker_count == 1:
        with open_locker(locker_path) as locker:
            run_app(locker, with_replay=True)
        return
    # Opened once here to report a bad locker once and ask a vault's key once; closed before
    # the fork, as each worker opens its own (docket.web.workers).
    with open_locker(locker_path) as checked:
        vault_key = checked.vault_key
    listening = workers.listening_sockets(host, port, worker_count)
    with workers.shared_folder() as shared:

        def serve_one(index: int) -> None:
            for other in listening[:index] + listening[index + 1 :]:
                other.close()  # each socket is its worker's alone (workers.run)
            path = locker_path or default_path()
            with Locker.open(path, vault_key=vault_key) as locker:  # the replay in worker 0
                run_app(locker, index == 0, [listening[index]], shared / "throttle.sqlite")

        status = workers.run(worker_count, serve_one, theirs=listening)
    if status:
        sys.exit(status)


def _replay_listener(
    host: str, port: int, replay_port: int | None, replay_origin: str | None, tls: bool
) -> tuple[int, str] | None:
    """The replay origin's port and origin (docket.web.replay_origin), or None with a warning
    when browsers' way to it cannot be known (a wildcard --host and no --replay-origin)."""
    from docket.web.replay_origin import origin_of

    listen = replay_port if replay_port is not None else port + 1
    if replay_origin is not None:
        return listen, origin_of(replay_origin)
    if host in ("0.0.0.0", "::", ""):
        click.echo(
            f"WARNING: replay of captured pages is off: with --host {host or 'any'}, give "
            "--replay-origin, the address browsers reach the replay port at.",
            err=True,
        )
        return None
    name = f"[{host}]" if ":" in host else host
    return listen, f"{'https' if tls else 'http'}://{name}:{listen}"
