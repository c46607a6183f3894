"""Users (argon2 password hashes) and API tokens (SHA-256 of 32 random bytes), with their roles.

Roles are plain data: each grants a set of permissions, checked in one place (``allowed``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from narrative_tracker.errors import UsageError
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import ApiToken, WebUser, utc_now

ROLES = ("viewer", "analyst", "admin")
#: permission -> the lowest role that has it (roles are ordered: each has what the one below has).
PERMISSIONS = {
    "read": "viewer",
    "label": "analyst",
    "train": "analyst",
    "promote": "admin",
    "users": "admin",
    "run-jobs": "admin",
}
TOKEN_PREFIX = "ntk_"  # noqa: S105 - a marker, not a secret
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def allowed(role: str, permission: str) -> bool:
    needed = PERMISSIONS.get(permission)
    if needed is None or role not in ROLES:
        return False  # unknown permissions and roles grant nothing
    return ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"name {name!r}: use 1-100 letters, digits and . _ @ - (starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class Account:
    """Who is asking: a signed-in user or an API token."""

    name: str
    role: str
    kind: str  # "user" | "token"
    user_id: int | None = None

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)


@dataclass(frozen=True)
class UserRow:
    name: str
    role: str
    created_at: datetime


def _count(result: object) -> int:
    """Rows an UPDATE or DELETE touched."""
    return result.rowcount if isinstance(result, CursorResult) else 0


# ---------------------------------------------------------------- users
def add_user(db: Database, name: str, role: str, password: str) -> None:
    check_name(name)
    check_role(role)
    if len(password) < 8:
        raise UsageError("the password must have at least 8 characters")
    with db.session() as session:
        if session.scalar(select(WebUser.id).where(WebUser.name == name)) is not None:
            raise UsageError(f"user {name!r} exists already: use `users set-role` or `users remove`")
        session.add(WebUser(name=name, role=role, password_hash=_HASHER.hash(password), session_version=1))


def list_users(db: Database) -> list[UserRow]:
    with db.session() as session:
        rows = session.execute(select(WebUser.name, WebUser.role, WebUser.created_at).order_by(WebUser.name)).all()
    return [UserRow(name, role, created) for name, role, created in rows]


def _refuse_last_admin(session: Session, name: str, doing: str) -> None:
    """Raise UsageError when ``name`` is the only admin: nobody could manage users afterwards.

    The admins' rows are locked (PostgreSQL) so two admins demoting each other at once cannot both pass.
    """
    admins = session.scalars(select(WebUser.name).where(WebUser.role == "admin").with_for_update()).all()
    if list(admins) == [name]:
        raise UsageError(f"user {name!r} is the last admin and cannot be {doing}: make another user admin first")


def set_role(db: Database, name: str, role: str) -> None:
    """Change a user's role; their open sessions end (they sign in again with the new role).
    The last admin keeps the role."""
    check_role(role)
    with db.session() as session:
        if role != "admin":
            _refuse_last_admin(session, name, f"made {role}")
        done = session.execute(
            update(WebUser)
            .where(WebUser.name == name)
            .values(role=role, session_version=WebUser.session_version + 1)
        )
        if _count(done) == 0:
            raise UsageError(f"no user {name!r}: see `narrative-tracker users list`")


def remove_user(db: Database, name: str) -> None:
    """Delete a user (their sessions end with the row); never the last admin."""
    with db.session() as session:
        _refuse_last_admin(session, name, "removed")
        if _count(session.execute(delete(WebUser).where(WebUser.name == name))) == 0:
            raise UsageError(f"no user {name!r}: see `narrative-tracker users list`")


def verify_password(db: Database, name: str, password: str) -> WebUser | None:
    """The user if the password is right, else None (same work either way)."""
    with db.session() as session:
        user = session.scalar(select(WebUser).where(WebUser.name == name))
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        session.expunge(user)
        return user


def end_sessions(db: Database, user_id: int) -> None:
    with db.session() as session:
        session.execute(
            update(WebUser).where(WebUser.id == user_id).values(session_version=WebUser.session_version + 1)
        )


def user_by_id(db: Database, user_id: int) -> WebUser | None:
    with db.session() as session:
        user = session.get(WebUser, user_id)
        if user is not None:
            session.expunge(user)
        return user


# ---------------------------------------------------------------- tokens
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, name: str, role: str) -> str:
    """Store a new token and return it (the only time it is ever shown)."""
    check_name(name)
    check_role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise UsageError(f"token {name!r} exists already: revoke it first or choose another name")
        session.add(ApiToken(name=name, role=role, token_hash=_token_hash(token)))
    return token


def list_tokens(db: Database) -> list[tuple[str, str, datetime, datetime | None]]:
    with db.session() as session:
        rows = session.execute(
            select(ApiToken.name, ApiToken.role, ApiToken.created_at, ApiToken.last_used_at).order_by(ApiToken.name)
        ).all()
    return [(n, r, c, u) for n, r, c, u in rows]


def revoke_token(db: Database, name: str) -> None:
    with db.session() as session:
        if _count(session.execute(delete(ApiToken).where(ApiToken.name == name))) == 0:
            raise UsageError(f"no token {name!r}: see `narrative-tracker tokens list`")


def account_for_token(db: Database, token: str) -> Account | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    with db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
        if row is None:
            return None
        now = utc_now()
        # One write a minute at most: a busy client must not turn every read into a write.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            row.last_used_at = now
        return Account(name=row.name, role=row.role, kind="token")
