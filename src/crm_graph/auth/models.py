"""Tables of the security layer: users and teams, API keys, the audit log and customers'
consent records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm_graph.db.models import PII, PII_EMAIL, utcnow, version_column
from crm_graph.db.registry import register_tables
from crm_graph.db.types import Json, UTCDateTime

# BIGINT on PostgreSQL; SQLite needs INTEGER for a rowid primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


_user_version = version_column()


class User(SQLModel, table=True):
    """Someone who calls the API: made on first sight of an API key's user or a token's
    subject (see :mod:`crm_graph.auth.users`), then edited by admins.

    ``user_id`` is that subject, the value ``customer.owner_id`` (and plugins' owner and
    assignee columns) hold; ``id`` is only the number of its global ID.
    """

    __tablename__ = "auth_user"
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _user_version}

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=200, unique=True)
    name: str = Field(max_length=200, sa_column_kwargs={"info": PII})
    email: str | None = Field(default=None, max_length=320, sa_column_kwargs={"info": PII_EMAIL})
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1, sa_column=_user_version)


class Team(SQLModel, table=True):
    """A team: its members see each other's records at scope ``team``."""

    __tablename__ = "auth_team"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TeamMember(SQLModel, table=True):
    """One user in one team (indexed by user: each request reads its caller's teams)."""

    __tablename__ = "auth_team_member"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="auth_team.id")
    user_id: str = Field(max_length=200, foreign_key="auth_user.user_id", index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """An API key. Only the SHA-256 of the secret is stored; ``prefix`` identifies it to people.

    Keys are 256-bit random secrets, so a fast hash is safe here (nothing to brute-force), and
    it lets every request find its key with one indexed lookup.
    """

    __tablename__ = "auth_api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True, sa_column_kwargs={"info": {"pii": True}})
    role: str = Field(max_length=64)
    user_id: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One committed mutation: who, what, on which records, and how the fields changed.

    ``changes`` is a list of ``{type, id, action, fields: {name: {before, after}}}``; values of
    personal-data columns are replaced by keyed hashes (see :mod:`crm_graph.auth.audit`).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_occurred_at", "occurred_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200, index=True)
    actor_name: str = Field(max_length=200)
    actor_role: str = Field(max_length=64)
    operation: str = Field(max_length=100, index=True)
    target_ids: list[str] = Field(default_factory=list, sa_column=Column(Json, nullable=False))
    changes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(Json, nullable=False)
    )
    request_id: str | None = Field(default=None, max_length=64)


class CustomerConsent(SQLModel, table=True):
    """A customer's consent given or withdrawn for one channel; the newest row is in force."""

    __tablename__ = "customer_consent"
    __table_args__ = (Index("ix_customer_consent_customer", "customer_id", "recorded_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    channel: str = Field(max_length=32)
    granted: bool
    source: str | None = Field(default=None, max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str | None = Field(default=None, max_length=200)


class UsedToken(SQLModel, table=True):
    """A single-use link token that has been used (see :mod:`crm_graph.auth.link_tokens`).

    The primary key makes a second use fail even when two requests race; rows are deleted once
    their token has expired, since an expired token is refused anyway.
    """

    __tablename__ = "used_token"

    id: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=64)
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


register_tables(User, Team, TeamMember, ApiKey, AuditEntry, CustomerConsent, UsedToken)
