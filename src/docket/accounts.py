"""People who use the web app: accounts (Argon2id passwords), sessions, API tokens, and the
changes an admin or the person makes to them, each a custody event.

Secrets are stored only as hashes: passwords with Argon2id, session and API tokens with
SHA-256 (they are long and random, so a fast hash is enough). No event holds a secret: a
token is named by its row id. A disabled account cannot sign in, and its sessions and tokens
end when it is disabled. Who may make a change is decided by docket.access, not here.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update

from docket import clock
from docket.catalogue import schema
from docket.custody import log
from docket.errors import DocketError, NotFoundError

ROLES = ("admin", "member")
SESSION_HOURS = 12
TOKEN_DAYS = 90  # a new API token's life unless asked otherwise
MAX_TOKEN_DAYS_ENV = "DOCKET_MAX_TOKEN_DAYS"  # the longest life a token may be given
MAX_TOKEN_DAYS = 365
LABEL_LENGTH = 120
USED_EVERY = timedelta(hours=1)  # how stale a token's "last used" may get before it is written
_HASHER = PasswordHasher()  # argon2-cffi's defaults are Argon2id (RFC 9106 profile)


@functools.cache
def dummy_hash() -> str:
    """The hash unknown names are checked against, so they cost the same Argon2 work as known
    ones. Made at first use, not at import: an Argon2 hash costs every command ~0.15 s, and
    only sign-in needs it (the web app makes it when it starts, so the first try is no slower)."""
    return _HASHER.hash(secrets.token_urlsafe(32))


class WrongPasswordError(DocketError):
    """A person changing their password gave a wrong current one."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Bearer:
    """The person behind an API token, and whether its "last used" time is due a write."""

    user: User
    token_id: int
    stale: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewPassword:
    """A new password, checked and hashed before a transaction opens. Argon2 takes tens of
    milliseconds of CPU: in the web app, whose writers share one commit
    (docket.catalogue.group_commit), hashing inside the transaction would hold up every
    other writer of the batch."""

    hash: str

    @classmethod
    def of(cls, password: str) -> NewPassword:
        if len(password) < 12:
            raise DocketError("a password needs at least 12 characters")
        return cls(_HASHER.hash(password))


def _hash_of(password: str | NewPassword) -> str:
    return (password if isinstance(password, NewPassword) else NewPassword.of(password)).hash


def create_user(
    conn: Connection, actor: str, name: str, password: str | NewPassword, role: str
) -> User:
    if role not in ROLES:
        raise DocketError(f"{role!r}: a role is one of {', '.join(ROLES)}")
    password_hash = _hash_of(password)
    if conn.execute(select(schema.users.c.id).where(schema.users.c.name == name)).first():
        raise DocketError(f"user {name!r} already exists")
    event = log.append(conn, actor, "user.created", details={"name": name, "role": role})
    key = conn.execute(
        insert(schema.users).values(
            name=name, role=role, password_hash=password_hash, created_at=event.time
        )
    ).inserted_primary_key
    assert key is not None
    return User(int(key[0]), name, role)


def _user(row: object) -> User:
    return User(int(row.id), str(row.name), str(row.role))  # type: ignore[attr-defined]


def user_named(conn: Connection, name: str) -> User:
    row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"user {name!r}: no such user")
    return _user(row)


def user_by_id(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(schema.users).where(schema.users.c.id == user_id)).first()
    if row is None:
        raise NotFoundError(f"user {user_id}: no such user")
    return _user(row)


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every account: id, name, role, whether disabled, created, last sign-in."""
    users = schema.users.c
    rows = conn.execute(
        select(
            users.id,
            users.name,
            users.role,
            users.disabled_at,
            users.created_at,
            users.last_sign_in,
        ).order_by(users.name)
    ).all()
    return [
        {
            "id": int(row.id),
            "name": str(row.name),
            "role": str(row.role),
            "disabled": row.disabled_at is not None,
            "created": str(row.created_at),
            "last_sign_in": row.last_sign_in,
        }
        for row in rows
    ]


def authenticate(conn: Connection, name: str, password: str) -> User | None:
    """The user, or None for a wrong name or password or a disabled account. An unknown name
    costs the same Argon2 work as a known one (a check against a hash of a random password),
    and neither writes anything, so the answer and its time do not tell which names exist.
    Repeated failures are slowed by the caller (docket.web.throttle), never locked out here."""
    row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
    try:
        _HASHER.verify(dummy_hash() if row is None else row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return None if row is None or row.disabled_at is not None else _user(row)


def start_session(conn: Connection, user: User) -> tuple[str, str]:
    """A new session: (token for the cookie, CSRF token for the forms)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = clock.format_time(now + timedelta(hours=SESSION_HOURS))
    conn.execute(
        insert(schema.sessions).values(
            token_hash=_digest(token), user_id=user.id, csrf=csrf, expires_at=expires
        )
    )
    conn.execute(
        update(schema.users)
        .where(schema.users.c.id == user.id)
        .values(last_sign_in=clock.format_time(now))
    )
    return token, csrf


