"""E-mail campaigns: saving one (templates checked), sending it (consent, suppression,
throttle; resumable) and following its messages. No GraphQL here.

Sending is a one-shot job of the scheduler. It walks the segment's members in batches; each
batch is one transaction holding, per recipient, the send-log row and the queued message
(the outbound e-mail service's), so a job that dies mid-campaign rolls back only the batch it
was writing, and its retry skips everyone with a row. The outbound service never sends a
message twice on its own: a message the server accepted is ``sent``, one whose fate is unknown
after a crash is ``in_doubt``, counted in the campaign's stats, not resent.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    ConsentRow,
    CustomerRow,
    ValidationFailed,
    cancel_job,
    email_statuses,
    emit,
    fail,
    queue_email,
    schedule_once,
    utcnow,
)
from crm_marketing import abtest, ids, segments, templates, tracking
from crm_marketing.settings import NAME, SEND_CAMPAIGN, MarketingSettings
from crm_marketing.tables import (
    MarketingCampaign,
    MarketingSegment,
    MarketingSend,
    MarketingSuppression,
)

DRAFT, SCHEDULED, SENDING, SENT, CANCELLED = "draft", "scheduled", "sending", "sent", "cancelled"
# Send-log statuses: queued, then the outbound message's own (sent, failed, in_doubt).
QUEUED, SUPPRESSED, FAILED = "queued", "suppressed", "failed"
FINAL = ("sent", "failed", "in_doubt")
# Why a member got no message.
NO_EMAIL, NO_CONSENT, ON_SUPPRESSION_LIST, NOT_LIVE = (
    "no_email",
    "no_consent",
    "suppressed",
    "not_live",
)
TEMPLATE_ERROR = "template_error"
# The source of a consent confirmed through the double opt-in link (see hygiene).
CONFIRMED_SOURCE = "double opt-in"
BATCH = 100
MAX_RATE = 1000.0
UNSUBSCRIBE = "marketing.unsubscribe"
SUPPRESS = "marketing.suppression"
CAMPAIGN_SENT = "campaign.sent"
EMAIL_DELIVERED = "email.delivered"
EMAIL_UNSUBSCRIBED = "email.unsubscribed"


def tag(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def address_hash(app: AppContext, address: str) -> str:
    """What the suppression list keeps of an address: a keyed hash of its normalised form."""
    return app.tokens.digest(SUPPRESS, address.strip().lower())


def check_address(value: str | None, errors: Collector, *path: str) -> str | None:
    if value is None:
        return None
    try:
        validate_email(re.sub(r"^.*<(.*)>\s*$", r"\1", value.strip()), check_deliverability=False)
    except EmailNotValidError as exc:
        errors.add("INVALID_EMAIL", str(exc), *path)
    if "\r" in value or "\n" in value:
        errors.add("INVALID_EMAIL", "an address holds no line break", *path)
    return value.strip()


async def get(session: AsyncSession, campaign_id: int, *at: str) -> MarketingCampaign:
    campaign = await session.get(MarketingCampaign, campaign_id)
    if campaign is None:
        raise fail("NOT_FOUND", "no such campaign", *at)
    return campaign


def every(_principal: Any, _filter: None) -> Select[Any]:
    """Every campaign (the ``emailCampaigns`` list shows the newest first)."""
    return select(MarketingCampaign)


async def sends(
    session: AsyncSession, campaign_id: int, first: int, status: str | None
) -> list[MarketingSend]:
    """A campaign's first send-log rows (by id), optionally of one status."""
    statement = select(MarketingSend).where(MarketingSend.campaign_id == campaign_id)
    if status is not None:
        statement = statement.where(MarketingSend.status == status)
    return list(await session.scalars(statement.order_by(MarketingSend.id).limit(first)))


