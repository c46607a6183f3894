"""Web app accounts: people who sign in with a password, and API tokens for programs.

Neither a password nor a token is ever stored: passwords as argon2 hashes, tokens as SHA-256
(a token is 32 random bytes, so a fast hash cannot be brute-forced).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now


class WebUser(Base):
    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    #: viewer | analyst | admin
    role: Mapped[str] = mapped_column(String(16))
    #: Part of every session cookie: bumping it (role change, sign-out, removal) ends all the user's sessions.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: SHA-256 hex of the token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
