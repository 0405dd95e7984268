"""Audience segments: static lists and dynamic segments, their members and how membership is
kept (materialised on a schedule and for the customers an event touches), with
``segment.entered`` / ``segment.left`` for every change. No GraphQL here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    CustomerRow,
    ValidationFailed,
    emit,
    fail,
    input_id,
    normalise_email,
    to_global_id,
    utcnow,
)
from crm_marketing import ids
from crm_marketing.filters import FilterContext, check, compile_filter
from crm_marketing.tables import DYNAMIC, STATIC, MarketingSegment, MarketingSegmentMember

ENTERED = "segment.entered"
LEFT = "segment.left"
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_MEMBERS_PER_CALL = 10_000
MAX_PREVIEW = 100


def filter_context(
    app: AppContext, personal_data: bool, now: datetime | None = None
) -> FilterContext:
    return FilterContext(
        analytics="analytics" in app.plugins.names,
        personal_data=personal_data,
        currency=app.settings.default_currency,
        now=now or utcnow(),
    )


def live_customers() -> Any:
    """Customers a segment may hold: neither deleted (merged ones are) nor erased."""
    return select(CustomerRow.id).where(
        CustomerRow.deleted_at.is_(None), CustomerRow.erased_at.is_(None)
    )


def matching(tree: dict[str, Any], context: FilterContext) -> Any:
    """The ids of live customers the (checked) tree matches: one SELECT."""
    return live_customers().where(compile_filter(tree, context))


async def _check_fields(
    session: AsyncSession,
    name: str | None,
    description: str | None,
    errors: Collector,
    segment_id: int | None = None,
) -> tuple[str | None, str | None]:
    if name is not None:
        name = " ".join(name.split())
        if not name:
            errors.add("REQUIRED", "a segment needs a name", "input", "name")
        elif len(name) > MAX_NAME:
            errors.add("TOO_LONG", f"at most {MAX_NAME} characters", "input", "name")
        else:
            taken = await session.scalar(
                select(MarketingSegment.id).where(MarketingSegment.name == name)
            )
            if taken is not None and taken != segment_id:
                errors.add("DUPLICATE", f"a segment named {name!r} exists", "input", "name")
    if description is not None and len(description) > MAX_DESCRIPTION:
        errors.add("TOO_LONG", f"at most {MAX_DESCRIPTION} characters", "input", "description")
    return name, description


def _checked_filter(tree: Any, context: FilterContext, errors: Collector) -> dict[str, Any] | None:
    try:
        return check(tree, context, "input", "filter")
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


async def create(
    session: AsyncSession,
    app: AppContext,
    context: FilterContext,
    *,
    name: str,
    description: str,
    kind: str,
    tree: dict[str, Any] | None,
) -> MarketingSegment:
    """A new static list or dynamic segment; a dynamic one is materialised at once, so its
    members (and their ``segment.entered`` events) exist from the start."""
    errors = Collector()
    name_, description_ = await _check_fields(session, name, description, errors)
    checked = None
    if kind == DYNAMIC:
        if tree is None:
            errors.add("REQUIRED", "a dynamic segment needs a filter", "input", "filter")
        else:
            checked = _checked_filter(tree, context, errors)
    elif tree is not None:
        errors.add("INVALID_VALUE", "a static list has no filter", "input", "filter")
    errors.check()
    segment = MarketingSegment(
        name=name_, description=description_ or "", kind=kind, filter=checked
    )
    session.add(segment)
    await session.flush()
    if kind == DYNAMIC:
        await refresh(session, segment, context)
    return segment


def every(_principal: Any, _filter: None) -> Select[Any]:
    """Every segment and static list (the ``audienceSegments`` list sorts them by name)."""
    return select(MarketingSegment)


async def get(session: AsyncSession, segment_id: int, *at: str) -> MarketingSegment:
    segment = await session.get(MarketingSegment, segment_id)
    if segment is None:
        raise fail("NOT_FOUND", "no such segment", *at)
    return segment


async def update(
    session: AsyncSession,
    context: FilterContext,
    segment_id: int,
    *,
    name: str | None,
    description: str | None,
    tree: dict[str, Any] | None,
) -> MarketingSegment:
    """Change a segment's name, description or (dynamic) filter; a new filter is applied at
    once, with its entries and departures."""
    segment = await get(session, segment_id, "input", "id")
    errors = Collector()
    name_, description_ = await _check_fields(session, name, description, errors, segment.id)
    checked = None
    if tree is not None:
        if segment.kind == STATIC:
            errors.add("INVALID_VALUE", "a static list has no filter", "input", "filter")
        else:
            checked = _checked_filter(tree, context, errors)
    errors.check()
    if name_ is not None:
        segment.name = name_
    if description_ is not None:
        segment.description = description_
    segment.updated_at = utcnow()
    if checked is not None:
        segment.filter = checked
        await refresh(session, segment, context)
    session.add(segment)
    return segment


async def remove(session: AsyncSession, segment_id: int) -> MarketingSegment:
    """Delete a segment and its memberships (no ``segment.left``: the segment is gone)."""
    segment = await get(session, segment_id, "input", "id")
    await session.execute(
        delete(MarketingSegmentMember).where(MarketingSegmentMember.segment_id == segment.id)
    )
    await session.delete(segment)
    return segment


# -- membership -----------------------------------------------------------------------------


async def _announce(
    session: AsyncSession, segment: MarketingSegment, kind: str, customer_ids: Iterable[int]
) -> None:
    payload = {"segmentId": ids.segment_id(segment.id), "segmentName": segment.name}
    for customer_id in sorted(customer_ids):
        await emit(session, kind, "Customer", customer_id, payload)


async def _apply(
    session: AsyncSession,
    segment: MarketingSegment,
    entering: set[int],
    leaving: set[int],
) -> tuple[int, int]:
    if entering:
        now = utcnow()
        await session.execute(
            insert(MarketingSegmentMember),
            [
                {"segment_id": segment.id, "customer_id": c, "added_at": now}
                for c in sorted(entering)
            ],
        )
    if leaving:
        await session.execute(
            delete(MarketingSegmentMember).where(
                MarketingSegmentMember.segment_id == segment.id,
                MarketingSegmentMember.customer_id.in_(sorted(leaving)),
            )
        )
    await _announce(session, segment, ENTERED, entering)
    await _announce(session, segment, LEFT, leaving)
    return len(entering), len(leaving)


async def member_ids(
    session: AsyncSession, segment_id: int, among: Sequence[int] | None = None
) -> set[int]:
    statement = select(MarketingSegmentMember.customer_id).where(
        MarketingSegmentMember.segment_id == segment_id
    )
    if among is not None:
        statement = statement.where(MarketingSegmentMember.customer_id.in_(list(among)))
    return set(await session.scalars(statement))


async def refresh(
    session: AsyncSession,
    segment: MarketingSegment,
    context: FilterContext,
    among: Sequence[int] | None = None,
) -> tuple[int, int]:
    """Materialise a dynamic segment's membership (for ``among`` customers only, when given):
    who entered and who left, each announced. How many entered and left."""
    if segment.kind != DYNAMIC or segment.filter is None:
        return 0, 0
    statement = matching(segment.filter, context)
    if among is not None:
        statement = statement.where(CustomerRow.id.in_(list(among)))
    now_matching = set(await session.scalars(statement))
    current = await member_ids(session, segment.id, among)  # type: ignore[arg-type]
    changes = await _apply(session, segment, now_matching - current, current - now_matching)
    if among is None:
        segment.refreshed_at = context.now
        session.add(segment)
    return changes


async def refresh_all(app: AppContext, among: Sequence[int] | None = None) -> int:
    """Every dynamic segment, each in its own transaction; how many memberships changed."""
    async with app.read() as session:
        ids = list(
            await session.scalars(
                select(MarketingSegment.id).where(MarketingSegment.kind == DYNAMIC)
            )
        )
    changed = 0
    for segment_id in ids:
        async with app.write() as session:
            segment = await session.get(MarketingSegment, segment_id)
            if segment is None:
                continue
            entered, left = await refresh(session, segment, filter_context(app, True), among)
            changed += entered + left
    return changed


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """The merged customers' memberships become the survivor's (once per segment); a dynamic
    segment's are recomputed when the merge's event arrives."""
    rows = await session.execute(
        select(MarketingSegmentMember.segment_id).where(
            MarketingSegmentMember.customer_id.in_(merged_ids)
        )
    )
    segment_ids = set(rows.scalars())
    held = await session.scalars(
        select(MarketingSegmentMember.segment_id).where(
            MarketingSegmentMember.customer_id == survivor_id
        )
    )
    gained = segment_ids - set(held)
    await session.execute(
        delete(MarketingSegmentMember).where(MarketingSegmentMember.customer_id.in_(merged_ids))
    )
    for segment_id in sorted(gained):
        segment = await session.get(MarketingSegment, segment_id)
        await _apply(session, segment, {survivor_id}, set())  # type: ignore[arg-type]
    return {"marketing_segment_members": len(gained)}


async def live_customers_named(
    session: AsyncSession, customer_ids: Sequence[int], emails: Sequence[str]
) -> dict[tuple[str, Any], int]:
    """Live customers by primary key and by e-mail address (lower case; the first customer
    holding it): ``{("id", pk) or ("email", address): pk}`` for those found."""
    found: dict[tuple[str, Any], int] = {}
    if customer_ids:
        statement = live_customers().where(CustomerRow.id.in_(sorted(set(customer_ids))))
        found.update({("id", pk): pk for pk in await session.scalars(statement)})
    if emails:
        rows = await session.execute(
            live_customers()
            .add_columns(func.lower(CustomerRow.email))
            .where(func.lower(CustomerRow.email).in_(sorted(set(emails))))
            .order_by(CustomerRow.id)
        )
        for customer_id, address in rows:
            found.setdefault(("email", address), customer_id)
    return found


def customer_reference(entry: str, errors: Collector, *at: str) -> tuple[str, Any] | None:
    """A customer named by e-mail address (``("email", normalised)``) or global ID (``("id",
    pk)``); None, with the problem in ``errors`` at ``at``, when it is neither."""
    entry = entry.strip()
    if "@" in entry:
        address = normalise_email(entry, errors, *at)
        return None if address is None else ("email", address)
    try:
        return ("id", input_id(entry, "Customer", *at))
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


async def _customers_named(
    session: AsyncSession, entries: Sequence[str], errors: Collector, *at: str
) -> set[int]:
    """Customers given by global ID or e-mail address (a file's lines, an input's list);
    unknown ones are user errors at their index."""
    wanted: dict[tuple[str, Any], int] = {}
    for index, entry in enumerate(entries):
        reference = customer_reference(entry, errors, *at, str(index))
        if reference is not None:
            wanted[reference] = index
    found = await live_customers_named(
        session,
        [value for kind, value in wanted if kind == "id"],
        [value for kind, value in wanted if kind == "email"],
    )
    for reference, index in wanted.items():
        if reference not in found:
            unknown = (
                "no such customer"
                if reference[0] == "id"
                else "no customer has this e-mail address"
            )
            errors.add("NOT_FOUND", unknown, *at, str(index))
    return set(found.values())


async def static_lists(
    session: AsyncSession, names: Iterable[str]
) -> dict[str, MarketingSegment | str]:
    """Segments by the name or global ID a file gives: the static list, or ``DYNAMIC`` for a
    dynamic segment (which takes no members); absent names are left out."""
    names = set(names)
    pks = {}
    for name in names:
        try:
            pks[input_id(name, "AudienceSegment")] = name
        except ValidationFailed:
            continue
    rows = await session.scalars(
        select(MarketingSegment).where(
            or_(MarketingSegment.name.in_(sorted(names)), MarketingSegment.id.in_(sorted(pks)))
        )
    )
    found: dict[str, MarketingSegment | str] = {}
    for segment in rows:
        for key in (segment.name, pks.get(segment.id)):
            if key in names:
                found[key] = segment if segment.kind == STATIC else DYNAMIC
    return found


async def static_members(session: AsyncSession, since: datetime | None) -> list[tuple[str, str]]:
    """Every static list's members (added since ``since``): (list name, customer global ID)."""
    statement = (
        select(MarketingSegment.name, MarketingSegmentMember.customer_id)
        .join(MarketingSegment, MarketingSegment.id == MarketingSegmentMember.segment_id)
        .where(MarketingSegment.kind == STATIC)
        .order_by(MarketingSegment.id, MarketingSegmentMember.customer_id)
    )
    if since is not None:
        statement = statement.where(MarketingSegmentMember.added_at >= since)
    rows = await session.execute(statement)
    return [(name, to_global_id("Customer", pk)) for name, pk in rows]


