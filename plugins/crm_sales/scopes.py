"""Ownership scopes of the sales records: whose deals (leads, tasks...) a caller sees.

The core hides customers, and rows hanging off them, outside the caller's ``customers:*``
scope. A deal also has an owner of its own (the rep working it), and ``deals:read@own`` means
*the deals I own*, as in HubSpot and Salesforce. :func:`sight` turns the caller's grant of a
permission into a condition on an owner column, applied by every query of this plugin; both
hold, so a deal is seen when its owner and its customer are both within the caller's scopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import fail


@dataclass(frozen=True)
class Sight:
    """The owners whose records a caller sees: ``None`` for everyone's (scope ``all``, or
    work without a caller, such as jobs and commands)."""

    owners: frozenset[str] | None

    def where(self, column: Any) -> Any:
        if self.owners is None:
            return true()
        return column.in_(sorted(self.owners)) if self.owners else false()

    def sees(self, owner_id: str | None) -> bool:
        return self.owners is None or owner_id in self.owners

    async def rows(self, session: AsyncSession, model: Any, ids: list[int]) -> dict[int, Any]:
        """The ``model`` rows among ``ids`` this sight sees, by id (one statement)."""
        statement = select(model).where(model.id.in_(ids))
        if self.owners is not None:
            statement = statement.where(self.where(model.owner_id))
        return {row.id: row for row in await session.scalars(statement)}

    async def find(
        self, session: AsyncSession, model: Any, record_id: int, noun: str, *path: str
    ) -> Any:
        """The ``model`` row (a deal, lead, task or company: each has an ``owner_id``) if this
        sight sees it; ``NOT_FOUND`` otherwise, the same answer as for an id that does not
        exist, so a record outside the scope is not revealed."""
        record = await session.scalar(
            select(model).where(model.id == record_id, self.where(model.owner_id))
        )
        if record is None:
            raise fail("NOT_FOUND", f"no such {noun}", *path)
        return record


EVERYTHING = Sight(None)


def sight(principal: Any, permission: str) -> Sight:
    """What ``principal`` (the request's caller, ``None`` for the system) sees of records
    governed by ``permission``: nothing without it, its owners at the granted scope."""
    if principal is None:
        return EVERYTHING
    scope = principal.scope(permission)
    if scope is None:
        return Sight(frozenset())
    return Sight(principal.owners(scope))


def every_row(model: type) -> Any:
    """The statement of a ``rows_field`` listing every ``model`` row: pipelines, web forms
    and assignment rules have no owner, and whoever may read the list sees them all."""

    def statement(_principal: Any, _filter: None) -> Any:
        return select(model)

    return statement
