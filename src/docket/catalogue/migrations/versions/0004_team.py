"""Team management: many API tokens a person, each with an expiry; disabled users; last sign-in.

The table api_tokens replaces users.token_hash (hashes only, as before). Each token a user had
is carried over, labelled "before 0004", and expires 90 days after this upgrade, so nothing
that uses it breaks at once and nothing lives for ever. users.failed_logins and
users.locked_until are dropped: sign-in throttling lives in the web server (docket.web.throttle).

Revision ID: 0004
Revises: 0003
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.schema import SchemaItem

from docket import clock

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CARRIED_OVER_DAYS = 90


KEPT = "id, name, role, password_hash, created_at"


def _users(*columns: sa.Column[Any]) -> tuple[SchemaItem, ...]:
    return (
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def _rebuild_users_on_sqlite(*items: SchemaItem) -> None:
    """SQLite cannot drop a UNIQUE column in place, so users is rebuilt. Memberships, sessions
    and tokens refer to it: their foreign keys are checked at commit (defer_foreign_keys), and
    the rows go back into a table named users, which settles the references the drop broke
    (a renamed copy, Alembic's batch mode, would not)."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(f"CREATE TABLE users_0004 AS SELECT {KEPT} FROM users")
    op.drop_table("users")
    op.create_table("users", *items)
    op.execute(f"INSERT INTO users ({KEPT}) SELECT {KEPT} FROM users_0004")
    op.drop_table("users_0004")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.String(length=40), nullable=False),
        sa.Column("revoked_at", sa.String(length=40), nullable=True),
        sa.Column("last_used_at", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    now = datetime.now(UTC)
    op.get_bind().execute(
        sa.text(
            "INSERT INTO api_tokens (user_id, token_hash, label, created_at, expires_at)"
            " SELECT id, token_hash, 'before 0004', :now, :expires FROM users"
            " WHERE token_hash IS NOT NULL"
        ),
        {
            "now": clock.format_time(now),
            "expires": clock.format_time(now + timedelta(days=CARRIED_OVER_DAYS)),
        },
    )
    added = (
        sa.Column("disabled_at", sa.String(length=40), nullable=True),
        sa.Column("last_sign_in", sa.String(length=40), nullable=True),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_users_on_sqlite(*_users(*added))
        return
    for name in ("token_hash", "failed_logins", "locked_until"):
        op.drop_column("users", name)
    for column in added:
        op.add_column("users", column)


def downgrade() -> None:
    """Back to one token a user: the newest live one is kept, the others are lost."""
    restored = (
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.String(length=40), nullable=True),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_users_on_sqlite(*_users(*restored), sa.UniqueConstraint("token_hash"))
    else:
        for name in ("disabled_at", "last_sign_in"):
            op.drop_column("users", name)
        for column in restored:
            op.add_column("users", column)
        op.create_unique_constraint("users_token_hash_key", "users", ["token_hash"])
    op.get_bind().execute(
        sa.text(
            "UPDATE users SET token_hash = (SELECT token_hash FROM api_tokens"
            " WHERE api_tokens.user_id = users.id AND revoked_at IS NULL"
            " AND expires_at > :now ORDER BY id DESC LIMIT 1)"
        ),
        {"now": clock.now()},
    )
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
