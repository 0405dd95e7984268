"""The outbound e-mail queue: one row per message, from queued to its final state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from crm_graph.db.models import utcnow
from crm_graph.db.registry import register_tables
from crm_graph.db.types import Json, UTCDateTime

QUEUED, SENDING, RETRYING = "queued", "sending", "retrying"
SENT, FAILED, IN_DOUBT = "sent", "failed", "in_doubt"
STATUSES = (QUEUED, SENDING, RETRYING, SENT, FAILED, IN_DOUBT)
# What a worker may claim: the message waits for its (first or next) attempt.
WAITING = (QUEUED, RETRYING)


class OutboundEmail(SQLModel, table=True):
    """A message and where its delivery stands.

    ``in_doubt``: the connection ended after the message's data was sent and before the
    server's final reply (or its worker died while sending), so the server may have accepted
    it. It is never resent on its own: an admin resends it (same ``Message-ID``) or marks it.
    """

    __tablename__ = "outbound_email"
    __table_args__ = (
        Index("ix_outbound_email_due", "status", "next_attempt_at"),
        Index("ix_outbound_email_tag", "tag", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=255, unique=True)
    sender: str = Field(max_length=320)
    # Addresses and bodies are personal data: the audit log keeps only a keyed hash of them.
    recipients: list[str] = Field(
        sa_column=Column(Json, nullable=False, info={"pii": True}),
    )
    subject: str = Field(max_length=998)
    text_body: str = Field(sa_column=Column(Text, nullable=False, info={"pii": True}))
    html_body: str | None = Field(default=None, sa_column=Column(Text, info={"pii": True}))
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(Json, nullable=False))
    # Who queued it (a plugin's name or "core") and its own reference, e.g. "campaign-12".
    owner: str = Field(max_length=100)
    tag: str | None = Field(default=None, max_length=200)
    status: str = Field(default=QUEUED, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


register_tables(OutboundEmail)
