"""Tables of the event log and of webhook delivery (all prefixed ``event_`` / ``webhook_``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from crm_graph.db.models import utcnow
from crm_graph.db.registry import register_tables
from crm_graph.db.types import Json, JsonEnvelope, UTCDateTime

# BIGINT on PostgreSQL; SQLite needs INTEGER for a rowid primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class EventStore(SQLModel, table=True):
    """The single row describing this store: its epoch and how far positions have gone.

    ``epoch`` is random per database, so a cursor from another (or a re-created) database is
    refused instead of misread. ``pruned_through`` is the highest position retention deleted:
    a cursor below it has lost events and gets ``CURSOR_EXPIRED``.
    """

    __tablename__ = "event_store"

    id: int = Field(default=1, primary_key=True)
    epoch: str = Field(max_length=32)
    last_position: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    pruned_through: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class EventRecord(SQLModel, table=True):
    """One event. ``position`` is NULL until the sequencer assigns it after commit."""

    __tablename__ = "event_log"
    __table_args__ = (
        Index("ix_event_log_position", "position", unique=True),
        Index("ix_event_log_occurred_at", "occurred_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    uid: str = Field(max_length=36, unique=True)
    position: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    type: str = Field(max_length=100)
    entity_type: str | None = Field(default=None, max_length=64)
    entity_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonEnvelope, nullable=False)
    )
    actor: str | None = Field(default=None, max_length=200)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EventConsumer(SQLModel, table=True):
    """A durable reader of the log (the webhook dispatcher, each plugin's handlers).

    ``lease_owner``/``lease_until`` let one process at a time work for the consumer; a process
    that dies loses its lease when it expires, and another continues from ``position``.
    """

    __tablename__ = "event_consumer"

    name: str = Field(primary_key=True, max_length=120)
    position: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


_webhook_version = Column("version", Integer, nullable=False, default=1)


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _webhook_version}

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    # Empty list = every event type except the webhook's own ``webhook.*`` events.
    event_types: list[str] = Field(default_factory=list, sa_column=Column(Json, nullable=False))
    # Needed in clear to sign; marked so the audit log keeps only a keyed hash of it.
    secret: str = Field(max_length=100, sa_column_kwargs={"info": {"pii": True}})
    status: str = Field(default="active", max_length=16)
    disabled_reason: str | None = Field(default=None, max_length=500)
    # Events at or below this position predate the endpoint and are not sent to it.
    start_position: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # Who set the URL (the credential, its role then, its user): deliveries carry what they
    # may read now. None (an endpoint older than this record) may read nothing.
    creator_id: str | None = Field(default=None, max_length=200)
    creator_role: str | None = Field(default=None, max_length=64)
    creator_user_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1, sa_column=_webhook_version)


class WebhookDelivery(SQLModel, table=True):
    """One event to one endpoint: ``pending`` until it ``succeeded`` or is ``dead``."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_webhook", "webhook_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhook_endpoint.id")
    event_uid: str = Field(max_length=36, index=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """The log of one HTTP attempt; ``finished_at`` stays NULL when the worker died mid-way."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    number: int
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_code: int | None = None
    latency_ms: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, max_length=1000)


register_tables(
    EventStore, EventRecord, EventConsumer, WebhookEndpoint, WebhookDelivery, WebhookAttempt
)