async def change_members(
    session: AsyncSession, segment_id: int, entries: Sequence[str], *, add: bool
) -> MarketingSegment:
    """Add customers to a static list or remove them (by global ID or e-mail address, as a
    file of either lists them); all or nothing."""
    segment = await get(session, segment_id, "input", "segmentId")
    errors = Collector()
    if segment.kind != STATIC:
        errors.add(
            "NOT_STATIC", "members of a dynamic segment follow its filter", "input", "segmentId"
        )
    if not 1 <= len(entries) <= MAX_MEMBERS_PER_CALL:
        errors.add(
            "INVALID_VALUE", f"give 1 to {MAX_MEMBERS_PER_CALL} customers", "input", "customers"
        )
    errors.check()
    customers = await _customers_named(session, entries, errors, "input", "customers")
    errors.check()
    current = await member_ids(session, segment.id, sorted(customers))  # type: ignore[arg-type]
    if add:
        await _apply(session, segment, customers - current, set())
    else:
        await _apply(session, segment, set(), current)
    segment.updated_at = utcnow()
    session.add(segment)
    return segment


async def add_members(
    session: AsyncSession, segment: MarketingSegment, customer_ids: Iterable[int]
) -> int:
    """Put customers (primary keys, known to be live) on a static list; how many were new."""
    wanted = set(customer_ids)
    current = await member_ids(session, segment.id, sorted(wanted))  # type: ignore[arg-type]
    entered, _left = await _apply(session, segment, wanted - current, set())
    return entered


