"""Opens and clicks: a campaign's HTML gets an open pixel and its links go through a click
redirect, both with signed tokens naming the send. A click redirects only to the URL its own
token carries, signed when the message was made: no link outside the campaign's messages can
be made to redirect (no open redirect). The first open of a message and the first click of
each of its links are logged as the customer's interactions and announced
(``email.opened``, ``email.clicked``); every one is kept as a touch for attribution.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import AppContext, emit, log_interaction
from crm_marketing import ids
from crm_marketing.settings import NAME, MarketingSettings
from crm_marketing.tables import MarketingCampaign, MarketingSend, MarketingTouch

OPEN = "marketing.open"
CLICK = "marketing.click"
EMAIL_OPENED = "email.opened"
EMAIL_CLICKED = "email.clicked"
LINK = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)
MAX_URL = 2000


def _url(app: AppContext, purpose: str, send_id: int, data: dict | None = None) -> str:
    settings: MarketingSettings = app.plugin_settings(NAME)
    token = app.tokens.make(purpose, send_id, timedelta(days=settings.link_days), data=data)
    path = "o" if purpose == OPEN else "c"
    return f"{settings.public_url.rstrip('/')}/p/{NAME}/{path}/{token}"


def tracked(app: AppContext, send_id: int, body: str, keep: str) -> str:
    """The HTML with each http(s) link (but ``keep``, the unsubscribe link) through the click
    redirect and the open pixel at the end of the body."""

    def through_redirect(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        if url == keep or len(url) > MAX_URL:
            return match.group(0)
        redirect = html.escape(_url(app, CLICK, send_id, {"url": url}))
        return f"{match.group(1)}{match.group(2)}{redirect}{match.group(2)}"

    body = LINK.sub(through_redirect, body)
    pixel = f'<img src="{html.escape(_url(app, OPEN, send_id))}" width="1" height="1" alt="">'
    closing = body.lower().rfind("</body>")
    return body[:closing] + pixel + body[closing:] if closing >= 0 else body + pixel


async def record(
    session: AsyncSession, send_id: int, kind: str, url: str | None = None
) -> MarketingSend | None:
    """Keep the touch; the first of its kind (per link, for clicks) is an interaction and an
    event. None when the send is gone (its customer erased)."""
    send = await session.get(MarketingSend, send_id)
    if send is None:
        return None
    earlier = await session.scalar(
        select(MarketingTouch.id).where(
            MarketingTouch.send_id == send_id,
            MarketingTouch.kind == kind,
            MarketingTouch.url.is_(None) if url is None else MarketingTouch.url == url,
        )
    )
    session.add(
        MarketingTouch(
            send_id=send_id,
            campaign_id=send.campaign_id,
            customer_id=send.customer_id,
            kind=kind,
            url=url,
        )
    )
    if earlier is not None:
        return send
    campaign = await session.get(MarketingCampaign, send.campaign_id)
    name = campaign.name if campaign is not None else "a campaign"
    what = (
        f"Opened the e-mail {name!r}" if kind == "open" else f"Clicked {url} in the e-mail {name!r}"
    )
    await log_interaction(
        session, send.customer_id, channel="email", direction="inbound", subject=what[:500], at=()
    )
    payload = {"campaignId": ids.campaign_id(send.campaign_id)}
    if url is not None:
        payload["url"] = url
    await emit(
        session,
        EMAIL_OPENED if kind == "open" else EMAIL_CLICKED,
        "Customer",
        send.customer_id,
        payload,
    )
    return send
