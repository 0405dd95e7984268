"""Automations: event-triggered flows (HubSpot workflows, Klaviyo flows). A trigger is an event
type (``customer.created``, ``order.placed``...) with an optional condition (a filter tree
over the customer, as a segment's) or the entry into a segment (``segment.entered``); after a
delay, an action: send a templated e-mail (with consent, suppression and one-click
unsubscribe, as a campaign's), add a tag to the customer, or create a follow-up task for the
customer's owner (through ``crm_marketing_create_task``, which the sales plugin implements:
the action is offered only while a plugin does, and a run finding none is skipped).

Enrolment is once per customer and automation (HubSpot's default): the run's row is unique on
both, so a trigger firing again, or its event delivered twice, enrols nobody twice. Events
arrive through ``crm_event``, whose position in the log is the plugin's own and durable, so
after a restart the handler carries on from where it stopped; the delay is a one-shot job of
the scheduler, so a waiting run survives a restart too.
"""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    CustomerRow,
    EventRecord,
    ValidationFailed,
    fail,
    queue_email,
    schedule_once,
    update_customer,
    utcnow,
)
from crm_marketing import campaigns, ids, segments, templates
from crm_marketing.filters import check
from crm_marketing.settings import NAME, RUN_AUTOMATION, MarketingSettings
from crm_marketing.tables import MarketingAutomation, MarketingAutomationRun, MarketingSegment

SEND_EMAIL, ADD_TAG, CREATE_TASK = "send_email", "add_tag", "create_task"
TASK_HOOK = "crm_marketing_create_task"
NO_TASKS, TASK_REFUSED = "no_task_plugin", "task_refused"
SCHEDULED, DONE, SKIPPED = "scheduled", "done", "skipped"
MAX_DELAY = 366 * 24 * 3600
# Built-ins to copy: what createMarketingAutomation(input: {builtIn: ...}) starts from.
BUILT_INS: dict[str, dict[str, Any]] = {
    "welcome": {
        "name": "Welcome",
        "trigger": "customer.created",
        "delay_seconds": 0,
        "action": SEND_EMAIL,
        "subject": "Welcome, {{ customer.first_name }}",
        "text_template": "Hello {{ customer.first_name }}, welcome!\n\nUnsubscribe: {{ unsubscribe_url }}",
    },
    "post_purchase": {
        "name": "Post-purchase follow-up",
        "trigger": "order.placed",
        "delay_seconds": 7 * 24 * 3600,
        "action": SEND_EMAIL,
        "subject": "How do you like it, {{ customer.first_name }}?",
        "text_template": "Hello {{ customer.first_name }}, tell us how your order went.\n\n"
        "Unsubscribe: {{ unsubscribe_url }}",
    },
    "win_back": {
        "name": "Win-back",
        "trigger": "segment.entered",  # a segment of analytics.churnBand eq HIGH
        "delay_seconds": 0,
        "action": SEND_EMAIL,
        "subject": "We miss you, {{ customer.first_name }}",
        "text_template": "Hello {{ customer.first_name }}, here is 10% off your next order.\n\n"
        "Unsubscribe: {{ unsubscribe_url }}",
    },
}


