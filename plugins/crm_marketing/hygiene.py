"""E-mail hygiene: bounces reported against a message (a hard one suppresses the address),
and double opt-in, a confirmation link for consent collected without one.

A bounce names the message by its ``Message-ID``, which the outbound service fixes when the
message is queued and which every DSN quotes, so a mail system's bounce webhook or a person
reading the bounce mailbox can report it. Suppression keeps a keyed hash of the address only.

Double opt-in (Mailchimp's and the German courts' confirmed opt-in): with
``CRM_PLUGIN_MARKETING_DOUBLE_OPT_IN`` on, only a consent confirmed through the link counts for
campaigns; ``requestEmailOptIn`` sends the link (single-use, signed), and confirming records a
granted consent with the source ``double opt-in`` through the core's consent records and lifts
an unsubscribe's suppression of that address (never a hard bounce's).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    CustomerRow,
    fail,
    queue_email,
    record_consent,
)
from crm_marketing import campaigns
from crm_marketing.settings import NAME, MarketingSettings
from crm_marketing.tables import MarketingSend, MarketingSuppression

BOUNCED = "bounced"
HARD_BOUNCE = "hard_bounce"
UNSUBSCRIBED = "unsubscribed"
CONFIRM = "marketing.confirm"
CONFIRM_DAYS = 7


async def report_bounce(
    session: AsyncSession, app: AppContext, message_id: str, permanent: bool
) -> MarketingSend:
    """Record a bounce of a campaign message; a permanent (hard) one suppresses the address."""
    send = await session.scalar(select(MarketingSend).where(MarketingSend.message_id == message_id))
    if send is None:
        raise fail("NOT_FOUND", "no campaign message has this Message-ID", "input", "messageId")
    send.status = BOUNCED
    send.reason = HARD_BOUNCE if permanent else "soft_bounce"
    session.add(send)
    customer = await session.get(CustomerRow, send.customer_id)
    if permanent and customer is not None and customer.email:
        digest = campaigns.address_hash(app, customer.email)
        found = await session.get(MarketingSuppression, digest)
        if found is None:
            session.add(MarketingSuppression(address_hash=digest, reason=HARD_BOUNCE))
        else:
            found.reason = HARD_BOUNCE  # a hard bounce outranks an unsubscribe
            session.add(found)
    return send


def confirm_url(app: AppContext, settings: MarketingSettings, customer_id: int) -> str:
    token = app.tokens.make(CONFIRM, customer_id, timedelta(days=CONFIRM_DAYS), single_use=True)
    return f"{settings.public_url.rstrip('/')}/p/{NAME}/confirm/{token}"


async def request_opt_in(
    session: AsyncSession, app: AppContext, customer_id: int, sender: str
) -> CustomerRow:
    """Queue the confirmation e-mail (in the caller's unit of work)."""
    customer = await session.get(CustomerRow, customer_id)
    if customer is None or customer.deleted_at is not None:
        raise fail("NOT_FOUND", "no such customer", "input", "customerId")
    if not customer.email:
        raise fail("NO_EMAIL", "the customer has no e-mail address", "input", "customerId")
    settings: MarketingSettings = app.plugin_settings(NAME)
    url = confirm_url(app, settings, customer_id)
    await queue_email(
        session,
        owner=NAME,
        sender=sender,
        to=customer.email,
        subject="Please confirm your subscription",
        text=f"Please confirm that you want our e-mails: {url}\n\nIf you did not ask, ignore this.",
        tag="opt-in",
    )
    return customer


async def confirm(session: AsyncSession, app: AppContext, customer_id: int) -> None:
    """The link was followed: a confirmed, granted consent; an unsubscribe's suppression goes."""
    customer = await session.get(CustomerRow, customer_id)
    if customer is None or customer.erased_at is not None:
        return
    await record_consent(
        session, customer_id, "email", True, source=campaigns.CONFIRMED_SOURCE, at=()
    )
    if customer.email:
        await session.execute(
            delete(MarketingSuppression).where(
                MarketingSuppression.address_hash == campaigns.address_hash(app, customer.email),
                MarketingSuppression.reason == UNSUBSCRIBED,
            )
        )
