"""Business-hours calendars and SLA policies: their rules, written once for the mutations and
the demo. No GraphQL here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import Collector, fail, normalise_time_zone
from crm_service import hours, lifecycle
from crm_service.models import BusinessCalendar, SlaPolicy
from crm_service.values import clean

MAX_TARGET_MINUTES = 525_600  # a year of business minutes is beyond any service promise


async def create_calendar(
    session: AsyncSession,
    name: Any,
    time_zone: str,
    weekly: Mapping[str, Sequence[str]],
    holidays: Sequence[str],
    at: tuple[str, ...] = ("input",),
) -> BusinessCalendar:
    errors = Collector()
    name = clean(name, errors, (*at, "name"), 100, True)
    # The registered IANA names only: an arbitrary name would reach the file system.
    zone = normalise_time_zone(time_zone, errors, *at, "timeZone")
    calendar = None
    if zone is None and not (time_zone or "").strip():
        errors.add("REQUIRED", "must not be empty", *at, "timeZone")
    elif zone is not None:
        try:
            calendar = hours.parse(zone, weekly, holidays)
        except hours.CalendarError as exc:
            errors.add("INVALID_VALUE", str(exc), *at, exc.field)
    errors.check()
    assert calendar is not None
    if await session.scalar(select(BusinessCalendar.id).where(BusinessCalendar.name == name)):
        raise fail("DUPLICATE", f"a calendar is already named {name!r}", *at, "name")
    row = BusinessCalendar(
        name=name,
        time_zone=zone,
        hours=hours.weekly(calendar),
        holidays=sorted(d.isoformat() for d in calendar.holidays),
    )
    session.add(row)
    await session.flush()
    return row


async def create_policy(
    session: AsyncSession,
    name: Any,
    calendar_id: int,
    targets: Mapping[str, Mapping[str, int | None]],
    default: bool,
    at: tuple[str, ...] = ("input",),
) -> SlaPolicy:
    """``targets``: priority name → ``{"firstResponse": minutes, "resolution": minutes}``
    (either may be missing or null: no such target for that priority)."""
    errors = Collector()
    name = clean(name, errors, (*at, "name"), 100, True)
    stored: dict[str, dict[str, int]] = {}
    for index, (priority, wanted) in enumerate(targets.items()):
        if priority not in lifecycle.PRIORITIES:
            errors.add("INVALID_VALUE", "not a priority", *at, "targets", str(index), "priority")
        if priority in stored:
            errors.add("DUPLICATE", "one target per priority", *at, "targets", str(index))
        kept = {}
        for key, minutes in wanted.items():
            if minutes is None:
                continue
            if not 1 <= minutes <= MAX_TARGET_MINUTES:
                errors.add(
                    "INVALID_VALUE",
                    f"between 1 and {MAX_TARGET_MINUTES} business minutes",
                    *at,
                    "targets",
                    str(index),
                    f"{key}Minutes",
                )
            kept[key] = minutes
        stored[priority] = kept
    if not any(stored.values()):
        errors.add("REQUIRED", "give at least one target", *at, "targets")
    if await session.get(BusinessCalendar, calendar_id) is None:
        errors.add("NOT_FOUND", "no such calendar", *at, "calendarId")
    errors.check()
    if await session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == name)):
        raise fail("DUPLICATE", f"a policy is already named {name!r}", *at, "name")
    if default:  # one default: the policy new tickets get
        await session.execute(update(SlaPolicy).values(is_default=False))
    policy = SlaPolicy(name=name, calendar_id=calendar_id, targets=stored, is_default=default)
    session.add(policy)
    await session.flush()
    return policy
