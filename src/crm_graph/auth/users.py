"""Users as the authenticator sees them: made on first sight, refused when deactivated, and
their teammates read for the ``team`` scope.

Every request reads its caller's user row (with the teammates, when its role has a grant at
scope ``team``) instead of caching it, in the statement that checks its credential (an API
key's look-up joins the user; a token's subject is looked up alone): a deactivation or a
change of team applies from the next request in every process, with no invalidation to get
wrong. Writes are rare: the
row is inserted only when the read finds none, and ``last_seen_at`` is written at most once
a minute (as a key's ``last_used_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from crm_graph.auth.models import Team, TeamMember, User
from crm_graph.auth.principal import AuthError
from crm_graph.db.engine import DriverStatement, RequestConnection, read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.db.related import Related

LAST_SEEN_RESOLUTION = timedelta(minutes=1)


async def add_missing_users(session: AsyncSession, users: dict[str, dict[str, Any]]) -> None:
    """Insert a row for each user id not known yet (``{user_id: {"name": ..., "email": ...}}``),
    leaving known ones as they are, concurrent inserters included."""
    if not users:
        return
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "name": values.get("name") or user_id,
            "email": values.get("email"),
            "active": True,
            "created_at": now,
            "version": 1,
        }
        for user_id, values in users.items()
    ]
    statement = dialect.insert(User).values(rows).on_conflict_do_nothing(index_elements=["user_id"])
    await session.execute(statement)


@dataclass(frozen=True)
class Standing:
    """A user as a request needs it: whether it may call, and whom it shares a team with."""

    active: bool
    last_seen_at: datetime | None
    teammates: frozenset[str]


def with_standing(statement: Any, with_team: bool) -> Any:
    """``statement`` (whose FROM holds ``auth_user``, outer-joined when the user may be
    unknown) with the columns :func:`standing_of` reads: one row per teammate ``with_team``."""
    statement = statement.add_columns(
        User.active.label("user_active"), User.last_seen_at.label("user_seen")
    )
    if not with_team:
        return statement
    mine, mate = aliased(TeamMember), aliased(TeamMember)
    return (
        statement.add_columns(mate.user_id.label("user_mate"))
        .outerjoin(mine, mine.user_id == User.user_id)
        .outerjoin(mate, mate.team_id == mine.team_id)
    )


def standing_of(rows: Sequence[Any], user_id: str, with_team: bool) -> Standing | None:
    """The standing in the rows of a :func:`with_standing` statement; None: no such user."""
    if not rows or rows[0].user_active is None:
        return None
    mates = {row.user_mate for row in rows if with_team and row.user_mate is not None}
    return Standing(rows[0].user_active, rows[0].user_seen, frozenset({user_id, *mates}))


# Built once: SQLAlchemy reuses the compiled form (its cache key is memoised on the object).
_STANDING = {
    with_team: with_standing(
        select(User.user_id).where(User.user_id == bindparam("user_id")), with_team
    )
    for with_team in (False, True)
}


_REQUEST_STANDING = {with_team: DriverStatement(_STANDING[with_team]) for with_team in _STANDING}


async def standing(executor: Any, user_id: str, with_team: bool) -> Standing | None:
    """The user's standing (teammates only ``with_team``, else just itself), None when it is
    unknown: one indexed statement, on a session or a connection."""
    rows = (await executor.execute(_STANDING[with_team], {"user_id": user_id})).all()
    return standing_of(rows, user_id, with_team)


async def request_standing(
    lease: RequestConnection, user_id: str, with_team: bool
) -> Standing | None:
    """:func:`standing` on a request's connection, run on the driver."""
    rows = await lease.fetch(_REQUEST_STANDING[with_team], {"user_id": user_id})
    return standing_of(rows, user_id, with_team)


async def sighted(
    engine: AsyncEngine,
    user_id: str,
    found: Standing | None,
    name: str | None = None,
    email: str | None = None,
    lease: RequestConnection | None = None,
) -> frozenset[str]:
    """Note a request of ``user_id``, whose standing the request read (``found``, on
    ``lease``, told when this writes): its user is created if new (a write, once), refused
    if deactivated, and its ``last_seen_at`` written at most once a minute. Returns its
    teammates (itself included)."""
    now = utcnow()
    if found is None:
        async with write_session(engine) as session:
            await add_missing_users(session, {user_id: {"name": name, "email": email}})
            await _seen(session, user_id, now)
        if lease is not None:
            await lease.wrote()
        return frozenset({user_id})
    if not found.active:
        raise AuthError(f"the user {user_id!r} is deactivated")
    if found.last_seen_at is None or now - found.last_seen_at >= LAST_SEEN_RESOLUTION:
        async with write_session(engine) as session:
            await _seen(session, user_id, now)
        if lease is not None:
            await lease.wrote()
    return found.teammates


async def _seen(session: AsyncSession, user_id: str, now: datetime) -> None:
    # A core UPDATE: it must not bump ``version``, which belongs to admins' edits.
    await session.execute(update(User).where(User.user_id == user_id).values(last_seen_at=now))


async def is_active(engine: AsyncEngine, user_id: str) -> bool:
    """Whether the user may still call (long-lived sockets re-check this)."""
    async with read_session(engine) as session:
        active = await session.scalar(select(User.active).where(User.user_id == user_id))
    return active is not False


def user_of(parent_key: str) -> Related:
    """The user a column of user ids (``owner_id``, ``assignee_id``) names, as a relation a
    table-backed field reads (``table_field(user_of("assignee_id"))``)."""
    return Related(User, key="user_id", parent_key=parent_key)


def team_of(parent_key: str) -> Related:
    """The team a column of team ids (``team_id``) names, as a relation."""
    return Related(Team, key="id", parent_key=parent_key)