async def create(
    session: AsyncSession, app: AppContext, fields: dict[str, Any], personal_data: bool
) -> MarketingAutomation:
    """A new, active automation; every problem of its input at once."""
    errors = Collector()
    name = " ".join((fields.get("name") or "").split())
    if not name:
        errors.add("REQUIRED", "an automation needs a name", "input", "name")
    elif await session.scalar(
        select(MarketingAutomation.id).where(MarketingAutomation.name == name)
    ):
        errors.add("DUPLICATE", f"an automation named {name!r} exists", "input", "name")
    trigger = fields.get("trigger") or ""
    known = {event_type.name for _owner, event_type in app.events.types}
    if trigger not in known:
        errors.add("UNKNOWN_EVENT_TYPE", f"no event type {trigger!r}", "input", "trigger")
    segment_id = fields.get("segment_id")
    if trigger == segments.ENTERED:
        if segment_id is None or await session.get(MarketingSegment, segment_id) is None:
            errors.add(
                "NOT_FOUND", "a segment.entered trigger names its segment", "input", "segmentId"
            )
    elif segment_id is not None:
        errors.add(
            "INVALID_VALUE", "only a segment.entered trigger names a segment", "input", "segmentId"
        )
    condition = None
    if fields.get("condition") is not None:
        try:
            condition = check(
                fields["condition"],
                segments.filter_context(app, personal_data),
                "input",
                "condition",
            )
        except ValidationFailed as exc:
            errors.errors.extend(exc.errors)
    delay = fields.get("delay_seconds") or 0
    if not 0 <= delay <= MAX_DELAY:
        errors.add("INVALID_VALUE", f"a delay is 0 to {MAX_DELAY} seconds", "input", "delaySeconds")
    action = fields.get("action")
    if action == SEND_EMAIL:
        for key, path in (
            ("subject", "subject"),
            ("sender", "sender"),
            ("text_template", "textTemplate"),
        ):
            if not fields.get(key):
                errors.add("REQUIRED", f"sending an e-mail needs {path}", "input", path)
        if fields.get("subject") and fields.get("text_template"):
            templates.check(
                fields["subject"], fields["text_template"], fields.get("html_template"), errors
            )
        campaigns.check_address(fields.get("sender"), errors, "input", "sender")
    elif action == ADD_TAG:
        if not (fields.get("tag") or "").strip():
            errors.add("REQUIRED", "adding a tag needs the tag", "input", "tag")
    elif action == CREATE_TASK:
        if not app.plugins.implementers(TASK_HOOK):
            errors.add(
                "UNAVAILABLE",
                "creating a task needs a plugin keeping tasks (the sales plugin)",
                "input",
                "action",
            )
        if not fields.get("subject"):
            errors.add("REQUIRED", "a task needs its title (subject)", "input", "subject")
        else:
            templates.check(fields["subject"], fields.get("text_template") or "", None, errors)
    else:
        errors.add(
            "INVALID_VALUE",
            f"an action is {SEND_EMAIL}, {ADD_TAG} or {CREATE_TASK}",
            "input",
            "action",
        )
    errors.check()
    automation = MarketingAutomation(
        name=name,
        trigger=trigger,
        segment_id=segment_id,
        condition=condition,
        delay_seconds=delay,
        action=action,  # type: ignore[arg-type]
        subject=fields.get("subject"),
        sender=fields.get("sender"),
        text_template=fields.get("text_template"),
        html_template=fields.get("html_template"),
        tag=(fields.get("tag") or "").strip() or None,
    )
    session.add(automation)
    await session.flush()
    return automation


async def every(session: AsyncSession) -> list[MarketingAutomation]:
    return list(await session.scalars(select(MarketingAutomation).order_by(MarketingAutomation.id)))


async def runs_of(
    session: AsyncSession, automation_ids: list[int], first: int
) -> dict[int, list[MarketingAutomationRun]]:
    """The first runs of each automation, oldest first."""
    rows = await session.scalars(
        select(MarketingAutomationRun)
        .where(MarketingAutomationRun.automation_id.in_(automation_ids))
        .order_by(MarketingAutomationRun.id)
    )
    found: dict[int, list[MarketingAutomationRun]] = {}
    for row in rows:
        runs = found.setdefault(row.automation_id, [])
        if len(runs) < first:
            runs.append(row)
    return found


async def enrolled(session: AsyncSession, automation_ids: list[int]) -> dict[int, int]:
    """Customers enrolled per automation, in one statement."""
    rows = await session.execute(
        select(MarketingAutomationRun.automation_id, func.count())
        .where(MarketingAutomationRun.automation_id.in_(automation_ids))
        .group_by(MarketingAutomationRun.automation_id)
    )
    return dict(rows.all())  # type: ignore[arg-type]


async def set_active(
    session: AsyncSession, automation_id: int, active: bool
) -> MarketingAutomation:
    automation = await session.get(MarketingAutomation, automation_id)
    if automation is None:
        raise fail("NOT_FOUND", "no such automation", "input", "id")
    automation.active = active
    session.add(automation)
    return automation


