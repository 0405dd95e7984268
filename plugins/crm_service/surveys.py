"""CSAT and NPS surveys: made when a ticket is resolved (CSAT) or sent to any customer (NPS),
answered once through a signed, single-use, expiring link. No GraphQL here.

The token is the answer's only credential: it names the survey, expires with it, and is used
in the unit of work that records the answer, so a reused, expired or forged link writes
nothing.
"""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import AppContext, Collector, CustomerRow, emit, queue_email, to_global_id
from crm_service import clock
from crm_service.config import NAME, ServiceSettings
from crm_service.models import Survey, Ticket
from crm_service.values import ERASED, MAX_TEXT, clean

PURPOSE = "service.survey"
CSAT = "CSAT"
NPS = "NPS"
SCALES = {CSAT: (1, 5), NPS: (0, 10)}
QUESTIONS = {
    CSAT: "How satisfied are you with the help you got? (1 = very dissatisfied, 5 = very "
    "satisfied)",
    NPS: "How likely are you to recommend us to a friend or colleague? (0 = not at all, 10 = "
    "extremely likely)",
}


class SurveyGone(Exception):
    """The survey of a valid token no longer exists, or was answered through another link."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def link(settings: ServiceSettings, token: str) -> str:
    return settings.survey_url.replace("{token}", token)


async def send(
    session: AsyncSession,
    app: AppContext,
    kind: str,
    customer: CustomerRow,
    ticket: Ticket | None = None,
) -> Survey:
    """Make a survey and its link in the caller's unit of work, and queue its e-mail when a
    sender is configured and the customer has an address (sent only if the unit commits)."""
    settings: ServiceSettings = app.plugin_settings(NAME)
    now = clock.now()
    survey = Survey(
        kind=kind,
        customer_id=customer.id,
        ticket_id=ticket.id if ticket else None,
        sent_at=now,
        expires_at=now + settings.survey_valid_for,
        token="",
    )
    session.add(survey)
    await session.flush()
    survey.token = app.tokens.make(
        PURPOSE, survey.id, settings.survey_valid_for, single_use=True, data={"kind": kind}
    )
    if settings.email_from is not None and customer.email:
        url = link(settings, survey.token)
        about = f" about \u201c{ticket.subject}\u201d" if ticket else ""
        queued = await queue_email(
            session,
            owner=NAME,
            sender=settings.email_from,
            to=customer.email,
            subject="How did we do?" if kind == CSAT else "Would you recommend us?",
            text=f"{QUESTIONS[kind]}{about}\n\nAnswer here: {url}\n",
            html=f'<p>{html.escape(QUESTIONS[kind] + about)}</p><p><a href="{html.escape(url)}">'
            "Answer the survey</a></p>",
            tag=f"survey-{kind.lower()}",
        )
        survey.message_id = queued.message_id
    await session.flush()
    return survey


async def on_resolved(session: AsyncSession, app: AppContext, ticket: Ticket) -> Survey | None:
    """The CSAT survey of a resolved ticket: made on its first resolution only (a reopened
    ticket resolved again keeps its survey, answered or not)."""
    found = await session.scalar(
        select(Survey).where(Survey.ticket_id == ticket.id, Survey.kind == CSAT)
    )
    if found is not None:
        return None
    customer = await session.get(CustomerRow, ticket.customer_id)
    if customer is None:
        return None
    return await send(session, app, CSAT, customer, ticket)


def check_answer(kind: str, body: Any) -> tuple[int, str | None]:
    """The rating (within the survey's scale) and the optional comment of an answer."""
    errors = Collector()
    if not isinstance(body, dict):
        errors.add("INVALID_VALUE", "send a JSON object with a rating", "rating")
        errors.check()
    low, high = SCALES[kind]
    rating = body.get("rating")
    if type(rating) is not int or not low <= rating <= high:
        errors.add("INVALID_VALUE", f"a whole number from {low} to {high}", "rating")
    comment = body.get("comment")
    text = None
    if comment is not None:
        text = clean(comment, errors, ("comment",), MAX_TEXT, False) or None
    errors.check()
    return rating, text


async def answer(session: AsyncSession, app: AppContext, token: str, body: Any) -> Survey:
    """Record the answer a link carries: the token is used in this unit of work (so an error
    below leaves it unused and nothing written), ``survey.responded`` emitted with it."""
    used = await app.tokens.use(session, token, PURPOSE)
    survey = await session.scalar(
        select(Survey).where(Survey.id == int(used.subject)).with_for_update()
    )
    if survey is None:
        raise SurveyGone("NOT_FOUND", "this survey no longer exists")
    if survey.responded_at is not None:
        raise SurveyGone("SURVEY_ANSWERED", "this survey was answered already")
    survey.rating, survey.comment = check_answer(survey.kind, body)
    survey.responded_at = clock.now()
    payload = {
        "kind": survey.kind,
        "rating": survey.rating,
        "customerId": to_global_id("Customer", survey.customer_id),
        "ticketId": to_global_id("Ticket", survey.ticket_id) if survey.ticket_id else None,
    }
    await emit(session, "survey.responded", "Survey", survey.id, payload, actor="customer")
    await session.flush()
    return survey


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> int:
    moved = await session.execute(
        update(Survey).where(Survey.customer_id.in_(merged_ids)).values(customer_id=survivor_id)
    )
    return moved.rowcount


async def erase(session: AsyncSession, customer_id: int) -> None:
    """An answer's comment is the customer's words: erased; the rating stays for the metrics."""
    await session.execute(
        update(Survey)
        .where(Survey.customer_id == customer_id, Survey.comment.is_not(None))
        .values(comment=ERASED)
    )


async def export(session: AsyncSession, customer_id: int) -> list[dict[str, Any]]:
    found = await session.scalars(
        select(Survey).where(Survey.customer_id == customer_id).order_by(Survey.id)
    )
    return [
        {
            "kind": s.kind,
            "sentAt": s.sent_at.isoformat(),
            "rating": s.rating,
            "comment": s.comment,
            "respondedAt": s.responded_at.isoformat() if s.responded_at else None,
        }
        for s in found
    ]
