"""Teams and their members: what the ``team`` scope reads, edited by admins.

``CRM_TEAMS`` only seeds: :func:`seed_teams` creates each team it names that the database does
not hold yet, with its members, when a server starts. A team the
database holds already is left as admins made it, so an edit made through the API survives
restarts and a changed ``CRM_TEAMS`` never undoes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.auth.models import Team, TeamMember, User
from crm_graph.auth.users import add_missing_users
from crm_graph.db.engine import write_session
from crm_graph.domain.errors import Collector, fail
from crm_graph.domain.values import clean_text


async def team_members(session: AsyncSession, team: int | str) -> list[str]:
    """The user ids of a team's members (by the team's id or name), in the order they joined
    (what a round-robin assignment walks through); ``[]`` for an unknown team."""
    statement = select(TeamMember.user_id).join(Team, Team.id == TeamMember.team_id)
    statement = statement.where(Team.id == team if isinstance(team, int) else Team.name == team)
    return list(await session.scalars(statement.order_by(TeamMember.added_at, TeamMember.id)))


async def team_exists(session: AsyncSession, team_id: int) -> bool:
    """Whether a team of this id exists (check a team id before storing it)."""
    return await session.scalar(select(Team.id).where(Team.id == team_id)) is not None


async def _team(session: AsyncSession, pk: int, *path: str) -> Team:
    team = await session.get(Team, pk)
    if team is None:
        raise fail("NOT_FOUND", "no such team", *path)
    return team


async def _user(session: AsyncSession, pk: int, *path: str) -> User:
    user = await session.get(User, pk)
    if user is None:
        raise fail("NOT_FOUND", "no such user", *path)
    return user


async def create_team(session: AsyncSession, name: str) -> Team:
    errors = Collector()
    name = clean_text(name, errors, "input", "name", max_length=100, required=True) or ""
    errors.check()
    if await session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise fail("DUPLICATE", f"a team is already named {name!r}", "input", "name")
    team = Team(name=name)
    session.add(team)
    await session.flush()
    return team


async def delete_team(session: AsyncSession, pk: int) -> Team:
    """Delete a team and its memberships (its members' records stay theirs)."""
    team = await _team(session, pk, "input", "id")
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    await session.delete(team)
    await session.flush()
    return team


async def _membership(
    session: AsyncSession, team_pk: int, user_pk: int
) -> tuple[Team, User, TeamMember | None]:
    """The team, the user and the user's membership of the team (None when not a member)."""
    team = await _team(session, team_pk, "input", "teamId")
    user = await _user(session, user_pk, "input", "userId")
    member = await session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.user_id)
    )
    return team, user, member


async def add_team_member(session: AsyncSession, team_pk: int, user_pk: int) -> Team:
    """Add a user to a team (adding a member again changes nothing)."""
    team, user, member = await _membership(session, team_pk, user_pk)
    if member is None:
        session.add(TeamMember(team_id=team.id, user_id=user.user_id))
        await session.flush()
    return team


async def remove_team_member(session: AsyncSession, team_pk: int, user_pk: int) -> Team:
    """Take a user out of a team (a user who is not a member is an error)."""
    team, _user_row, member = await _membership(session, team_pk, user_pk)
    if member is None:
        raise fail("NOT_FOUND", "the user is not a member of this team", "input", "userId")
    await session.delete(member)
    await session.flush()
    return team


async def seed_teams(session: AsyncSession, teams: Mapping[str, Sequence[str]]) -> list[str]:
    """Create the teams of ``CRM_TEAMS`` the database does not hold yet, with their members
    (users made as needed); returns the names created. Running it again changes nothing."""
    known = set(await session.scalars(select(Team.name).where(Team.name.in_(list(teams)))))
    created = [name for name in teams if name not in known]
    await add_missing_users(session, {member: {} for name in created for member in teams[name]})
    for name in created:
        team = Team(name=name)
        session.add(team)
        await session.flush()
        session.add_all(TeamMember(team_id=team.id, user_id=m) for m in dict.fromkeys(teams[name]))
    await session.flush()
    return created


async def seed_configured_teams(engine: AsyncEngine, teams: Mapping[str, Sequence[str]]) -> None:
    """:func:`seed_teams` at server startup; several processes starting at once may race to
    create a team, and the one that loses finds it made."""
    if not teams:
        return
    try:
        async with write_session(engine) as session:
            await seed_teams(session, teams)
    except IntegrityError:
        async with write_session(engine) as session:
            await seed_teams(session, teams)
