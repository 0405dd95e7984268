"""GraphQL of users and teams: who owns records, who shares a team (``team`` scopes).

``User`` and ``Team`` are what owner, assignee and team-queue fields return, core
(``Customer.owner``) and plugins' alike (``crm_graph.plugin.people``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.auth.declare import personal_data, requires
from crm_graph.auth.models import Team, TeamMember, User
from crm_graph.db.paging import Ordering
from crm_graph.db.related import Related, RelatedRows
from crm_graph.domain import teams, users
from crm_graph.ids import to_global_id
from crm_graph.schema.lists import connection
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.plugin_fields import batch_field, load_related
from crm_graph.schema.types.common import Connection, UserError, input_id, page_args, row_type

READ, MANAGE = "users:read", "users:manage"
BY_CREATION = Ordering("users.created", (User.created_at,), descending=False)
BY_NAME = Ordering("teams.name", (Team.name,), descending=False)
MEMBERSHIPS = RelatedRows(TeamMember, key="user_id", parent_key="user_id", order_by=("team_id",))
MEMBERS = RelatedRows(TeamMember, key="team_id", order_by=("added_at", "id"))
TEAM = Related(Team, key="id")
USER = Related(User, key="user_id")


async def _teams_of(parents: list[User], context: Any) -> list[list[Team]]:
    joined = await load_related(context, MEMBERSHIPS, [user.user_id for user in parents])
    found = await load_related(context, TEAM, list({m.team_id for ms in joined for m in ms}))
    by_id = {team.id: team for team in found if team is not None}
    return [[by_id[m.team_id] for m in ms] for ms in joined]


async def _members_of(parents: list[Team], context: Any) -> list[list[User]]:
    joined = await load_related(context, MEMBERS, [team.id for team in parents])
    found = await load_related(context, USER, list({m.user_id for ms in joined for m in ms}))
    by_id = {user.user_id: user for user in found if user is not None}
    return [[by_id[m.user_id] for m in ms] for ms in joined]


@strawberry.type(
    name="User",
    description="Someone who calls the API (an API key's user or a "
    "token's subject), made on first sight.",
)
@row_type(User, "User")
class UserType:
    user_id: str = strawberry.field(
        description="The id owner fields hold (`Customer.ownerId`): a key's user, a token's `sub`."
    )
    name: str = strawberry.field(metadata=personal_data("text"))
    email: str | None = strawberry.field(metadata=personal_data("email"))
    active: bool = strawberry.field(description="An inactive user's keys and tokens are refused.")
    created_at: datetime
    last_seen_at: datetime | None = strawberry.field(description="Precise to about a minute.")
    version: int
    teams: list[TeamType] = batch_field(
        _teams_of, parent_columns=("user_id",), description="The teams the user is in."
    )


@strawberry.type(name="Team", description="Users who see each other's records at scope `team`.")
@row_type(Team, "Team")
class TeamType:
    name: str
    created_at: datetime
    members: list[UserType] = batch_field(_members_of, description="Members, first joined first.")


@strawberry.input
class UserFilter:
    active: bool | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the user id, name or e-mail (any case)."
    )


@strawberry.type
class UserQueries:
    @strawberry.field(description="Users, oldest first.", metadata=requires(READ))
    async def users(
        self,
        info: Info,
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[UserType]:
        f = filter or UserFilter()
        return await connection(
            info,
            users.users_select(f.active, f.search),
            User,
            BY_CREATION,
            page_args(first, after, last, before),
        )

    @strawberry.field(description="Teams, by name.", metadata=requires(READ))
    async def teams(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TeamType]:
        return await connection(
            info, select(Team), Team, BY_NAME, page_args(first, after, last, before)
        )


@strawberry.input
class UpdateUserInput:
    id: strawberry.ID
    name: str | None = None
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="Null clears it; left out, it stays."
    )
    active: bool | None = strawberry.field(
        default=None, description="False refuses the user's keys and tokens from its next request."
    )
    expected_version: int | None = None


@strawberry.type
class UserPayload:
    user: UserType | None
    errors: list[UserError]


@strawberry.input
class CreateTeamInput:
    name: str


@strawberry.input
class DeleteTeamInput:
    id: strawberry.ID


@strawberry.input
class TeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID = strawberry.field(description="The user's global ID.")


@strawberry.type
class TeamPayload:
    team: TeamType | None
    errors: list[UserError]


@strawberry.type
class DeleteTeamPayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        description="Change a user's name, e-mail or activity.", metadata=requires(MANAGE)
    )
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        email = users.UNSET if input.email is strawberry.UNSET else input.email

        async def work(session: AsyncSession) -> User:
            return await users.update_user(
                session,
                input_id(input.id, "User", "input", "id"),
                name=input.name,
                email=email,
                active=input.active,
                expected_version=input.expected_version,
            )

        row, errors = await perform(info, work)
        return UserPayload(user=row, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(description="Create a team.", metadata=requires(MANAGE))
    async def create_team(self, info: Info, input: CreateTeamInput) -> TeamPayload:
        row, errors = await perform(info, lambda s: teams.create_team(s, input.name))
        return TeamPayload(team=row, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Delete a team and its memberships.", metadata=requires(MANAGE)
    )
    async def delete_team(self, info: Info, input: DeleteTeamInput) -> DeleteTeamPayload:
        async def work(session: AsyncSession) -> Team:
            return await teams.delete_team(session, input_id(input.id, "Team", "input", "id"))

        row, errors = await perform(info, work)
        deleted = to_global_id("Team", row.id) if row is not None else None  # type: ignore[arg-type]
        return DeleteTeamPayload(deleted_id=deleted, errors=errors)

    @strawberry.mutation(
        description="Add a user to a team: applies to `team` scopes from the next request.",
        metadata=requires(MANAGE),
    )
    async def add_team_member(self, info: Info, input: TeamMemberInput) -> TeamPayload:
        return await _membership(info, input, teams.add_team_member)

    @strawberry.mutation(
        description="Take a user out of a team: applies from the next request.",
        metadata=requires(MANAGE),
    )
    async def remove_team_member(self, info: Info, input: TeamMemberInput) -> TeamPayload:
        return await _membership(info, input, teams.remove_team_member)


async def _membership(info: Info, input: TeamMemberInput, change: Any) -> TeamPayload:
    async def work(session: AsyncSession) -> Team:
        return await change(
            session,
            input_id(input.team_id, "Team", "input", "teamId"),
            input_id(input.user_id, "User", "input", "userId"),
        )

    row, errors = await perform(info, work)
    return TeamPayload(team=row, errors=errors)  # type: ignore[arg-type]
