"""Users as admins edit them: names, e-mail addresses and deactivation.

Users are made on first sight (:mod:`crm_graph.auth.users`), when an API key is created for
them, and when a customer is assigned to them: an owner id always names a user.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.models import User
from crm_graph.domain.customers import check_version
from crm_graph.domain.errors import Collector, fail
from crm_graph.domain.values import clean_text, normalise_email

# What updateUser changes when given (None leaves a field as it is).
UNSET = object()


def users_select(active: bool | None = None, search: str | None = None) -> Select[Any]:
    """Users, optionally only (in)active ones or those whose id, name or e-mail contains
    ``search``."""
    statement = select(User)
    if active is not None:
        statement = statement.where(User.active == active)
    if search:
        text = search.strip().lower()
        statement = statement.where(
            or_(
                *(
                    func.lower(column).contains(text, autoescape=True)
                    for column in (User.user_id, User.name, User.email)
                )
            )
        )
    return statement


async def user_exists(session: AsyncSession, user_id: str) -> bool:
    """Whether ``user_id`` (an owner id, a key's user, a token's subject) names a user."""
    return await session.scalar(select(User.id).where(User.user_id == user_id)) is not None


async def update_user(
    session: AsyncSession,
    pk: int,
    *,
    name: str | None = None,
    email: str | object | None = UNSET,
    active: bool | None = None,
    expected_version: int | None = None,
) -> User:
    """Change a user's name, e-mail (``None`` clears it) or activity; a deactivated user's
    credentials are refused from its next request."""
    user = await session.get(User, pk)
    if user is None:
        raise fail("NOT_FOUND", "no such user", "input", "id")
    check_version(user, expected_version)
    errors = Collector()
    if name is not None:
        name = clean_text(name, errors, "input", "name", max_length=200, required=True)
    if email is not UNSET:
        email = normalise_email(email, errors, "input", "email")  # type: ignore[arg-type]
    errors.check()
    if name is not None:
        user.name = name
    if email is not UNSET:
        user.email = email  # type: ignore[assignment]
    if active is not None:
        user.active = active
    await session.flush()
    return user