async def enrol(app: AppContext, event: EventRecord, customer_id: int) -> int:
    """Enrol the event's customer in every active automation it triggers (once each); how
    many runs were scheduled."""
    enrolled = 0
    triggered = select(MarketingAutomation).where(
        MarketingAutomation.active.is_(True), MarketingAutomation.trigger == event.type
    )
    async with app.read() as session:  # most events trigger nothing: no write lock for them
        if (
            await session.scalar(triggered.with_only_columns(MarketingAutomation.id).limit(1))
            is None
        ):
            return 0
    async with app.write() as session:
        found = list(await session.scalars(triggered))
        for automation in found:
            if automation.segment_id is not None:
                segment = (event.payload or {}).get("segmentId")
                if segment != ids.segment_id(automation.segment_id):
                    continue
            if automation.condition is not None:
                context = segments.filter_context(app, True)
                matched = await session.scalar(
                    segments.matching(automation.condition, context).where(
                        CustomerRow.id == customer_id
                    )
                )
                if matched is None:
                    continue
            held = await session.scalar(
                select(MarketingAutomationRun.id).where(
                    MarketingAutomationRun.automation_id == automation.id,
                    MarketingAutomationRun.customer_id == customer_id,
                )
            )
            if held is not None:
                continue
            due = utcnow() + timedelta(seconds=automation.delay_seconds)
            run = MarketingAutomationRun(
                automation_id=automation.id,  # type: ignore[arg-type]
                customer_id=customer_id,
                event_id=event.uid,
                due_at=due,
            )
            session.add(run)
            await session.flush()
            await schedule_once(
                session, NAME, RUN_AUTOMATION, due, {"run": run.id}, key=f"run-{run.id}"
            )
            enrolled += 1
    return enrolled


async def perform_run(app: AppContext, run_id: int) -> None:
    """The delayed action, once: the run's status changes in the action's transaction."""
    settings: MarketingSettings = app.plugin_settings(NAME)
    async with app.write() as session:
        run = await session.get(MarketingAutomationRun, run_id)
        if run is None or run.status != SCHEDULED:
            return
        automation = await session.get(MarketingAutomation, run.automation_id)
        customer = await session.get(CustomerRow, run.customer_id)
        run.done_at = utcnow()
        session.add(run)
        if automation is None or not automation.active:
            run.status, run.reason = SKIPPED, "paused"
            return
        if customer is None or customer.deleted_at is not None or customer.erased_at is not None:
            run.status, run.reason = SKIPPED, "not_live"
            return
        if automation.action == ADD_TAG:
            tags = list(customer.tags or [])
            if automation.tag not in tags:
                await update_customer(
                    session,
                    customer.id,
                    {"tags": [*tags, automation.tag]},
                    app.settings.default_phone_region,  # type: ignore[arg-type]
                )
            run.status = DONE
            return
        if automation.action == CREATE_TASK:
            try:
                run.task_id = await _create_task(session, app, automation, customer)
            except ValidationFailed:  # the plugin refused it (a title too long): nothing written
                run.status, run.reason = SKIPPED, TASK_REFUSED
                return
            run.status, run.reason = (DONE, None) if run.task_id else (SKIPPED, NO_TASKS)
            return
        reason = await campaigns.why_not_email(session, app, customer)
        if reason is not None:
            run.status, run.reason = SKIPPED, reason
            return
        compiled = templates.compiled(
            automation.subject, automation.text_template, automation.html_template
        )  # type: ignore[arg-type]
        url = campaigns.unsubscribe_url(app, settings, customer.id, None)  # type: ignore[arg-type]
        values = templates.personalisation(customer, automation.name, url)
        queued = await queue_email(
            session,
            owner=NAME,
            sender=automation.sender,  # type: ignore[arg-type]
            to=customer.email,  # type: ignore[arg-type]
            subject=" ".join(templates.render(compiled.subject, values).split()),
            text=templates.render(compiled.text, values),
            html=templates.render(compiled.html, values) if compiled.html is not None else None,
            headers=campaigns.unsubscribe_headers(url),
            tag=f"automation-{automation.id}",
        )
        run.status, run.message_id = DONE, queued.message_id


async def _create_task(
    session: AsyncSession, app: AppContext, automation: MarketingAutomation, customer: CustomerRow
) -> str | None:
    """The task a CREATE_TASK action asks of the plugin keeping tasks, in this unit of work:
    its title and notes personalised, due now (the automation's delay is the wait), for the
    customer's owner. Its global ID; None while no plugin keeps tasks."""
    compiled = templates.compiled(automation.subject, automation.text_template or "", None)  # type: ignore[arg-type]
    values = templates.personalisation(customer, automation.name, "")
    notes = templates.render(compiled.text, values).strip()
    hook = getattr(app.plugins.hook, TASK_HOOK)
    for _plugin, result in app.plugins.each(
        hook,
        session=session,
        customer_id=customer.id,
        title=" ".join(templates.render(compiled.subject, values).split()),
        notes=notes or None,
        due_at=utcnow(),
        owner_id=customer.owner_id,
    ):
        task_id = await result if inspect.isawaitable(result) else result
        if task_id:
            return str(task_id)
    return None