def session_user(conn: Connection, token: str) -> tuple[User, str] | None:
    row = conn.execute(
        select(schema.users, schema.sessions.c.csrf, schema.sessions.c.expires_at)
        .join(schema.sessions, schema.sessions.c.user_id == schema.users.c.id)
        .where(schema.sessions.c.token_hash == _digest(token), schema.users.c.disabled_at.is_(None))
    ).first()
    if row is None or row.expires_at < clock.now():
        return None
    return _user(row), str(row.csrf)


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(schema.sessions).where(schema.sessions.c.token_hash == _digest(token)))


def _end_sessions(conn: Connection, user: User, keep: str | None = None) -> int:
    """End the user's sessions (but the one whose cookie is `keep`); how many ended."""
    ending = delete(schema.sessions).where(schema.sessions.c.user_id == user.id)
    if keep is not None:
        ending = ending.where(schema.sessions.c.token_hash != _digest(keep))
    return int(conn.execute(ending).rowcount)


def _disabled_at(conn: Connection, user: User) -> str | None:
    found = conn.execute(select(schema.users.c.disabled_at).where(schema.users.c.id == user.id))
    value = found.scalar()
    return None if value is None else str(value)


def is_enabled(conn: Connection, user: User) -> bool:
    return _disabled_at(conn, user) is None


def disable_user(conn: Connection, actor: str, user: User) -> None:
    """Disable an account: its sessions end and its live tokens are revoked, at once."""
    if _disabled_at(conn, user) is not None:
        raise DocketError(f"user {user.name!r} is already disabled")
    live = _live_tokens(conn, user)
    ended = _end_sessions(conn, user)
    event = log.append(
        conn,
        actor,
        "user.disabled",
        details={"name": user.name, "tokens_revoked": live, "sessions_ended": ended},
    )
    tokens = schema.api_tokens.c
    conn.execute(update(schema.api_tokens).where(tokens.id.in_(live)).values(revoked_at=event.time))
    conn.execute(
        update(schema.users).where(schema.users.c.id == user.id).values(disabled_at=event.time)
    )


def enable_user(conn: Connection, actor: str, user: User) -> None:
    """Let a disabled account sign in again (its revoked tokens stay revoked)."""
    if _disabled_at(conn, user) is None:
        raise DocketError(f"user {user.name!r} is not disabled")
    log.append(conn, actor, "user.enabled", details={"name": user.name})
    conn.execute(update(schema.users).where(schema.users.c.id == user.id).values(disabled_at=None))


def _set_password(
    conn: Connection, actor: str, user: User, new: str | NewPassword, reset: bool
) -> None:
    password_hash = _hash_of(new)
    log.append(conn, actor, "user.password_changed", details={"name": user.name, "reset": reset})
    conn.execute(
        update(schema.users).where(schema.users.c.id == user.id).values(password_hash=password_hash)
    )


def reset_password(conn: Connection, actor: str, user: User, new: str | NewPassword) -> None:
    """An admin sets a new password; every session of the account ends."""
    _set_password(conn, actor, user, new, reset=True)
    _end_sessions(conn, user)


def checked_current(conn: Connection, user: User, current: str) -> str:
    """The stored hash that `current` (the person's password) was checked against, for
    change_password; WrongPasswordError if it is not theirs. Meant for a reading connection:
    it costs Argon2's work and writes nothing."""
    stored = str(
        conn.execute(
            select(schema.users.c.password_hash).where(schema.users.c.id == user.id)
        ).scalar_one()
    )
    try:
        _HASHER.verify(stored, current)
    except (VerificationError, InvalidHashError):
        raise WrongPasswordError("the current password is wrong") from None
    return stored


def change_password(
    conn: Connection, user: User, checked: str, new: NewPassword, session: str | None = None
) -> None:
    """A person changes their own password, `checked` being the hash their current one was
    checked against (checked_current); their other sessions end, the one whose cookie is
    `session` stays. Refused if the password changed in between (a reset, another change)."""
    stored = conn.execute(
        select(schema.users.c.password_hash).where(schema.users.c.id == user.id)
    ).scalar()
    if stored != checked:
        raise DocketError("the password was changed meanwhile: sign in again and retry")
    _set_password(conn, user.name, user, new, reset=False)
    _end_sessions(conn, user, keep=session)


def max_token_days() -> int:
    """The longest life a token may be given: $DOCKET_MAX_TOKEN_DAYS, else MAX_TOKEN_DAYS."""
    raw = os.environ.get(MAX_TOKEN_DAYS_ENV, "")
    if not raw:
        return MAX_TOKEN_DAYS
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise DocketError(f"${MAX_TOKEN_DAYS_ENV} must be a whole number of days, at least 1")
    return int(raw)


