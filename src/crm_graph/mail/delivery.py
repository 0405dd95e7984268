"""Delivering the outbound e-mail queue: a periodic job of the core scheduler
(``crm_graph.scheduler``, every ``CRM_SMTP_POLL_SECONDS`` while ``CRM_SMTP_URL`` is set) that
claims due messages under a lease, sends each once and records the outcome.

The scheduler runs the job in one process at a time; each message is still claimed with ``FOR
UPDATE SKIP LOCKED`` (serialised writes on SQLite) under a lease of its own, so a message is
never sent twice at once even when a run outlives its job's lease. A message whose run died
while sending (its lease ran out) may have reached the server: it is put *in doubt*, not sent
again.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.mail.models import (
    FAILED,
    IN_DOUBT,
    RETRYING,
    SENDING,
    SENT,
    WAITING,
    OutboundEmail,
)
from crm_graph.mail.smtp import Outcome, SmtpServer, send
from crm_graph.settings import Settings

if TYPE_CHECKING:
    from crm_graph.runtime import AppContext

JOB = "outbound_email"  # the core's job in scheduledJobs (plugin "core")
ABANDONED = "the worker stopped while sending (lease expired): the server may have it"


async def deliver_due(app: AppContext, _run: Any = None) -> None:
    """The job: send every message that is due, one at a time, until none is."""
    url = app.settings.smtp_url
    if url is None:
        return
    queue = Queue(app.engine, app.settings, uuid.uuid4().hex)
    if not await queue.any_due():
        return
    await queue.abandon_expired()
    server = SmtpServer.from_url(url.get_secret_value())
    while row := await queue.claim():
        outcome = await send(server, row, app.settings.smtp_timeout_seconds)
        await queue.record(row, outcome)


class Queue:
    """The queue as one run sees it: ``owner`` names the run's leases on messages."""

    def __init__(self, engine: AsyncEngine, settings: Settings, owner: str) -> None:
        self.engine, self.settings, self.owner = engine, settings, owner
        # Long enough for one attempt to time out and be recorded, with room to spare.
        self.lease = timedelta(seconds=settings.smtp_timeout_seconds * 3 + 5)

    async def any_due(self) -> bool:
        """A read-only look, so an idle process never takes SQLite's write lock."""
        now = utcnow()
        async with read_session(self.engine) as session:
            due = await session.scalar(
                select(OutboundEmail.id)
                .where(
                    or_(
                        OutboundEmail.status.in_(WAITING) & (OutboundEmail.next_attempt_at <= now),
                        (OutboundEmail.status == SENDING) & (OutboundEmail.lease_until < now),
                    )
                )
                .limit(1)
            )
        return due is not None

    async def abandon_expired(self) -> None:
        now = utcnow()
        async with write_session(self.engine) as session:
            await session.execute(
                update(OutboundEmail)
                .where(OutboundEmail.status == SENDING, OutboundEmail.lease_until < now)
                .values(
                    status=IN_DOUBT,
                    last_error=ABANDONED,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )

    async def claim(self) -> OutboundEmail | None:
        now = utcnow()
        async with write_session(self.engine) as session:
            row = await session.scalar(
                select(OutboundEmail)
                .where(OutboundEmail.status.in_(WAITING), OutboundEmail.next_attempt_at <= now)
                .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is not None:
                row.status, row.attempts = SENDING, row.attempts + 1
                row.lease_owner, row.lease_until = self.owner, now + self.lease
                row.updated_at = now
        return row

    async def record(self, row: OutboundEmail, outcome: Outcome) -> None:
        """Move the message on, unless this process's lease on it ran out meanwhile."""
        now = utcnow()
        values: dict[str, object] = {"last_error": outcome.error, "updated_at": now}
        values["lease_owner"] = values["lease_until"] = None
        if outcome.verdict == "sent":
            values.update(status=SENT, sent_at=now)
        elif outcome.verdict == "retry" and row.attempts < self.settings.smtp_max_attempts:
            delay = self.settings.smtp_retry_seconds * 2 ** (row.attempts - 1)
            next_at = now + timedelta(seconds=delay * random.uniform(0.9, 1.1))
            values.update(status=RETRYING, next_attempt_at=next_at)
        else:
            values["status"] = IN_DOUBT if outcome.verdict == "in_doubt" else FAILED
        async with write_session(self.engine) as session:
            await session.execute(
                update(OutboundEmail)
                .where(
                    OutboundEmail.id == row.id,
                    OutboundEmail.status == SENDING,
                    OutboundEmail.lease_owner == self.owner,
                )
                .values(**values)
            )
