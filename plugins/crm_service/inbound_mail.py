"""An incoming e-mail becomes a ticket, or a customer's reply on one.

The sender (``From``, else the envelope sender) is matched to a customer by address, or made
one (:mod:`crm_service.requesters`): a support address must not drop mail from someone the CRM
does not know yet. A mail whose ``In-Reply-To`` or ``References`` names a mail of a ticket of
the same customer is a reply on it (reopening a pending or resolved ticket); a reply to a closed
ticket, or from someone else, opens a new ticket. Everything one mail writes is one unit of
work; a mail that cannot be taken raises :class:`Refused` with the SMTP reply to give.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import AppContext, ValidationFailed
from crm_service import requesters, tickets
from crm_service.models import Ticket, TicketMessage
from crm_service.values import MAX_SUBJECT, MAX_TEXT

MESSAGE_ID = re.compile(r"<[^<>\s]{1,298}>")
TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
NO_SUBJECT = "(no subject)"


class Refused(Exception):
    """The mail is refused whole, nothing written; ``reply`` is the SMTP reply to give."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass
class Taken:
    """What a mail did: opened ``ticket`` (``comment`` None), replied on it, or nothing
    (``duplicate``: this Message-ID was taken before)."""

    ticket: Ticket | None
    comment_id: int | None = None
    duplicate: bool = False


def parse(raw: bytes) -> EmailMessage:
    try:
        message = BytesParser(policy=default_policy).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; what still fails is not a mail
        raise Refused("550 5.6.0 the message cannot be read") from exc
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str:
    """A header's text, or "" when absent or unreadable (a malformed header is a defect the
    mail can live with; only the sender is required)."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    return "" if value is None else str(value)


def sender(message: EmailMessage, envelope_from: str | None) -> tuple[str, str]:
    """``(name, address)`` of whom the mail is from: ``From``, else the envelope sender."""
    for candidate in (_header(message, "From"), envelope_from or ""):
        name, address = parseaddr(candidate)
        if "@" in address.strip("@"):
            return (name.strip() or address.split("@")[0]), address
    raise Refused("550 5.1.7 the message has no sender address")


def _text(message: EmailMessage) -> str:
    """The mail's text: its plain part, else its HTML part without the markup."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except Exception:  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        content = html.unescape(TAG.sub(" ", content))
    # Neither database stores NUL or lone surrogates: dropped, not a reason to lose the mail.
    return content.replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()


def _message_ids(value: str) -> list[str]:
    return MESSAGE_ID.findall(value)


async def _thread(session: AsyncSession, message: EmailMessage) -> Ticket | None:
    """The ticket the mail answers: the first of ``In-Reply-To``, then ``References`` from the
    newest, that a recorded mail names."""
    named = _message_ids(_header(message, "In-Reply-To"))
    named += reversed(_message_ids(_header(message, "References")))
    if not named:
        return None
    recorded = select(TicketMessage.message_id, TicketMessage.ticket_id).where(
        TicketMessage.message_id.in_(named)
    )
    found = {message_id: ticket_id for message_id, ticket_id in await session.execute(recorded)}
    for message_id in named:
        if message_id in found:
            return await session.get(Ticket, found[message_id])
    return None


async def take(
    session: AsyncSession, app: AppContext, raw: bytes, envelope_from: str | None
) -> Taken:
    """Open a ticket for the mail ``raw`` or add it to the ticket it answers."""
    message = parse(raw)
    ids = _message_ids(_header(message, "Message-ID"))
    own_id = ids[0] if ids else None
    if own_id and await session.scalar(
        select(TicketMessage.id).where(TicketMessage.message_id == own_id)
    ):
        return Taken(None, duplicate=True)
    name, address = sender(message, envelope_from)
    text = _text(message)
    if len(text) > MAX_TEXT:
        raise Refused(f"552 5.3.4 the message text is too long (at most {MAX_TEXT} characters)")
    subject = " ".join(_header(message, "Subject").split())[:MAX_SUBJECT] or NO_SUBJECT
    try:
        customer = await requesters.customer_for(session, app, name[:300], address)
        ticket = await _thread(session, message)
        if ticket and ticket.customer_id == customer.id and ticket.status != "CLOSED":
            comment = await tickets.add_comment(
                session, ticket, text or subject, True, None, from_customer=True, at=()
            )
            await session.flush()
            taken = Taken(ticket, comment.id)
        else:
            new = tickets.NewTicket(
                customer_id=customer.id, subject=subject, description=text, channel="EMAIL"
            )
            taken = Taken(await tickets.create(session, new, None, at=()))
    except ValidationFailed as exc:  # e.g. a sender address the core does not take
        problems = re.sub(r"[^ -~]", "?", str(exc))[:300]  # one line of ASCII, as SMTP wants
        raise Refused(f"550 5.6.0 the message cannot become a ticket ({problems})") from exc
    if own_id:
        assert taken.ticket is not None
        session.add(
            TicketMessage(message_id=own_id, ticket_id=taken.ticket.id, comment_id=taken.comment_id)
        )
    return taken
