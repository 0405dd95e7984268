"""The plugin's tables (prefix ``marketing_``), pointing at core customers, never altering them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint

from crm_graph.plugin import Field, JsonColumn, MoneyColumn, SQLModel, UTCDateTimeColumn, utcnow

STATIC = "static"
DYNAMIC = "dynamic"


class MarketingSegment(SQLModel, table=True):
    """An audience: a static list (members added by hand or imported) or a dynamic segment
    (a filter tree; its members are materialised in ``marketing_segment_member``)."""

    __tablename__ = "marketing_segment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    description: str = Field(default="", max_length=2000)
    kind: str = Field(max_length=16)  # STATIC or DYNAMIC
    filter: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonColumn))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)


class MarketingSegmentMember(SQLModel, table=True):
    """A customer in a segment: added to a static list, or matched by a dynamic segment's
    filter at its last refresh."""

    __tablename__ = "marketing_segment_member"

    segment_id: int = Field(foreign_key="marketing_segment.id", primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", primary_key=True, index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class MarketingCampaign(SQLModel, table=True):
    """An e-mail campaign: to one segment, from templates, sent once (now or at a time)."""

    __tablename__ = "marketing_campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    segment_id: int = Field(foreign_key="marketing_segment.id", index=True)
    subject: str = Field(max_length=500)
    sender: str = Field(max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    html_template: str | None = Field(default=None, sa_column=Column(Text))
    text_template: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="draft", max_length=16)  # draft scheduled sending sent cancelled
    send_rate: float = 10.0  # messages per second
    # A/B test: variant B's subject and content (None: A's) and the share of recipients it goes to.
    variant_subject: str | None = Field(default=None, max_length=500)
    variant_text_template: str | None = Field(default=None, sa_column=Column(Text))
    variant_html_template: str | None = Field(default=None, sa_column=Column(Text))
    variant_split: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    cost: Decimal = Field(default=Decimal(0), sa_column=Column(MoneyColumn, nullable=False))
    currency: str = Field(max_length=3)
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class MarketingSend(SQLModel, table=True):
    """One recipient of a campaign: the message queued for them, or why none was (the
    suppressed are counted, never dropped silently). One row per campaign and customer,
    written with the message in one transaction: what a resumed send skips."""

    __tablename__ = "marketing_send"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="marketing_campaign.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    # queued, then the outbound message's fate: sent, failed, in_doubt; or suppressed.
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=32)  # why suppressed
    variant: str | None = Field(default=None, max_length=1)  # A or B in an A/B test
    message_id: str | None = Field(default=None, max_length=255, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)


class MarketingSuppression(SQLModel, table=True):
    """An address never to be e-mailed again (unsubscribed, hard bounce), kept only as a
    keyed hash (``app.tokens.digest``), so it outlives the customer's GDPR erasure without
    keeping the address."""

    __tablename__ = "marketing_suppression"

    address_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class MarketingTouch(SQLModel, table=True):
    """A recipient opening a campaign's message (the pixel loaded) or following one of its
    links: what attribution counts as the campaign's touch of the customer."""

    __tablename__ = "marketing_touch"

    id: int | None = Field(default=None, primary_key=True)
    send_id: int = Field(foreign_key="marketing_send.id", index=True)
    campaign_id: int = Field(foreign_key="marketing_campaign.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: str = Field(max_length=8)  # open, click
    url: str | None = Field(default=None, max_length=2000)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


TABLES: list[Any] = [
    MarketingSegment,
    MarketingSegmentMember,
    MarketingCampaign,
    MarketingSend,
    MarketingSuppression,
    MarketingTouch,
]


class MarketingAutomation(SQLModel, table=True):
    """An event-triggered flow: when ``trigger`` happens to a customer (an event type, with a
    filter tree as condition, or entering a segment), wait ``delay_seconds``, then act."""

    __tablename__ = "marketing_automation"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    trigger: str = Field(max_length=64)  # an event type; segment.entered with segment_id
    segment_id: int | None = Field(default=None, foreign_key="marketing_segment.id")
    condition: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonColumn))
    delay_seconds: int = 0
    action: str = Field(max_length=16)  # send_email, add_tag, create_task
    subject: str | None = Field(default=None, max_length=500)
    sender: str | None = Field(default=None, max_length=320)
    text_template: str | None = Field(default=None, sa_column=Column(Text))
    html_template: str | None = Field(default=None, sa_column=Column(Text))
    tag: str | None = Field(default=None, max_length=100)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class MarketingAutomationRun(SQLModel, table=True):
    """A customer's one enrolment in an automation (one per customer and automation, however
    often the trigger fires or its event is delivered), and what became of it."""

    __tablename__ = "marketing_automation_run"
    __table_args__ = (UniqueConstraint("automation_id", "customer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    automation_id: int = Field(foreign_key="marketing_automation.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    event_id: str = Field(max_length=64)  # the triggering event's id
    status: str = Field(default="scheduled", max_length=16)  # scheduled, done, skipped
    reason: str | None = Field(default=None, max_length=64)
    due_at: datetime = Field(sa_type=UTCDateTimeColumn)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    message_id: str | None = Field(default=None, max_length=255)
    task_id: str | None = Field(default=None, max_length=100)  # a CREATE_TASK's global ID


TABLES += [MarketingAutomation, MarketingAutomationRun]
