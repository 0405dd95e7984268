"""The plugin's scheduled job: the SLA check, run by the core's scheduler in one server
process at a time, announcing warnings and breaches (each once: see :func:`sla.settle`)."""

from __future__ import annotations

from sqlalchemy import select

from crm_graph.plugin import AppContext, JobRun, ScheduledJob
from crm_service import clock, sla
from crm_service.config import NAME, SLA_CHECK, ServiceSettings
from crm_service.models import Ticket

BATCH = 500


async def check_slas(app: AppContext, run: JobRun) -> None:
    """Settle every ticket whose next deadline is within the warning lead time (or past)."""
    settings: ServiceSettings = app.plugin_settings(NAME)
    now = clock.now()
    async with app.write() as session:
        due = await session.scalars(
            select(Ticket)
            .where(Ticket.sla_due_at <= now + settings.sla_warning_lead)
            .order_by(Ticket.sla_due_at, Ticket.id)
            .limit(BATCH)
            .with_for_update()
        )
        for ticket in list(due):
            await sla.settle(session, ticket, now, settings.sla_warning_lead)


def declarations(settings: ServiceSettings) -> list[ScheduledJob]:
    return [ScheduledJob(SLA_CHECK, check_slas, schedule=settings.sla_check_every)]
