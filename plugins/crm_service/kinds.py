"""Tickets as a kind of records: ``crm-graph import tickets FILE`` opens a ticket per row (a
migration from another help desk keeps each ticket's time and status), ``crm-graph export
tickets`` writes them back in the same columns, so an export imports back unchanged.

Each row is checked by the rules of ``createTicket`` (:func:`tickets.check_new`). A row equal
to a ticket already recorded (customer, subject, creation time) is left unchanged, so importing
a file twice opens its tickets once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    INSERTED,
    UNCHANGED,
    BatchResult,
    Checked,
    Collector,
    Columns,
    CustomerRow,
    DataKind,
    ImportContext,
    Outcome,
    cell_time,
    find_customers,
    rejected,
    to_global_id,
    write_records,
)
from crm_service import clock, lifecycle
from crm_service.models import Ticket, TicketStatusChange
from crm_service.tickets import NewTicket, check_new

COLUMNS = Columns(
    ("customer_external_id", "subject"),
    ("description", "channel", "priority", "status", "tags", "created_at"),
)
CUSTOMER = "customerExternalId"


def check_tickets(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    """Each row's fields by the rules of one ticket; a status the machine knows; a time."""
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        customer = str(item.get("customer_external_id") or "").strip()
        if not customer:
            errors.add("REQUIRED", "must not be empty", "input", CUSTOMER)
        tags = item.get("tags") or []
        if isinstance(tags, str):  # the reader splits a CSV tags cell at ";" (JSON Lines: a list)
            tags = tags.split(";")
        tags = [t for t in tags if not isinstance(t, str) or t.strip()]
        new = check_new(
            NewTicket(
                customer_id=0,
                subject=str(item.get("subject") or ""),
                description=str(item.get("description") or ""),
                channel=str(item.get("channel") or "WEB").strip().upper(),
                priority=str(item.get("priority") or "NORMAL").strip().upper(),
                tags=tags,
            ),
            errors,
        )
        status = str(item.get("status") or "NEW").strip().upper()
        if status not in lifecycle.STATUSES:
            errors.add(
                "INVALID_VALUE", f"one of {', '.join(lifecycle.STATUSES)}", "input", "status"
            )
        created_at = cell_time(item.get("created_at"), errors, "input", "createdAt")
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, (customer, new, status, created_at)))
    return checked


async def write_tickets(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    """Open the new tickets with their status; customers must exist."""
    refs = await find_customers(session, {key for _, (key, *_) in checked.items}, CUSTOMER)
    ids = [refs.ids[key] for _, (key, *_) in checked.items if key in refs.ids]
    known = {
        (t.customer_id, t.subject, t.created_at): t.id
        for t in await session.scalars(select(Ticket).where(Ticket.customer_id.in_(ids)))
    }
    now = clock.now()
    new: list[tuple[int, Ticket, str]] = []
    for index, (key, ticket, status, created_at) in checked.items:
        error = refs.error(key, False, CUSTOMER)
        if error is not None:
            checked.outcomes[index] = rejected([error])
            continue
        identity = (refs.ids[key], ticket.subject, created_at or now)
        if identity in known:
            checked.outcomes[index] = Outcome(UNCHANGED, known[identity])
            continue
        row = Ticket(
            customer_id=identity[0],
            subject=ticket.subject,
            description=ticket.description,
            channel=ticket.channel,
            priority=lifecycle.PRIORITIES[ticket.priority],
            status=status,
            tags=list(ticket.tags),
            created_at=identity[2],
            updated_at=identity[2],
            resolved_at=identity[2] if status in ("RESOLVED", "CLOSED") else None,
            closed_at=identity[2] if status == "CLOSED" else None,
        )
        known[identity] = None
        new.append((index, row, status))
    session.add_all([row for _, row, _ in new])
    await session.flush()
    for index, row, status in new:
        session.add(TicketStatusChange(ticket_id=row.id, to_status="NEW", at=row.created_at))
        if status != "NEW":
            session.add(
                TicketStatusChange(
                    ticket_id=row.id, from_status="NEW", to_status=status, at=row.created_at
                )
            )
        checked.outcomes[index] = Outcome(INSERTED, row.id)
    await session.flush()
    return checked.result()


async def export_tickets(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    """Every ticket (opened since ``since``) in the import's columns, oldest first."""
    return await write_records(out, fmt, COLUMNS.columns, _rows(session, since, fmt == "csv"))


async def _rows(
    session: AsyncSession, since: datetime | None, csv: bool
) -> AsyncIterator[dict[str, Any]]:
    statement = (
        select(Ticket, CustomerRow.external_id)
        .join(CustomerRow, CustomerRow.id == Ticket.customer_id)
        .order_by(Ticket.id)
    )
    if since is not None:
        statement = statement.where(Ticket.created_at >= since)
    for ticket, external_id in await session.execute(statement):
        yield {
            "customer_external_id": external_id or to_global_id("Customer", ticket.customer_id),
            "subject": ticket.subject,
            "description": ticket.description,
            "channel": ticket.channel,
            "priority": lifecycle.PRIORITY_NAMES[ticket.priority],
            "status": ticket.status,
            "tags": "; ".join(ticket.tags) if csv else ticket.tags,
            "created_at": ticket.created_at,
        }


TICKETS = DataKind("tickets", COLUMNS, check_tickets, write_tickets, export_tickets)
