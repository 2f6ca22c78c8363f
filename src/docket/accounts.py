"""People who use the web app: accounts (Argon2id passwords), sessions, API tokens.

Secrets are stored only as hashes: passwords with Argon2id, session and API tokens with
SHA-256 (they are long and random, so a fast hash is enough).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select

from docket import clock
from docket.catalogue import schema
from docket.custody import log
from docket.errors import DocketError

ROLES = ("admin", "member")
SESSION_HOURS = 12
_HASHER = PasswordHasher()  # argon2-cffi's defaults are Argon2id (RFC 9106 profile)
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(32))  # what unknown names are checked against


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(conn: Connection, actor: str, name: str, password: str, role: str) -> User:
    if role not in ROLES:
        raise DocketError(f"{role!r}: a role is one of {', '.join(ROLES)}")
    if len(password) < 12:
        raise DocketError("a password needs at least 12 characters")
    if conn.execute(select(schema.users.c.id).where(schema.users.c.name == name)).first():
        raise DocketError(f"user {name!r} already exists")
    event = log.append(conn, actor, "user.created", details={"name": name, "role": role})
    key = conn.execute(
        insert(schema.users).values(
            name=name,
            role=role,
            password_hash=_HASHER.hash(password),
            created_at=event.time,
        )
    ).inserted_primary_key
    assert key is not None
    return User(int(key[0]), name, role)


def _user(row: object) -> User:
    return User(int(row.id), str(row.name), str(row.role))  # type: ignore[attr-defined]


def authenticate(conn: Connection, name: str, password: str) -> User | None:
    """The user, or None for a wrong name or password. An unknown name costs the same
    Argon2 work as a known one (a check against a hash of a random password), and neither
    writes anything, so the answer and its time do not tell which names exist. Repeated
    failures are slowed by the caller (docket.web.throttle), never locked out here."""
    row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
    try:
        _HASHER.verify(_DUMMY_HASH if row is None else row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return None if row is None else _user(row)


def start_session(conn: Connection, user: User) -> tuple[str, str]:
    """A new session: (token for the cookie, CSRF token for the forms)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = clock.format_time(datetime.now(UTC) + timedelta(hours=SESSION_HOURS))
    conn.execute(
        insert(schema.sessions).values(
            token_hash=_digest(token), user_id=user.id, csrf=csrf, expires_at=expires
        )
    )
    return token, csrf


def session_user(conn: Connection, token: str) -> tuple[User, str] | None:
    row = conn.execute(
        select(schema.users, schema.sessions.c.csrf, schema.sessions.c.expires_at)
        .join(schema.sessions, schema.sessions.c.user_id == schema.users.c.id)
        .where(schema.sessions.c.token_hash == _digest(token))
    ).first()
    if row is None or row.expires_at < clock.now():
        return None
    return _user(row), str(row.csrf)


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(schema.sessions).where(schema.sessions.c.token_hash == _digest(token)))


def issue_token(conn: Connection, user: User) -> str:
    """A new API token for `user` (shown once)."""
    token = secrets.token_urlsafe(32)
    created = datetime.now(UTC)
    conn.execute(
        insert(schema.api_tokens).values(
            user_id=user.id,
            token_hash=_digest(token),
            label="api",
            created_at=clock.format_time(created),
            expires_at=clock.format_time(created + timedelta(days=90)),
        )
    )
    return token


def token_user(conn: Connection, token: str) -> User | None:
    row = conn.execute(
        select(schema.users)
        .join(schema.api_tokens, schema.api_tokens.c.user_id == schema.users.c.id)
        .where(
            schema.api_tokens.c.token_hash == _digest(token),
            schema.api_tokens.c.revoked_at.is_(None),
            schema.api_tokens.c.expires_at > clock.now(),
        )
    ).first()
    return None if row is None else _user(row)