async def sizes(session: AsyncSession, segment_ids: Sequence[int]) -> dict[int, int]:
    """Members per segment (materialised), in one statement."""
    rows = await session.execute(
        select(MarketingSegmentMember.segment_id, func.count())
        .join(CustomerRow, CustomerRow.id == MarketingSegmentMember.customer_id)
        .where(
            MarketingSegmentMember.segment_id.in_(list(segment_ids)),
            CustomerRow.deleted_at.is_(None),
        )
        .group_by(MarketingSegmentMember.segment_id)
    )
    return dict(rows.all())  # type: ignore[arg-type]


async def _first_customers(session: AsyncSession, ids: Any, first: int) -> list[CustomerRow]:
    statement = (
        select(CustomerRow)
        .where(CustomerRow.id.in_(ids), CustomerRow.deleted_at.is_(None))
        .order_by(CustomerRow.id)
        .limit(first)
    )
    return list(await session.scalars(statement))


async def preview(
    session: AsyncSession, segment: MarketingSegment, context: FilterContext, first: int
) -> list[CustomerRow]:
    """The first customers (by id) the segment holds now: a dynamic one's filter evaluated
    live, a static list's members."""
    if segment.kind == DYNAMIC and segment.filter is not None:
        ids = matching(segment.filter, context)
    else:
        ids = select(MarketingSegmentMember.customer_id).where(
            MarketingSegmentMember.segment_id == segment.id
        )
    return await _first_customers(session, ids, first)


async def evaluate(
    session: AsyncSession, tree: Any, context: FilterContext, first: int, *at: str
) -> tuple[int, list[CustomerRow]]:
    """An unsaved filter tree, as saving a dynamic segment with it would make it: its size and
    first customers (by id), so a builder can show them while the tree is edited. Its problems
    are the ones saving reports, at ``at`` (``ValidationFailed``)."""
    checked = check(tree, context, *at)
    ids = matching(checked, context)
    size = await session.scalar(select(func.count()).select_from(ids.subquery()))
    return size or 0, await _first_customers(session, ids, first)