async def save(
    session: AsyncSession,
    settings: MarketingSettings,
    default_currency: str,
    campaign_id: int | None,
    fields: dict,
) -> MarketingCampaign:
    """Create a draft (``campaign_id`` None) or change one; ``fields`` holds the input's given
    values by column name. Templates are compiled and tried on a sample customer now, so a
    mistake is an error with its line here, not at send time."""
    errors = Collector()
    if campaign_id is None:
        campaign = MarketingCampaign(
            send_rate=settings.send_rate, currency=default_currency, text_template=""
        )
    else:
        campaign = await get(session, campaign_id, "input", "id")
        if campaign.status != DRAFT:
            raise fail(
                "NOT_DRAFT", f"the campaign is {campaign.status}; only drafts change", "input", "id"
            )
    if "name" in fields:
        name = " ".join((fields["name"] or "").split())
        taken = await session.scalar(
            select(MarketingCampaign.id).where(MarketingCampaign.name == name)
        )
        if not name:
            errors.add("REQUIRED", "a campaign needs a name", "input", "name")
        elif len(name) > 200:
            errors.add("TOO_LONG", "at most 200 characters", "input", "name")
        elif taken is not None and taken != campaign.id:
            errors.add("DUPLICATE", f"a campaign named {name!r} exists", "input", "name")
        campaign.name = name
    if "segment_id" in fields:
        if await session.get(MarketingSegment, fields["segment_id"]) is None:
            errors.add("NOT_FOUND", "no such segment", "input", "segmentId")
        campaign.segment_id = fields["segment_id"]
    if "sender" in fields:
        campaign.sender = check_address(fields["sender"], errors, "input", "sender")  # type: ignore[assignment]
    if "reply_to" in fields:
        campaign.reply_to = check_address(fields["reply_to"], errors, "input", "replyTo")
    for key in (
        "subject",
        "text_template",
        "html_template",
        "variant_subject",
        "variant_text_template",
        "variant_html_template",
    ):
        if key in fields:
            setattr(campaign, key, fields[key])
    if fields.get("variant_split") is not None:
        if not 0 <= fields["variant_split"] <= 0.9:
            errors.add("INVALID_VALUE", "a share from 0 to 0.9", "input", "variantSplit")
        campaign.variant_split = fields["variant_split"]
    if "send_rate" in fields:
        if not 0 < fields["send_rate"] <= MAX_RATE:
            errors.add(
                "INVALID_VALUE",
                f"from more than 0 to {MAX_RATE:g} messages a second",
                "input",
                "sendRate",
            )
        campaign.send_rate = fields["send_rate"]
    if "cost" in fields:
        try:
            cost = Decimal(str(fields["cost"]))
            if not cost.is_finite() or cost < 0 or cost > Decimal("1e12"):
                raise InvalidOperation
            campaign.cost = cost
        except InvalidOperation:
            errors.add("INVALID_VALUE", "a cost is an amount from 0", "input", "cost")
    if fields.get("currency") is not None:
        if not re.fullmatch(r"[A-Z]{3}", fields["currency"]):
            errors.add("INVALID_CURRENCY", "an ISO 4217 code such as EUR", "input", "currency")
        campaign.currency = fields["currency"]
    if campaign.subject is not None and "\n" in campaign.subject:
        errors.add("INVALID_VALUE", "a subject is one line", "input", "subject")
    templates.check(
        campaign.subject or "", campaign.text_template or "", campaign.html_template, errors
    )
    errors.check()
    campaign.updated_at = utcnow()
    session.add(campaign)
    await session.flush()
    return campaign


def _variant_sources(campaign: MarketingCampaign) -> tuple[str, str, str | None] | None:
    """Variant B's subject, text and HTML (A's where B gives none); None without a variant."""
    if not (
        campaign.variant_subject or campaign.variant_text_template or campaign.variant_html_template
    ):
        return None
    return (
        campaign.variant_subject or campaign.subject,
        campaign.variant_text_template or campaign.text_template,
        campaign.variant_html_template or campaign.html_template,
    )


async def schedule(
    session: AsyncSession, campaign_id: int, at: datetime | None
) -> MarketingCampaign:
    """Send a draft now or at ``at``: a one-shot job, committed with the status change."""
    campaign = await get(session, campaign_id, "input", "id")
    if campaign.status != DRAFT:
        raise fail("NOT_DRAFT", f"the campaign is {campaign.status} already", "input", "id")
    now = utcnow()
    when = max(at, now) if at is not None else now
    campaign.status = SCHEDULED
    campaign.scheduled_at = when
    campaign.updated_at = now
    session.add(campaign)
    await schedule_once(
        session, NAME, SEND_CAMPAIGN, when, {"campaign": campaign.id}, key=tag(campaign.id)
    )  # type: ignore[arg-type]
    return campaign


async def cancel(session: AsyncSession, campaign_id: int) -> MarketingCampaign:
    """A scheduled campaign goes back to nothing: cancelled, its job with it."""
    campaign = await get(session, campaign_id, "input", "id")
    if campaign.status != SCHEDULED:
        raise fail("NOT_SCHEDULED", f"the campaign is {campaign.status}", "input", "id")
    campaign.status = CANCELLED
    campaign.updated_at = utcnow()
    session.add(campaign)
    await cancel_job(session, NAME, SEND_CAMPAIGN, key=tag(campaign.id))  # type: ignore[arg-type]
    return campaign


# -- sending -----------------------------------------------------------------------------


