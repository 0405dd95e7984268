"""The plugin's public routes under ``/p/marketing/``: the unsubscribe link every campaign
message carries (``List-Unsubscribe``; its signed token names the customer and campaign), the
double opt-in confirmation link, the open pixel and the click redirect.

RFC 8058: a mail client's one-click unsubscribe is a POST with the body
``List-Unsubscribe=One-Click``, and it must work without further interaction; a GET (a person
clicking, or a scanner fetching the link) only shows a page with a button that POSTs, so no
prefetch ever unsubscribes anybody.
"""

from __future__ import annotations

import html

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from crm_graph.plugin import (
    PUBLIC,
    AppContext,
    CustomerRow,
    PluginRoute,
    RouteContext,
    RouteError,
    record_consent,
    utcnow,
)
from crm_marketing import campaigns, hygiene, tracking
from crm_marketing.tables import MarketingSend, MarketingSuppression

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p>{form}</main></body></html>"""


def _page(title: str, text: str, form: str = "") -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=title, text=text, form=form))


async def unsubscribe_page(request: Request, context: RouteContext) -> Response:
    """GET: what the link does, and a button to do it (nothing changes on a GET)."""
    token = request.path_params["token"]
    context.app.tokens.check(token, campaigns.UNSUBSCRIBE)
    form = (
        f'<form method="post" action="{html.escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", "Stop receiving these e-mails?", form)


async def unsubscribe(request: Request, context: RouteContext) -> Response:
    """POST: withdraw the customer's e-mail consent through the core's consent records and
    put the address on the suppression list (a keyed hash). Repeating it changes nothing."""
    app = context.app
    link = app.tokens.check(request.path_params["token"], campaigns.UNSUBSCRIBE)
    customer_id, campaign_id = int(link.subject), link.data.get("campaign")
    async with app.write() as session:
        await unsubscribe_customer(session, app, customer_id, campaign_id)
    return _page("Unsubscribed", "You will receive no more of these e-mails.")


async def unsubscribe_customer(
    session: AsyncSession, app: AppContext, customer_id: int, campaign_id: int | None
) -> None:
    customer = await session.get(CustomerRow, customer_id)
    if customer is None or customer.erased_at is not None:
        return  # erased since: nothing left to withdraw (the suppression hash stays)
    if customer.email:
        digest = campaigns.address_hash(app, customer.email)
        if await session.get(MarketingSuppression, digest) is None:
            session.add(MarketingSuppression(address_hash=digest, reason=hygiene.UNSUBSCRIBED))
    if not await campaigns.consent_granted(session, customer_id):
        return  # withdrawn already: one record per decision
    where = f"campaign {campaign_id}" if campaign_id is not None else "automation"
    await record_consent(
        session, customer_id, "email", False, source=f"unsubscribe link, {where}", at=()
    )
    await session.execute(
        update(MarketingSend)
        .where(MarketingSend.campaign_id == campaign_id, MarketingSend.customer_id == customer_id)
        .values(unsubscribed_at=utcnow())
    )
    await campaigns.emit_unsubscribed(session, customer_id, campaign_id)


async def confirm_page(request: Request, context: RouteContext) -> Response:
    """GET /confirm/{token}: the double opt-in link shows a button (a scanner confirms nothing)."""
    token = request.path_params["token"]
    context.app.tokens.check(token, hygiene.CONFIRM)
    form = (
        f'<form method="post" action="{html.escape(token)}">'
        '<button type="submit">Yes, send me e-mails</button></form>'
    )
    return _page("Confirm your subscription", "Do you want to receive our e-mails?", form)


async def confirm(request: Request, context: RouteContext) -> Response:
    """POST /confirm/{token}: the consent is confirmed, once (a single-use token)."""
    async with context.app.write() as session:
        link = await context.app.tokens.use(session, request.path_params["token"], hygiene.CONFIRM)
        await hygiene.confirm(session, context.app, int(link.subject))
    return _page("Subscribed", "Thank you: your subscription is confirmed.")


# A transparent 1x1 GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


async def opened(request: Request, context: RouteContext) -> Response:
    """GET /o/{token}: the open pixel."""
    link = context.app.tokens.check(request.path_params["token"], tracking.OPEN)
    async with context.app.write() as session:
        await tracking.record(session, int(link.subject), "open")
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


async def clicked(request: Request, context: RouteContext) -> Response:
    """GET /c/{token}: record the click, then redirect to the URL the token was signed with
    (only a link of the campaign's own messages: the token is the only source of the URL)."""
    link = context.app.tokens.check(request.path_params["token"], tracking.CLICK)
    url = str(link.data.get("url", ""))
    if not url.startswith(("https://", "http://")):
        raise RouteError(400, "INVALID_LINK", "the link has no address to go to")
    async with context.app.write() as session:
        await tracking.record(session, int(link.subject), "click", url)
    return RedirectResponse(url, status_code=302)


ROUTES = [
    PluginRoute("/unsubscribe/{token}", unsubscribe_page, permission=PUBLIC, methods=("GET",)),
    PluginRoute("/unsubscribe/{token}", unsubscribe, permission=PUBLIC, methods=("POST",)),
    PluginRoute("/confirm/{token}", confirm_page, permission=PUBLIC, methods=("GET",)),
    PluginRoute("/confirm/{token}", confirm, permission=PUBLIC, methods=("POST",)),
    PluginRoute("/o/{token}", opened, permission=PUBLIC),
    PluginRoute("/c/{token}", clicked, permission=PUBLIC),
]
