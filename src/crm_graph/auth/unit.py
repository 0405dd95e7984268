"""What every mutation's unit of work carries: its caller, its scope and its audit row.

:func:`audited` wraps the work done inside ``perform`` (the one entry point of core and
plugin mutations): the session learns which permission governs row visibility and who the
actor is (events record it), and, when the work succeeded, the audit row is added to the same
transaction, so it commits, or rolls back, with the change. :func:`recorded` is the same for
work done outside GraphQL (the ``crm-graph keys`` commands).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.audit import AuditRecorder
from crm_graph.auth.declare import PERMISSION
from crm_graph.auth.principal import Principal
from crm_graph.auth.scope import SESSION_PERMISSION
from crm_graph.db.batch_writes import ROW_DEFAULTS
from crm_graph.events.outbox import ACTOR
from crm_graph.settings import Settings


@asynccontextmanager
async def recorded(
    session: AsyncSession,
    settings: Settings,
    operation: str,
    principal: Principal | None,
    request_id: str | None = None,
) -> AsyncIterator[None]:
    session.info[ACTOR] = principal.id if principal else None
    if principal is not None and principal.user_id is not None:
        session.info[ROW_DEFAULTS] = {"customer": {"owner_id": principal.user_id}}
    recorder = AuditRecorder(
        session.sync_session, settings.audit_hash_key.get_secret_value().encode()
    )
    try:
        yield
        await session.flush()
        await recorder.add_bulk(session)
        session.add(recorder.entry(operation, principal, request_id))
        await session.flush()
    finally:
        recorder.detach()


@asynccontextmanager
async def audited(session: AsyncSession, info: Any) -> AsyncIterator[None]:
    context = info.context
    session.info[SESSION_PERMISSION] = info._field.metadata.get(PERMISSION)
    principal = getattr(context, "principal", None)
    request_id = getattr(context, "request_id", None)
    async with recorded(session, context.app.settings, info.field_name, principal, request_id):
        yield