async def _granted(
    session: AsyncSession, customer_ids: list[int], confirmed: bool = False
) -> set[int]:
    """Customers whose e-mail consent in force (the newest record) is granted (and, with
    ``confirmed``, was given through the double opt-in link)."""
    rows = await session.execute(
        select(ConsentRow.customer_id, ConsentRow.granted, ConsentRow.source)
        .where(ConsentRow.customer_id.in_(customer_ids), ConsentRow.channel == "email")
        .order_by(ConsentRow.recorded_at, ConsentRow.id)
    )
    latest: dict[int, bool] = {}
    for customer_id, granted, source in rows:
        latest[customer_id] = granted and (not confirmed or source == CONFIRMED_SOURCE)
    return {customer_id for customer_id, granted in latest.items() if granted}


async def why_not_email(
    session: AsyncSession, app: AppContext, customer: CustomerRow
) -> str | None:
    """Why this customer may not be e-mailed (no address, suppressed, no consent), or None."""
    settings: MarketingSettings = app.plugin_settings(NAME)
    if not customer.email:
        return NO_EMAIL
    if await _suppressed(session, [address_hash(app, customer.email)]):
        return ON_SUPPRESSION_LIST
    if not await _granted(session, [customer.id], settings.double_opt_in):  # type: ignore[list-item]
        return NO_CONSENT
    return None


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 and RFC 8058 (one-click) unsubscribe headers for ``url``."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


async def _suppressed(session: AsyncSession, hashes: list[str]) -> set[str]:
    found = await session.scalars(
        select(MarketingSuppression.address_hash).where(
            MarketingSuppression.address_hash.in_(hashes)
        )
    )
    return set(found)


def unsubscribe_url(
    app: AppContext, settings: MarketingSettings, customer_id: int, campaign_id: int
) -> str:
    token = app.tokens.make(
        UNSUBSCRIBE, customer_id, timedelta(days=settings.link_days), data={"campaign": campaign_id}
    )
    return f"{settings.public_url.rstrip('/')}/p/{NAME}/unsubscribe/{token}"


async def _send_batch(
    app: AppContext,
    session: AsyncSession,
    campaign: MarketingCampaign,
    compiled: dict[str | None, templates.Templates],
    customer_ids: list[int],
    slot: datetime,
) -> datetime:
    """Write the send-log rows and queue the messages of one batch; the next free slot."""
    settings: MarketingSettings = app.plugin_settings(NAME)
    found = await session.scalars(
        select(CustomerRow).where(
            CustomerRow.id.in_(customer_ids),
            CustomerRow.deleted_at.is_(None),
            CustomerRow.erased_at.is_(None),
        )
    )
    customers = {customer.id: customer for customer in found}
    granted = await _granted(session, list(customers), settings.double_opt_in)
    hashes = {c.id: address_hash(app, c.email) for c in customers.values() if c.email}
    suppressed = await _suppressed(session, list(hashes.values()))
    pause = timedelta(seconds=1 / campaign.send_rate)
    for customer_id in customer_ids:
        customer = customers.get(customer_id)
        reason = (
            NOT_LIVE
            if customer is None
            else NO_EMAIL
            if not customer.email
            else ON_SUPPRESSION_LIST
            if hashes[customer_id] in suppressed
            else NO_CONSENT
            if customer_id not in granted
            else None
        )
        if reason is not None or customer is None:
            session.add(
                MarketingSend(
                    campaign_id=campaign.id,
                    customer_id=customer_id,
                    status=SUPPRESSED,
                    reason=reason,
                )
            )
            continue
        variant = abtest.variant_of(campaign.id, customer_id, campaign.variant_split)  # type: ignore[arg-type]
        chosen = compiled[abtest.B if variant == abtest.B else None]
        send = MarketingSend(
            campaign_id=campaign.id, customer_id=customer_id, status=QUEUED, variant=variant
        )
        session.add(send)
        await session.flush()  # its id goes into the tracking links
        url = unsubscribe_url(app, settings, customer_id, campaign.id)  # type: ignore[arg-type]
        values = templates.personalisation(customer, campaign.name, url)
        try:
            subject = templates.render(chosen.subject, values)
            text = templates.render(chosen.text, values)
            html = templates.render(chosen.html, values) if chosen.html is not None else None
        except Exception:  # a customer's value the template cannot take (counted, not sent)
            send.status, send.reason = FAILED, TEMPLATE_ERROR
            continue
        if html is not None:
            html = tracking.tracked(app, send.id, html, keep=url)  # type: ignore[arg-type]
        try:
            queued = await queue_email(
                session,
                owner=NAME,
                sender=campaign.sender,
                to=customer.email,  # type: ignore[arg-type]
                subject=" ".join(subject.split()),
                text=text,
                html=html,
                reply_to=campaign.reply_to,
                headers=unsubscribe_headers(url),
                tag=tag(campaign.id),  # type: ignore[arg-type]
                send_after=slot,
            )
        except ValidationFailed:  # an address the mail service refuses
            send.status, send.reason = SUPPRESSED, NO_EMAIL
            continue
        send.message_id = queued.message_id
        slot += pause
    return slot


