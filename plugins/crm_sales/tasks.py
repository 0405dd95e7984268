"""Tasks and follow-ups: a due time, an owner, and what the task is about (a lead, a deal or
a customer). A scheduler job emits ``task.due`` once per task when its time comes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    JobRun,
    ValidationFailed,
    check_version,
    clean_text,
    emit,
    request_time,
    to_global_id,
    utcnow,
)
from crm_sales import deals
from crm_sales.scopes import EVERYTHING, Sight
from crm_sales.tables import SalesDeal, SalesLead, SalesTask

TASK = "SalesTask"
OPEN, DONE = "open", "done"
DUE_BATCH = 500


def task_payload(task: SalesTask) -> dict[str, Any]:
    """What task events carry (the title is declared personal data; the notes stay out)."""
    return {
        "title": task.title,
        "dueAt": task.due_at.isoformat(),
        "ownerId": task.owner_id,
        "status": task.status.upper(),
        "leadId": to_global_id("Lead", task.lead_id) if task.lead_id else None,
        "dealId": to_global_id("Deal", task.deal_id) if task.deal_id else None,
        "customerId": to_global_id("Customer", task.about_customer_id)
        if task.about_customer_id
        else None,
    }


async def _subject(
    session: AsyncSession,
    lead_id: int | None,
    deal_id: int | None,
    customer_id: int | None,
    sights: dict[str, Sight],
    errors: Collector,
    at: tuple[str, ...],
) -> None:
    """A task is about one lead, deal or customer, which the caller must see."""
    given = [
        k for k, v in (("leadId", lead_id), ("dealId", deal_id), ("customerId", customer_id)) if v
    ]
    if len(given) > 1:
        errors.add("INVALID_VALUE", "a task is about one lead, deal or customer", *at, given[1])
        return
    if lead_id is not None:
        lead = select(SalesLead.id).where(
            SalesLead.id == lead_id, sights["leads"].where(SalesLead.owner_id)
        )
        if await session.scalar(lead) is None:
            errors.add("NOT_FOUND", "no such lead", *at, "leadId")
    if deal_id is not None:
        deal = select(SalesDeal.id).where(
            SalesDeal.id == deal_id, sights["deals"].where(SalesDeal.owner_id)
        )
        if await session.scalar(deal) is None:
            errors.add("NOT_FOUND", "no such deal", *at, "dealId")
    if customer_id is not None:
        try:
            await deals.live_customer(session, customer_id, *at, "customerId")
        except ValidationFailed as exc:  # keep collecting the other problems
            errors.errors.extend(exc.errors)


async def create_task(
    session: AsyncSession,
    *,
    title: str,
    due_at: datetime,
    notes: str | None,
    owner_id: str | None,
    lead_id: int | None,
    deal_id: int | None,
    customer_id: int | None,
    sights: dict[str, Sight],
    actor: str | None,
    at: tuple[str, ...] = ("input",),
) -> SalesTask:
    errors = Collector()
    clean_title = clean_text(title, errors, *at, "title", max_length=300, required=True)
    clean_notes = clean_text(notes, errors, *at, "notes", max_length=5000)
    if due_at.tzinfo is None:
        errors.add("INVALID_DATE", "a due time needs its time zone", *at, "dueAt")
    owner = owner_id or actor
    if owner is not None:
        await deals.check_owner(session, owner, sights["tasks"], errors, *at, "ownerId")
    await _subject(session, lead_id, deal_id, customer_id, sights, errors, at)
    errors.check()
    task = SalesTask(
        title=clean_title,
        notes=clean_notes,
        due_at=due_at,
        owner_id=owner,
        lead_id=lead_id,
        deal_id=deal_id,
        about_customer_id=customer_id,
    )
    session.add(task)
    await session.flush()
    await emit(session, "task.created", TASK, task.id, task_payload(task))
    return task


async def task_for_automation(
    session: AsyncSession,
    customer_id: int,
    title: str,
    notes: str | None,
    due_at: datetime,
    owner_id: str | None,
) -> str:
    """A task another plugin's automation asks for (no caller: every record is in sight); an
    owner who is gone or deactivated leaves the task unassigned rather than losing it."""
    sights = {"leads": EVERYTHING, "deals": EVERYTHING, "tasks": EVERYTHING}
    if owner_id is not None:
        errors = Collector()
        await deals.check_owner(session, owner_id, EVERYTHING, errors, "owner")
        owner_id = None if errors.errors else owner_id
    task = await create_task(
        session,
        title=title,
        due_at=due_at,
        notes=notes,
        owner_id=owner_id,
        lead_id=None,
        deal_id=None,
        customer_id=customer_id,
        sights=sights,
        actor=None,
    )
    return to_global_id(TASK, task.id)


async def update_task(
    session: AsyncSession,
    task_id: int,
    sight: Sight,
    *,
    done: bool | None = None,
    due_at: datetime | None = None,
    title: str | None = None,
    notes: str | None = None,
    expected_version: int | None = None,
    at: tuple[str, ...] = ("input",),
) -> SalesTask:
    """Complete or reopen a task, or change its title, notes or due time (a new due time
    makes ``task.due`` due again)."""
    task = await sight.find(session, SalesTask, task_id, "task", *at, "id")
    check_version(task, expected_version)
    errors = Collector()
    if title is not None:
        task.title = clean_text(title, errors, *at, "title", max_length=300, required=True)
    if notes is not None:
        task.notes = clean_text(notes, errors, *at, "notes", max_length=5000)
    if due_at is not None:
        if due_at.tzinfo is None:
            errors.add("INVALID_DATE", "a due time needs its time zone", *at, "dueAt")
        elif due_at != task.due_at:
            task.due_at, task.due_emitted_at = due_at, None
    errors.check()
    if done is not None:
        task.status = DONE if done else OPEN
        task.done_at = utcnow() if done else None
    task.version += 1
    await session.flush()
    await emit(session, "task.updated", TASK, task.id, task_payload(task))
    return task


async def emit_due(session: AsyncSession, now: datetime) -> int:
    """``task.due`` for every open task whose time has come and that has not had it: the
    mark is set by an UPDATE guarded on its absence, in the event's transaction, so two
    processes (or a retried run) never emit it twice for one task."""
    due = list(
        await session.scalars(_due(now).order_by(SalesTask.due_at, SalesTask.id).limit(DUE_BATCH))
    )
    emitted = 0
    for task_id in due:
        marked = await session.execute(
            update(SalesTask)
            .where(SalesTask.id == task_id, SalesTask.due_emitted_at.is_(None))
            .values(due_emitted_at=now)
            .execution_options(synchronize_session=False)
        )
        if not marked.rowcount:
            continue  # another process took it
        task = await session.get(SalesTask, task_id)
        await session.refresh(task)  # type: ignore[arg-type]
        await emit(session, "task.due", TASK, task_id, task_payload(task))  # type: ignore[arg-type]
        emitted += 1
    return emitted


def task_select(
    sight: Sight,
    *,
    owner_ids: list[str] | None = None,
    statuses: list[str] | None = None,
    overdue: bool | None = None,
    due_within: timedelta | None = None,
    lead_id: int | None = None,
    deal_id: int | None = None,
    customer_id: int | None = None,
) -> Any:
    """The tasks the caller sees, narrowed by each criterion given: ``overdue`` (open and
    past due; ``False``: the others), ``due_within`` (open, due from ``now`` to then), or what
    they are about. Now is the request's time (``request_time``: the statement may be kept
    and run again later)."""
    now = request_time(SalesTask.due_at)
    statement = select(SalesTask).where(sight.where(SalesTask.owner_id))
    if owner_ids is not None:
        statement = statement.where(SalesTask.owner_id.in_(owner_ids))
    if statuses is not None:
        statement = statement.where(SalesTask.status.in_(statuses))
    if overdue is not None:
        late = (SalesTask.status == OPEN) & (SalesTask.due_at < now)
        statement = statement.where(late if overdue else ~late)
    if due_within is not None:
        until = request_time(SalesTask.due_at, due_within)
        statement = statement.where(
            SalesTask.status == OPEN, SalesTask.due_at >= now, SalesTask.due_at <= until
        )
    for value, column in (
        (lead_id, SalesTask.lead_id),
        (deal_id, SalesTask.deal_id),
        (customer_id, SalesTask.about_customer_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    return statement


def _due(now: datetime) -> Any:
    return select(SalesTask.id).where(
        SalesTask.status == OPEN, SalesTask.due_emitted_at.is_(None), SalesTask.due_at <= now
    )


async def due_job(app: AppContext, run: JobRun) -> None:
    """The scheduler's job: emit ``task.due`` for the tasks that have come due. It looks
    first with a read, so a run finding nothing takes no write lock (SQLite has one)."""
    now = utcnow()
    async with app.read() as session:
        if await session.scalar(_due(now).limit(1)) is None:
            return
    async with app.write() as session:
        await emit_due(session, now)