def _live_tokens(conn: Connection, user: User) -> list[int]:
    tokens = schema.api_tokens.c
    found = conn.execute(
        select(tokens.id).where(
            tokens.user_id == user.id, tokens.revoked_at.is_(None), tokens.expires_at > clock.now()
        )
    )
    return sorted(int(i) for i in found.scalars())


@dataclass(frozen=True)
class Issued:
    """A new API token: its id, its secret (shown once, never stored) and when it expires."""

    id: int
    secret: str
    expires: str


def new_token(
    conn: Connection,
    user: User,
    label: str = "api",
    days: int = TOKEN_DAYS,
    actor: str | None = None,
) -> Issued:
    """A new API token for `user`, living `days` days (only its hash is kept)."""
    label = label.strip()
    if not label or len(label) > LABEL_LENGTH or not label.isprintable():
        raise DocketError(f"a token's label is 1 to {LABEL_LENGTH} printable characters")
    longest = max_token_days()
    if not 1 <= days <= longest:
        raise DocketError(f"a token lives 1 to {longest} days")
    if _disabled_at(conn, user) is not None:
        raise DocketError(f"user {user.name!r} is disabled")
    secret = secrets.token_urlsafe(32)
    created = datetime.now(UTC)
    expires = clock.format_time(created + timedelta(days=days))
    key = conn.execute(
        insert(schema.api_tokens).values(
            user_id=user.id,
            token_hash=_digest(secret),
            label=label,
            created_at=clock.format_time(created),
            expires_at=expires,
        )
    ).inserted_primary_key
    assert key is not None
    log.append(
        conn,
        actor or user.name,
        "token.issued",
        details={"user": user.name, "token": int(key[0]), "label": label, "expires": expires},
    )
    return Issued(int(key[0]), secret, expires)


def issue_token(conn: Connection, user: User) -> str:
    """A new API token for `user` with the default life, issued by themselves: its secret."""
    return new_token(conn, user).secret


def list_tokens(conn: Connection, user: User) -> list[dict[str, Any]]:
    """The user's API tokens, newest first: id, label, created, expires, last used, state
    (live, expired or revoked). Never the secret."""
    tokens = schema.api_tokens.c
    rows = conn.execute(
        select(schema.api_tokens).where(tokens.user_id == user.id).order_by(tokens.id.desc())
    ).all()
    now = clock.now()
    return [
        {
            "id": int(row.id),
            "label": str(row.label),
            "created": str(row.created_at),
            "expires": str(row.expires_at),
            "last_used": row.last_used_at,
            "state": "revoked"
            if row.revoked_at is not None
            else "expired"
            if row.expires_at <= now
            else "live",
        }
        for row in rows
    ]


def token_owner(conn: Connection, token_id: int) -> User:
    row = conn.execute(
        select(schema.users)
        .join(schema.api_tokens, schema.api_tokens.c.user_id == schema.users.c.id)
        .where(schema.api_tokens.c.id == token_id)
    ).first()
    if row is None:
        raise NotFoundError(f"token {token_id}: no such token")
    return _user(row)


def revoke_token(conn: Connection, actor: str, token_id: int) -> None:
    tokens = schema.api_tokens.c
    row = conn.execute(select(schema.api_tokens).where(tokens.id == token_id)).first()
    if row is None:
        raise NotFoundError(f"token {token_id}: no such token")
    if row.revoked_at is not None:
        raise DocketError(f"token {token_id} is already revoked")
    owner = token_owner(conn, token_id)
    event = log.append(
        conn,
        actor,
        "token.revoked",
        details={"user": owner.name, "token": token_id, "label": str(row.label)},
    )
    conn.execute(
        update(schema.api_tokens).where(tokens.id == token_id).values(revoked_at=event.time)
    )


def bearer(conn: Connection, token: str) -> Bearer | None:
    """Who a live API token belongs to (None: unknown, expired, revoked, or disabled)."""
    tokens = schema.api_tokens.c
    now = datetime.now(UTC)
    row = conn.execute(
        select(schema.users, tokens.id.label("token_id"), tokens.last_used_at)
        .join(schema.api_tokens, tokens.user_id == schema.users.c.id)
        .where(
            tokens.token_hash == _digest(token),
            tokens.revoked_at.is_(None),
            tokens.expires_at > clock.format_time(now),
            schema.users.c.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    due = clock.format_time(now - USED_EVERY)
    stale = row.last_used_at is None or row.last_used_at < due
    return Bearer(_user(row), int(row.token_id), stale)


def token_user(conn: Connection, token: str) -> User | None:
    found = bearer(conn, token)
    return None if found is None else found.user


def note_token_used(conn: Connection, token_id: int) -> None:
    """Record that a token was used now (callers write it at most once per USED_EVERY)."""
    conn.execute(
        update(schema.api_tokens)
        .where(schema.api_tokens.c.id == token_id)
        .values(last_used_at=clock.now())
    )
