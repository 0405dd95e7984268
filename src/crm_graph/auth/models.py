"""Tables of the security layer: API keys, the audit log and customers' consent records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from crm_graph.db.models import utcnow
from crm_graph.db.registry import register_tables
from crm_graph.db.types import Json, UTCDateTime

# BIGINT on PostgreSQL; SQLite needs INTEGER for a rowid primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


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


register_tables(ApiKey, AuditEntry, CustomerConsent, UsedToken)
