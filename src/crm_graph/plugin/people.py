"""Users and teams: what a plugin's owner, assignee and team-queue fields point at.

A plugin keeps user ids (``owner_id``, ``assignee_id``: the values ``CustomerRow.owner_id``
holds) and team ids (``team_id``) in its own columns, and returns the core's ``User`` and
``Team`` through the field contract: ``assignee: UserType | None =
table_field(user_of("assignee_id"))``.
"""

from __future__ import annotations

from crm_graph.auth.models import Team as TeamRow
from crm_graph.auth.models import User as UserRow
from crm_graph.auth.users import team_of, user_of
from crm_graph.domain.teams import team_exists, team_members
from crm_graph.domain.users import user_exists
from crm_graph.schema.users import TeamType, UserType

__all__ = [
    "TeamRow",
    "TeamType",
    "UserRow",
    "UserType",
    "team_exists",
    "team_members",
    "team_of",
    "user_exists",
    "user_of",
]
