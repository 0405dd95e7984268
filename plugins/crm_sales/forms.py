"""Web-to-lead: a public endpoint per form, ``POST /p/sales/forms/{token}``, turning a
website's contact form into a lead through the same rules as ``createLead``.

The token (a signed link token naming the form) is the form's credential, so it can sit in a
public page; deactivating the form shuts it. Bots are kept out by the core's per-address rate
limit, a per-form limit per minute (``CRM_PLUGIN_SALES_FORM_MAX_PER_MINUTE``) and a honeypot
field: a submission that fills it is answered like any other and written nowhere.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from crm_graph.plugin import (
    PUBLIC,
    AppContext,
    Collector,
    PluginRoute,
    RouteContext,
    RouteError,
    clean_text,
    fail,
    utcnow,
)
from crm_sales import leads
from crm_sales.config import NAME
from crm_sales.scopes import EVERYTHING
from crm_sales.tables import SalesLead, SalesWebForm

PURPOSE = "sales.web_form"
VALID_FOR = timedelta(days=3650)
FIELDS = ("name", "email", "phone", "company")


def form_token(app: AppContext, form: SalesWebForm) -> str:
    return app.tokens.make(PURPOSE, form.id, VALID_FOR)  # type: ignore[arg-type]


async def create_form(
    session: AsyncSession,
    name: str,
    source: str,
    owner_id: str | None,
    honeypot: str,
    at: tuple[str, ...] = ("input",),
) -> SalesWebForm:
    errors = Collector()
    clean = clean_text(name, errors, *at, "name", max_length=100, required=True)
    trap = clean_text(honeypot, errors, *at, "honeypot", max_length=64, required=True)
    if trap in FIELDS:
        errors.add("INVALID_VALUE", "the honeypot must not be a lead field", *at, "honeypot")
    checked = leads.check_lead({"source": source}, "US", errors, at)
    if owner_id is not None:
        await leads.deals.check_owner(session, owner_id, EVERYTHING, errors, *at, "ownerId")
    if clean and await session.scalar(select(SalesWebForm.id).where(SalesWebForm.name == clean)):
        errors.add("NAME_TAKEN", "another form has this name", *at, "name")
    errors.check()
    form = SalesWebForm(name=clean, source=checked["source"], owner_id=owner_id, honeypot=trap)
    session.add(form)
    await session.flush()
    return form


async def set_active(
    session: AsyncSession, form_id: int, active: bool, at: tuple[str, ...] = ("input",)
) -> SalesWebForm:
    """Open or close a form: a closed form answers 410 and takes no lead."""
    form = await session.get(SalesWebForm, form_id)
    if form is None:
        raise fail("NOT_FOUND", "no such form", *at, "id")
    form.active = active
    await session.flush()
    return form


async def _submission(request: Request) -> dict[str, Any]:
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            data = json.loads(body or b"{}")
        elif kind in ("application/x-www-form-urlencoded", ""):
            data = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        else:
            raise RouteError(415, "UNSUPPORTED_MEDIA_TYPE", "send JSON or a form (urlencoded)")
    except (UnicodeDecodeError, ValueError) as exc:
        raise RouteError(400, "INVALID_BODY", "the body does not parse") from exc
    if not isinstance(data, dict):
        raise RouteError(400, "INVALID_BODY", "the body must be an object")
    return data


async def submit(request: Request, context: RouteContext) -> JSONResponse:
    """POST /p/sales/forms/{token}: a lead from a website's form."""
    app = context.app
    token = app.tokens.check(request.path_params["token"], PURPOSE)
    data = await _submission(request)
    settings = app.plugin_settings(NAME)
    async with app.write() as session:
        form = await session.get(SalesWebForm, int(token.subject))
        if form is None or not form.active:
            raise RouteError(410, "FORM_CLOSED", "this form no longer takes submissions")
        if str(data.get(form.honeypot) or "").strip():
            return JSONResponse({"received": True}, status_code=202)
        since = utcnow() - timedelta(minutes=1)
        recent = await session.scalar(
            select(func.count(SalesLead.id)).where(
                SalesLead.form_id == form.id, SalesLead.created_at >= since
            )
        )
        if (recent or 0) >= settings.form_max_per_minute:
            raise RouteError(429, "RATE_LIMITED", "this form takes no more submissions now")
        extra = {
            str(k)[:100]: v
            for k, v in data.items()
            if k not in FIELDS and k != form.honeypot and isinstance(v, str | int | float | bool)
        }
        fields = {k: data.get(k) for k in FIELDS if data.get(k) is not None}
        for key, value in fields.items():
            if not isinstance(value, str):
                raise fail("INVALID_VALUE", "must be text", key)
        await leads.create_lead(
            session,
            {**fields, "source": form.source, "attributes": extra},
            EVERYTHING,
            None,
            app.settings.default_phone_region,
            at=(),
            form_id=form.id,
            owner=form.owner_id,
        )
    return JSONResponse({"received": True}, status_code=202)


ROUTES = [PluginRoute("/forms/{token}", submit, permission=PUBLIC, methods=("POST",))]