async def run(app: AppContext, campaign_id: int) -> None:
    """The send job: every member without a send-log row gets one, batch by batch. Safe to run
    again (a retry, a process that died): what was written is skipped."""
    async with app.write() as session:
        campaign = await session.get(MarketingCampaign, campaign_id)
        if campaign is None or campaign.status not in (SCHEDULED, SENDING):
            return
        if campaign.status == SCHEDULED:
            campaign.status = SENDING
            campaign.started_at = utcnow()
            segment = await session.get(MarketingSegment, campaign.segment_id)
            if segment is not None:  # the audience as it is now
                await segments.refresh(session, segment, segments.filter_context(app, True))
        session.add(campaign)
    compiled = {
        None: templates.compiled(campaign.subject, campaign.text_template, campaign.html_template)
    }
    variant = _variant_sources(campaign)
    if variant is not None and campaign.variant_split:
        compiled[abtest.B] = templates.compiled(*variant)
    slot = utcnow()
    while True:
        async with app.write() as session:
            campaign = await session.get(MarketingCampaign, campaign_id)
            if campaign is None or campaign.status != SENDING:
                return
            done = select(MarketingSend.customer_id).where(MarketingSend.campaign_id == campaign_id)
            pending = list(
                await session.scalars(
                    select(segments.MarketingSegmentMember.customer_id)
                    .where(
                        segments.MarketingSegmentMember.segment_id == campaign.segment_id,
                        segments.MarketingSegmentMember.customer_id.not_in(done),
                    )
                    .order_by(segments.MarketingSegmentMember.customer_id)
                    .limit(BATCH)
                )
            )
            if pending:
                slot = await _send_batch(
                    app, session, campaign, compiled, pending, max(slot, utcnow())
                )
                continue
            campaign.status = SENT
            campaign.finished_at = utcnow()
            session.add(campaign)
            counts = await send_counts(session, campaign_id)
            await emit(
                session,
                CAMPAIGN_SENT,
                "EmailCampaign",
                campaign_id,
                {
                    "campaignId": ids.campaign_id(campaign_id),
                    "queued": counts.get(QUEUED, 0) + sum(counts.get(s, 0) for s in FINAL),
                    "suppressed": counts.get(SUPPRESSED, 0),
                },
            )
            return


async def send_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(MarketingSend.status, func.count())
        .where(MarketingSend.campaign_id == campaign_id)
        .group_by(MarketingSend.status)
    )
    return dict(rows.all())  # type: ignore[arg-type]


async def follow(app: AppContext) -> int:
    """Bring queued send-log rows up to their message's fate (sent, failed, in doubt),
    announcing each delivery (``email.delivered``). How many rows changed. Reads first and
    writes only when something changed, so an idle campaign takes no write lock."""
    async with app.read() as session:
        rows = (
            await session.execute(
                select(MarketingSend.id, MarketingSend.message_id, MarketingSend.status)
                .where(MarketingSend.status.in_((QUEUED, "in_doubt")))
                .limit(1000)
            )
        ).all()
        statuses = await email_statuses(session, [r.message_id for r in rows if r.message_id])
    moved = {
        row.id: statuses[row.message_id]
        for row in rows
        if statuses.get(row.message_id) in FINAL and statuses[row.message_id] != row.status
    }
    if not moved:
        return 0
    async with app.write() as session:
        for send in await session.scalars(
            select(MarketingSend).where(MarketingSend.id.in_(list(moved)))
        ):
            if send.status not in (QUEUED, "in_doubt"):
                continue  # settled meanwhile (a bounce report)
            send.status = moved[send.id]  # type: ignore[index]
            session.add(send)
            if send.status == "sent":
                send.delivered_at = utcnow()
                await emit(
                    session,
                    EMAIL_DELIVERED,
                    "Customer",
                    send.customer_id,
                    {"campaignId": ids.campaign_id(send.campaign_id), "messageId": send.message_id},
                )
    return len(moved)


async def consent_granted(session: AsyncSession, customer_id: int) -> bool:
    return customer_id in await _granted(session, [customer_id])


async def emit_unsubscribed(
    session: AsyncSession, customer_id: int, campaign_id: int | None
) -> None:
    """``campaignId`` is null for an automation's message."""
    campaign = ids.campaign_id(campaign_id) if campaign_id is not None else None
    await emit(session, EMAIL_UNSUBSCRIBED, "Customer", customer_id, {"campaignId": campaign})
