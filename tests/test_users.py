"""Users and teams as data: users made on first sight, edited and deactivated by admins; teams
seeded from ``CRM_TEAMS`` and edited through the API, read by ``team`` scopes from the next
request; owners that are users."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from security_support import anonymous, bearer, token_of
from sqlalchemy import update

from crm_graph.auth.models import User
from crm_graph.auth.tokens import issue_token
from crm_graph.db.engine import write_session
from crm_graph.db.models import utcnow
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements

USERS = """
query ($search: String) {
  users(filter: {search: $search}) {
    totalCount
    nodes { id userId name email active lastSeenAt version teams { name } }
  }
}
"""
TEAMS = "{ teams { totalCount nodes { id name members { userId } } } }"
UPDATE_USER = """
mutation ($input: UpdateUserInput!) {
  updateUser(input: $input) { user { userId name email active version } errors { code field } }
}
"""
CREATE_TEAM = """
mutation ($name: String!) {
  createTeam(input: {name: $name}) { team { id name } errors { code field } }
}
"""
ADD_MEMBER = """
mutation ($team: ID!, $user: ID!) {
  addTeamMember(input: {teamId: $team, userId: $user}) {
    team { members { userId } } errors { code field }
  }
}
"""
REMOVE_MEMBER = """
mutation ($team: ID!, $user: ID!) {
  removeTeamMember(input: {teamId: $team, userId: $user}) {
    team { members { userId } } errors { code field }
  }
}
"""
CREATE_KEY = """
mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key errors { code } } }
"""


async def _users(client: GraphQLClient, search: str | None = None) -> list[dict[str, Any]]:
    return (await client.data(USERS, {"search": search}))["users"]["nodes"]


async def _user(client: GraphQLClient, user_id: str) -> dict[str, Any]:
    [found] = [u for u in await _users(client, user_id) if u["userId"] == user_id]
    return found


async def _as(client: GraphQLClient, token: str, query: str) -> dict[str, Any]:
    async with anonymous(client) as http:
        response = await http.post("/graphql", json={"query": query}, headers=bearer(token))
    return {"status": response.status_code, **response.json()}


def _writes_to_users(statements: list[str]) -> list[str]:
    return [s for s in statements if "auth_user" in s and s.lstrip().upper()[:6] != "SELECT"]


async def test_a_token_subject_becomes_a_user_on_its_first_request_only(
    client: GraphQLClient,
) -> None:
    settings = client.app.state.crm.settings
    token = issue_token(settings, "dana", "sales", name="Dana Scully", email="Dana@Example.com")
    assert await _users(client, "dana") == []
    with count_statements(client.app) as first:
        assert (await _as(client, token, "{ viewer { userId } }"))["status"] == 200
    assert _writes_to_users(first) != []
    dana = await _user(client, "dana")
    assert (dana["name"], dana["email"], dana["active"]) == (
        "Dana Scully",
        "dana@example.com",
        True,
    )
    assert dana["lastSeenAt"] is not None
    with count_statements(client.app) as again:
        assert (await _as(client, token, "{ viewer { userId } }"))["status"] == 200
    assert _writes_to_users(again) == []  # known and seen within the minute: reads only
    assert [u["userId"] for u in await _users(client, "dana")] == ["dana"]


async def test_an_api_key_has_its_user_from_creation(client: GraphQLClient) -> None:
    made = await client.data(
        CREATE_KEY, {"input": {"name": "shop", "role": "integration", "userId": "shop-bot"}}
    )
    bot = await _user(client, "shop-bot")
    assert (bot["name"], bot["lastSeenAt"]) == ("shop", None)
    secret = made["createApiKey"]["key"]
    assert (await _as(client, secret, "{ viewer { userId } }"))["status"] == 200
    assert (await _user(client, "shop-bot"))["lastSeenAt"] is not None
    assert [u["userId"] for u in await _users(client, "shop-bot")] == ["shop-bot"]


async def test_admins_edit_users_and_others_may_only_read_them(client: GraphQLClient) -> None:
    await client.acting_as("sales", "erin").data("{ viewer { userId } }")
    erin = await _user(client, "erin")
    edit = {"id": erin["id"], "name": "Erin Reyes", "email": "erin@example.com"}
    changed = await client.data(UPDATE_USER, {"input": {**edit, "expectedVersion": 1}})
    assert changed["updateUser"] == {
        "user": {
            "userId": "erin",
            "name": "Erin Reyes",
            "email": "erin@example.com",
            "active": True,
            "version": 2,
        },
        "errors": [],
    }
    stale = await client.data(UPDATE_USER, {"input": {**edit, "expectedVersion": 1}})
    assert stale["updateUser"]["errors"] == [
        {"code": "CONFLICT", "field": ["input", "expectedVersion"]}
    ]
    bad = await client.data(UPDATE_USER, {"input": {"id": erin["id"], "email": "nope", "name": ""}})
    assert bad["updateUser"]["errors"] == [
        {"code": "REQUIRED", "field": ["input", "name"]},
        {"code": "INVALID_EMAIL", "field": ["input", "email"]},
    ]
    assert (await _user(client, "erin"))["name"] == "Erin Reyes"  # nothing half-written
    cleared = await client.data(UPDATE_USER, {"input": {"id": erin["id"], "email": None}})
    assert cleared["updateUser"]["user"]["email"] is None

    sales = client.acting_as("sales", "erin")
    assert [u["userId"] for u in (await sales.data(USERS))["users"]["nodes"]] == [
        "erin",  # first seen first
        "test-admin",
    ]
    refused = await sales.execute(UPDATE_USER, {"input": {"id": erin["id"], "name": "x"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    analyst = client.acting_as("analyst", "ann")  # users:read without pii:read: masked
    await client.data(UPDATE_USER, {"input": {"id": erin["id"], "email": "erin@example.com"}})
    shown = await analyst.data('{ users(filter: {search: "erin"}) { nodes { name email } } }')
    assert shown["users"]["nodes"] == [{"name": "***", "email": "e***@example.com"}]


async def test_a_deactivated_user_is_refused_from_its_next_request(
    client: GraphQLClient,
) -> None:
    made = await client.data(
        CREATE_KEY, {"input": {"name": "frank-key", "role": "sales", "userId": "frank"}}
    )
    key = made["createApiKey"]["key"]
    token = token_of(client, "sales", "frank")
    assert (await _as(client, token, "{ viewer { userId } }"))["status"] == 200
    frank = await _user(client, "frank")
    off = await client.data(UPDATE_USER, {"input": {"id": frank["id"], "active": False}})
    assert off["updateUser"]["user"]["active"] is False
    for credential in (token, key):
        refused = await _as(client, credential, "{ viewer { userId } }")
        assert refused["status"] == 401
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "deactivated" in refused["errors"][0]["message"]
    await client.data(UPDATE_USER, {"input": {"id": frank["id"], "active": True}})
    assert (await _as(client, key, "{ viewer { userId } }"))["status"] == 200


async def test_teams_are_seeded_from_crm_teams_once_and_then_belong_to_admins(
    settings: Settings,
) -> None:
    seeded = settings.model_copy(update={"teams": {"emea": ["alice", "bob"], "apac": ["carol"]}})
    async with app_client(seeded, plugins=[]) as admin:
        teams = (await admin.data(TEAMS))["teams"]["nodes"]
        assert [(t["name"], [m["userId"] for m in t["members"]]) for t in teams] == [
            ("apac", ["carol"]),
            ("emea", ["alice", "bob"]),
        ]
        emea = teams[1]["id"]
        bob = (await _user(admin, "bob"))["id"]
        await admin.data(REMOVE_MEMBER, {"team": emea, "user": bob})
    # A restart (with CRM_TEAMS changed) seeds only teams the database does not hold.
    changed = settings.model_copy(
        update={"teams": {"emea": ["alice", "bob", "dave"], "apj": ["erin"]}}
    )
    async with app_client(changed, plugins=[]) as admin:
        teams = (await admin.data(TEAMS))["teams"]["nodes"]
        assert [(t["name"], [m["userId"] for m in t["members"]]) for t in teams] == [
            ("apac", ["carol"]),
            ("apj", ["erin"]),
            ("emea", ["alice"]),
        ]
        assert [t["name"] for t in (await _user(admin, "alice"))["teams"]] == ["emea"]


TEAM_LEAD = ["customers:read@team", "customers:write@team", "users:read", "pii:read"]
OWNED = "{ customers { nodes { externalId owner { userId name } } } }"


async def test_team_scope_follows_membership_changes_from_the_next_request(
    settings: Settings,
) -> None:
    scoped = settings.model_copy(
        update={"teams": {"emea": ["alice"]}, "roles": {"lead": TEAM_LEAD}}
    )
    async with app_client(scoped, plugins=[]) as admin:
        for user in ("alice", "bob"):
            await admin.acting_as("sales", user).data(
                f'mutation {{ createCustomer(input: {{name: "{user}", externalId: "{user}"}}) '
                "{ customer { id } } }"
            )
        lead = admin.acting_as("lead", "alice")
        seen = (await lead.data(OWNED))["customers"]["nodes"]
        assert seen == [{"externalId": "alice", "owner": {"userId": "alice", "name": "alice"}}]

        emea = (await admin.data(TEAMS))["teams"]["nodes"][0]["id"]
        bob = (await _user(admin, "bob"))["id"]
        added = await admin.data(ADD_MEMBER, {"team": emea, "user": bob})
        assert added["addTeamMember"]["team"]["members"] == [
            {"userId": "alice"},
            {"userId": "bob"},
        ]
        seen = (await lead.data(OWNED))["customers"]["nodes"]
        assert sorted(c["externalId"] for c in seen) == ["alice", "bob"]

        await admin.data(REMOVE_MEMBER, {"team": emea, "user": bob})
        seen = (await lead.data(OWNED))["customers"]["nodes"]
        assert [c["externalId"] for c in seen] == ["alice"]
        again = await admin.data(REMOVE_MEMBER, {"team": emea, "user": bob})
        assert again["removeTeamMember"]["errors"] == [
            {"code": "NOT_FOUND", "field": ["input", "userId"]}
        ]


async def test_team_management_needs_users_manage(client: GraphQLClient) -> None:
    made = await client.data(CREATE_TEAM, {"name": "support"})
    assert made["createTeam"]["errors"] == [] and made["createTeam"]["team"]["name"] == "support"
    twice = await client.data(CREATE_TEAM, {"name": "support"})
    assert twice["createTeam"]["errors"] == [{"code": "DUPLICATE", "field": ["input", "name"]}]
    for role in ("sales", "integration", "readonly"):
        refused = await client.acting_as(role, f"{role}-user").execute(CREATE_TEAM, {"name": role})
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
        assert (await client.acting_as(role, f"{role}-user").data(TEAMS))["teams"][
            "totalCount"
        ] == 1
    assert (await client.data(TEAMS))["teams"]["totalCount"] == 1


async def test_an_assigned_owner_is_a_user(client: GraphQLClient) -> None:
    made = await client.data(
        'mutation { createCustomer(input: {name: "Ada"}) { customer { id owner { userId } } } }'
    )
    customer = made["createCustomer"]["customer"]
    assert customer["owner"] == {"userId": "test-admin"}
    assigned = await client.data(
        'mutation ($id: ID!) { assignCustomerOwner(input: {id: $id, ownerId: "grace"}) '
        "{ customer { ownerId owner { userId name active } } } }",
        {"id": customer["id"]},
    )
    assert assigned["assignCustomerOwner"]["customer"] == {
        "ownerId": "grace",
        "owner": {"userId": "grace", "name": "grace", "active": True},
    }


async def test_the_request_that_notes_its_user_reads_that_note(client: GraphQLClient) -> None:
    """A request noting its user's sighting (at most once a minute) reads after that write,
    served compiled as strawberry would (on SQLite the credential check's read snapshot ends
    with the write)."""
    fay = client.acting_as("sales", "fay")
    await fay.data('mutation { createCustomer(input: {name: "Owned"}) { customer { id } } }')
    engine = client.app.state.crm.engine
    before = utcnow() - timedelta(minutes=5)
    async with write_session(engine) as session:
        await session.execute(update(User).where(User.user_id == "fay").values(last_seen_at=before))
    query = "{ customers(first: 1) { nodes { owner { userId lastSeenAt } } } }"
    response = await fay.http.post("/graphql", json={"query": query}, headers=fay.headers)
    [node] = response.json()["data"]["customers"]["nodes"]
    assert response.headers["server-timing"] == 'plan;desc="compiled"'
    assert node["owner"]["userId"] == "fay"
    seen = datetime.fromisoformat(node["owner"]["lastSeenAt"])
    assert utcnow() - seen < timedelta(minutes=1), (seen, before)
