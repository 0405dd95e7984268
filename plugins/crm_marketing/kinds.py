"""Static lists' members as a kind of records: ``crm-graph import segment_members FILE`` puts
customers on static lists from a file naming, per row, the list (its name or global ID) and
the customer (a global ID or an e-mail address); rejected rows go to ``FILE.rejects.csv``
with their row number and why. ``crm-graph export segment_members`` writes every static list's
members in the same columns. A customer already on the list is left unchanged, so importing
twice adds once; each addition is announced (``segment.entered``), as adding through the API.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    INSERTED,
    UNCHANGED,
    BatchResult,
    Checked,
    Collector,
    Columns,
    DataKind,
    FieldError,
    ImportContext,
    Outcome,
    rejected,
    write_records,
)
from crm_marketing import segments

COLUMNS = Columns(("segment", "customer"), ())


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value).strip()


def check_members(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    """Each row names a list and a customer: a global ID, or a well-formed e-mail address."""
    checked = Checked.of(len(items))
    for index, item in enumerate(items):
        errors = Collector()
        segment, customer = _text(item, "segment"), _text(item, "customer")
        if not segment:
            errors.add("REQUIRED", "must not be empty", "input", "segment")
        reference: tuple[str, Any] | None = None
        if not customer:
            errors.add("REQUIRED", "must not be empty", "input", "customer")
        else:
            reference = segments.customer_reference(customer, errors, "input", "customer")
        if errors.errors:
            checked.outcomes[index] = rejected(errors.errors)
        else:
            checked.items.append((index, (segment, reference)))
    return checked


async def write_members(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    """Rows whose list is a static list and whose customer is live join it (once)."""
    lists = await segments.static_lists(session, {name for _, (name, _) in checked.items})
    found = await segments.live_customers_named(
        session,
        [ref[1] for _, (_, ref) in checked.items if ref[0] == "id"],
        [ref[1] for _, (_, ref) in checked.items if ref[0] == "email"],
    )
    wanted: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, (name, reference) in checked.items:
        problem = lists.get(name)
        if problem is None or isinstance(problem, str):
            code = "NOT_STATIC" if problem else "NOT_FOUND"
            message = (
                "members of a dynamic segment follow its filter" if problem else "no such list"
            )
            checked.outcomes[index] = rejected([FieldError(code, message, ["segment"])])
            continue
        customer_id = found.get(reference)
        if customer_id is None:
            checked.outcomes[index] = rejected(
                [FieldError("NOT_FOUND", "no such live customer", ["customer"])]
            )
            continue
        wanted[problem.id].append((index, customer_id))  # type: ignore[index]
    for segment_id, rows in wanted.items():
        segment = await segments.get(session, segment_id)
        current = await segments.member_ids(session, segment_id, [c for _, c in rows])
        await segments.add_members(session, segment, {c for _, c in rows})
        for index, customer_id in rows:
            checked.outcomes[index] = Outcome(
                UNCHANGED if customer_id in current else INSERTED, customer_id
            )
            current.add(customer_id)
    return checked.result()


async def export_members(
    session: AsyncSession, out: TextIO, fmt: str, since: datetime | None
) -> int:
    return await write_records(out, fmt, COLUMNS.columns, _member_rows(session, since))


async def _member_rows(
    session: AsyncSession, since: datetime | None
) -> AsyncIterator[dict[str, Any]]:
    for name, customer in await segments.static_members(session, since):
        yield {"segment": name, "customer": customer}


KINDS = [DataKind("segment_members", COLUMNS, check_members, write_members, export_members)]
