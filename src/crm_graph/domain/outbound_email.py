"""Queueing outbound e-mail in the caller's unit of work, looking messages up, and the admin's
way out of doubt (resend or mark).

A message is a row written with the business change it belongs to, so it is sent if and only
if that change commits; its ``Message-ID`` is chosen here, once, so a resend carries the same
one and receivers can tell a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.models import utcnow
from crm_graph.domain.errors import Collector, fail
from crm_graph.mail.models import FAILED, QUEUED, SENDING, SENT, STATUSES, OutboundEmail

MAX_RECIPIENTS = 100
# Headers the service writes itself from the message's fields.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "message-id", "date", "reply-to", "mime-version"}
)


@dataclass(frozen=True)
class QueuedEmail:
    """What ``queue_email`` returns: the message's row id and its ``Message-ID`` header."""

    id: int
    message_id: str


async def queue_email(
    session: AsyncSession,
    *,
    owner: str,
    sender: str,
    to: str | list[str],
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    tag: str | None = None,
    send_after: datetime | None = None,
) -> QueuedEmail:
    """Queue one message in ``session``'s unit of work; it is delivered after the commit.

    Bad addresses or headers raise ``ValidationFailed`` (code ``INVALID_EMAIL`` or
    ``INVALID_HEADER``, path ``email.<argument>``), so inside ``perform`` they are user errors.
    """
    errors = Collector()
    sender = _address(sender, errors, "sender")
    recipients = [to] if isinstance(to, str) else list(to)
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        errors.add("INVALID_EMAIL", f"from 1 to {MAX_RECIPIENTS} recipients", "email", "to")
    recipients = [_address(r, errors, "to", str(i)) for i, r in enumerate(recipients)]
    extra = dict(headers or {})
    if reply_to is not None:
        extra["Reply-To"] = _address(reply_to, errors, "replyTo")
    for name, value in list(extra.items()):
        if name.lower() in RESERVED_HEADERS - {"reply-to"} or not _header_ok(name, value):
            errors.add("INVALID_HEADER", f"header {name!r} cannot be set", "email", "headers")
    if not _header_ok("Subject", subject):
        errors.add("INVALID_HEADER", "the subject holds a line break", "email", "subject")
    errors.check()
    domain = parseaddr(sender)[1].rpartition("@")[2]
    row = OutboundEmail(
        message_id=f"<{uuid.uuid4().hex}@{domain}>",
        sender=sender,
        recipients=recipients,
        subject=subject,
        text_body=text,
        html_body=html,
        headers=extra,
        owner=owner,
        tag=tag,
        next_attempt_at=send_after or utcnow(),
    )
    session.add(row)
    await session.flush()
    return QueuedEmail(id=row.id, message_id=row.message_id)  # type: ignore[arg-type]


def _address(value: str, errors: Collector, *path: str) -> str:
    """``ada@example.com`` or ``Ada <ada@example.com>``, normalised."""
    name, address = parseaddr(value)
    try:
        if not address or "\r" in value or "\n" in value:
            raise EmailNotValidError("not an e-mail address")
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        errors.add("INVALID_EMAIL", str(exc), "email", *path)
        return value
    return formataddr((name, address)) if name else address


def _header_ok(name: str, value: str) -> bool:
    """No line breaks (header injection), a name of printable ASCII without a colon."""
    return (
        bool(name)
        and all(33 <= ord(c) <= 126 and c != ":" for c in name)
        and "\r" not in value
        and "\n" not in value
    )


async def email_status(session: AsyncSession, message_id: str) -> str | None:
    """The status of the message with this ``Message-ID`` (``None``: no such message)."""
    return await session.scalar(
        select(OutboundEmail.status).where(OutboundEmail.message_id == message_id)
    )


async def email_statuses(session: AsyncSession, message_ids: Sequence[str]) -> dict[str, str]:
    """The status of each of these messages by ``Message-ID``, in one statement (unknown
    ones are left out): for following many messages, a campaign's send log."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(OutboundEmail.message_id, OutboundEmail.status).where(
            OutboundEmail.message_id.in_(list(message_ids))
        )
    )
    return dict(rows.all())  # type: ignore[arg-type]


async def count_emails(session: AsyncSession, owner: str, tag: str | None = None) -> dict[str, int]:
    """How many of ``owner``'s messages (with ``tag``, if given) are in each status; every
    status is a key, 0 included."""
    stmt = select(OutboundEmail.status, func.count()).where(OutboundEmail.owner == owner)
    if tag is not None:
        stmt = stmt.where(OutboundEmail.tag == tag)
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in await session.execute(stmt.group_by(OutboundEmail.status)):
        counts[status] = count
    return counts


def emails_select(status: str | None = None, tag: str | None = None) -> Select[Any]:
    """Outbound messages, optionally of one status and tag (for paging by the caller)."""
    stmt = select(OutboundEmail)
    if status is not None:
        stmt = stmt.where(OutboundEmail.status == status)
    if tag is not None:
        stmt = stmt.where(OutboundEmail.tag == tag)
    return stmt


async def settle(session: AsyncSession, email_id: int, action: str) -> OutboundEmail:
    """An admin's decision on a message in doubt, failed or still waiting: ``resend`` queues it
    again now (same ``Message-ID``), ``sent``/``failed`` record what the admin learnt (a
    waiting message marked ``failed`` is never sent)."""
    row = await session.get(OutboundEmail, email_id, with_for_update=True)
    if row is None:
        raise fail("NOT_FOUND", "no such e-mail", "input", "id")
    if row.status in (SENDING, SENT):
        raise fail(
            "INVALID_STATUS",
            f"a message being sent or sent cannot be settled; this one is {row.status}",
            "input",
            "id",
        )
    now = utcnow()
    if action == "resend":
        row.status, row.next_attempt_at, row.attempts = QUEUED, now, 0
    elif action == "sent":
        row.status, row.sent_at = SENT, now
    else:
        row.status = FAILED
    row.updated_at = now
    return row
