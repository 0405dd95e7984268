"""Web forms: a contact form on the shop's site opens tickets through
``POST /p/service/forms/{token}``. Each form has its own token (signed, bound to the form, not
single-use: the form is posted many times); closing the form refuses it from then on. The
core's rate limit of public routes (per client address) keeps a form from being flooded.
No GraphQL here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    ValidationFailed,
    fail,
)
from crm_service import lifecycle, requesters, tickets
from crm_service.models import Ticket, WebForm
from crm_service.values import clean

PURPOSE = "service.web_form"
# A form's link lives as long as the form: closing the form is how it is revoked.
VALID_FOR = timedelta(days=3650)


async def create(
    session: AsyncSession,
    app: AppContext,
    name: Any,
    priority: str,
    team_id: int | None,
    at: tuple[str, ...] = ("input",),
) -> WebForm:
    errors = Collector()
    name = clean(name, errors, (*at, "name"), 100, True)
    await tickets.check_people(session, None, team_id, errors, at)
    errors.check()
    if await session.scalar(select(WebForm.id).where(WebForm.name == name)):
        raise fail("DUPLICATE", f"a form is already named {name!r}", *at, "name")
    form = WebForm(name=name, priority=lifecycle.PRIORITIES[priority], team_id=team_id)
    session.add(form)
    await session.flush()
    form.token = app.tokens.make(PURPOSE, form.id, VALID_FOR)
    return form


async def close(session: AsyncSession, form_id: int, at: tuple[str, ...]) -> WebForm:
    form = await session.get(WebForm, form_id)
    if form is None:
        raise fail("NOT_FOUND", "no such form", *at, "id")
    form.active = False
    return form


class FormClosed(Exception):
    """The form of a valid token was closed (or deleted)."""


async def submit(session: AsyncSession, app: AppContext, token: str, body: Any) -> Ticket:
    """A ticket from a form post ``{"name", "email", "subject", "description"}``: the customer whose
    e-mail address it is, or a new one; every problem of the post at once."""
    form = await session.get(WebForm, int(app.tokens.check(token, PURPOSE).subject))
    if form is None or not form.active:
        raise FormClosed
    if not isinstance(body, dict):
        raise fail("INVALID_VALUE", "send a JSON object", "body")
    errors = Collector()
    name = clean(body.get("name", ""), errors, ("name",), 300, True)
    email = clean(body.get("email", ""), errors, ("email",), 300, True)
    if errors.errors:
        raise ValidationFailed(errors.errors)
    customer = await requesters.customer_for(session, app, name, email)
    new = tickets.NewTicket(
        customer_id=customer.id,
        subject=body.get("subject", ""),
        description=body.get("description", ""),
        channel="WEB",
        priority=lifecycle.PRIORITY_NAMES[form.priority],
        team_id=form.team_id,
    )
    ticket = await tickets.create(session, new, None, at=())
    return ticket
