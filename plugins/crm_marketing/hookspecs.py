"""Hooks the marketing plugin declares for other plugins (added via ``crm_add_hookspecs``).

Marketing keeps no tasks of its own: a CRM's tasks belong to whoever keeps people's work (the
sales plugin's ``SalesTask``, with its owner, due time and ``task.due`` reminders). An
automation's CREATE_TASK action asks for one through this hook, so marketing imports no other
plugin, and the action is offered only while some plugin implements it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import hookspec


@hookspec
def crm_marketing_create_task(
    session: AsyncSession,
    customer_id: int,
    title: str,
    notes: str | None,
    due_at: datetime,
    owner_id: str | None,
) -> str | Any | None:
    """Create a follow-up task about the customer, in the caller's unit of work (``session``:
    the task commits or rolls back with the automation run that asked for it).

    Receives the customer's primary key, the task's title and notes (already rendered), its
    due time (an aware UTC datetime) and the user who should do it (the customer's owner, or
    ``None`` for nobody in particular). Returns the new task's global ID, or a coroutine of it
    (``async def``); ``None`` when this implementation made no task. The first global ID
    returned is recorded on the run.
    """
