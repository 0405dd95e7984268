"""Lead assignment rules: round robin within a team, optionally only for leads of a territory
(an attribute whose value is one of a list: country in DE, AT, CH). Applied to every lead
created without an owner: from the API, an import or a web form."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import Collector, TeamRow, clean_text, fail, team_members
from crm_sales.tables import SalesAssignmentRule

MAX_VALUES = 200


def _value_of(lead: dict[str, Any], attribute: str) -> Any:
    if attribute in ("source", "company"):
        return lead.get(attribute)
    return (lead.get("attributes") or {}).get(attribute)


def _matches(rule: SalesAssignmentRule, lead: dict[str, Any]) -> bool:
    if rule.attribute is None:
        return True
    value = _value_of(lead, rule.attribute)
    wanted = {str(v).casefold() for v in rule.values}
    return value is not None and str(value).casefold() in wanted


async def assign(session: AsyncSession, lead: dict[str, Any]) -> str | None:
    """The owner the first matching rule gives ``lead`` (its fields, as checked), taking the
    rule's row lock so that concurrent leads go to successive members; ``None`` when no rule
    matches or its team is empty."""
    for rule in await rules(session):
        if not _matches(rule, lead):
            continue
        members = await team_members(session, rule.team_id)
        if not members:
            continue
        locked = await session.scalar(
            select(SalesAssignmentRule)
            .where(SalesAssignmentRule.id == rule.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        last = locked.last_user_id if locked else None
        chosen = (
            members[(members.index(last) + 1) % len(members)] if last in members else members[0]
        )
        rule.last_user_id = chosen
        await session.flush()
        return chosen
    return None


async def create_rule(
    session: AsyncSession,
    name: str,
    team_id: int,
    attribute: str | None,
    values: list[str],
    at: tuple[str, ...] = ("input",),
) -> SalesAssignmentRule:
    errors = Collector()
    clean = clean_text(name, errors, *at, "name", max_length=100, required=True)
    key = clean_text(attribute, errors, *at, "attribute", max_length=100)
    if key is not None and not values:
        errors.add("REQUIRED", "a territory rule needs the values it matches", *at, "values")
    if len(values) > MAX_VALUES:
        errors.add("TOO_MANY", f"at most {MAX_VALUES} values", *at, "values")
    for index, value in enumerate(values):
        clean_text(value, errors, *at, "values", str(index), max_length=200, required=True)
    if await session.get(TeamRow, team_id) is None:
        errors.add("NOT_FOUND", "no such team", *at, "teamId")
    if clean and await session.scalar(
        select(SalesAssignmentRule.id).where(SalesAssignmentRule.name == clean)
    ):
        errors.add("NAME_TAKEN", "another rule has this name", *at, "name")
    errors.check()
    last = await session.scalar(select(func.max(SalesAssignmentRule.position)))
    rule = SalesAssignmentRule(
        name=clean,
        position=(last if last is not None else -1) + 1,
        team_id=team_id,
        attribute=key,
        values=[v.strip() for v in values],
    )
    session.add(rule)
    await session.flush()
    return rule


async def rules(session: AsyncSession) -> list[SalesAssignmentRule]:
    """Every rule, in the order they are tried."""
    statement = select(SalesAssignmentRule).order_by(
        SalesAssignmentRule.position, SalesAssignmentRule.id
    )
    return list(await session.scalars(statement))


async def delete_rule(
    session: AsyncSession, rule_id: int, at: tuple[str, ...] = ("input",)
) -> None:
    rule = await session.get(SalesAssignmentRule, rule_id)
    if rule is None:
        raise fail("NOT_FOUND", "no such rule", *at, "id")
    await session.delete(rule)
    await session.flush()
