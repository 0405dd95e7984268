"""The compiled read path answers exactly as strawberry does, in fewer statements.

Every query runs on two apps over one database: one with compiled reads (the default) and one
with ``compiled_reads=False`` (strawberry only). Responses must be equal (data, and errors in
any order) for every role, and the ``Server-Timing`` header says which path answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from graphql import parse
from sqlalchemy import update

import crm_analytics
import crm_loyalty
import crm_service
from crm_graph.auth.models import User
from crm_graph.db.engine import write_session
from crm_graph.demo import seed_demo
from crm_graph.schema.planner.build import roots
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements
from tests.helpers import beyond_authentication, ok
from tests.query_generator import QueryGenerator
from tests.service_support import new_ticket, reply, set_status
from tests.test_plugin_fields import NAME as FIELDS_PLUGIN
from tests.test_plugin_fields import FieldsPlugin
from tests.test_plugin_fields import _seed as seed_fields
from tests.test_subscriptions import fast, mutate, receive, start, wait_for_events, websocket

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from nested_query import QUERY as BENCH_QUERY

COMPILED = 'plan;desc="compiled"'
FALLBACK = 'plan;desc="fallback"'
ROLES = ("admin", "sales", "marketing", "service", "analyst", "readonly")

README_QUERY = (
    '{ customers(first: 3, filter: {search: "an"}) { totalCount nodes { id name email '
    "orders(first: 2) { nodes { number total { amount currency } } } } } }"
)
SMALL_PAGE = "{ customers(first: 20) { nodes { id name email } } }"

# (query, variables): every one is compiled for an administrator.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    (BENCH_QUERY, {}),
    (README_QUERY, {}),
    (SMALL_PAGE, {}),
    (
        "{ customers(first: 3) { nodes { ownerId erasedAt "
        "consents { __typename id channel granted source recordedAt } } } }",
        {},
    ),
    (
        """{ customers(first: 6, filter: {countries: ["US", "GB", "DE"]}) { nodes { id birthDate
             preferredLanguage timeZone addresses { __typename kind lines city region postalCode
             country } } } }""",
        {},
    ),
    (
        """query Page($first: Int, $after: String, $withOrders: Boolean!, $skipMail: Boolean!) {
          list: customers(first: $first, after: $after, orderBy: {field: NAME, direction: ASC}) {
            __typename totalCount
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }
            edges { cursor __typename node { ...Who mail: email @skip(if: $skipMail) } }
            nodes { id orders(last: 2) @include(if: $withOrders) { totalCount edges { cursor node { number status } } } }
          }
        }
        fragment Who on Customer { __typename id name phone lifecycleStage tags attributes createdAt deletedAt version }""",
        {"first": 4, "withOrders": True, "skipMail": False},
    ),
    (
        """query Page($first: Int, $withOrders: Boolean!, $skipMail: Boolean!) {
          customers(first: $first) { nodes { id email @skip(if: $skipMail)
            orders @include(if: $withOrders) { nodes { id } } } }
        }""",
        {"first": 2, "withOrders": False, "skipMail": True},
    ),
    (
        """{ customers(last: 3, filter: {lifecycleStages: [CUSTOMER, LEAD], includeDeleted: true}) {
             pageInfo { hasNextPage hasPreviousPage } nodes { name lifecycleStage
             interactions(first: 2, orderBy: {direction: ASC}) { pageInfo { endCursor hasNextPage }
               nodes { id channel direction subject body occurredAt createdAt customer { id name } } } } } }""",
        {},
    ),
    (
        """{ orders(first: 5, orderBy: {field: TOTAL, direction: DESC}, filter: {statuses: [PAID, FULFILLED]}) {
             totalCount nodes { id number status currency placedAt createdAt updatedAt version
               total { amount currency __typename } customer { id email }
               lines { quantity unitPrice { amount currency } lineTotal { amount } product { id sku name category price { amount currency } } } } } }""",
        {},
    ),
    (
        """{ interactions(first: 4, filter: {channels: [EMAIL, PHONE]}) { edges { cursor node { id subject customer { name } } } } }""",
        {},
    ),
    (
        "{ products(first: 3, orderBy: {field: PRICE}) { nodes { id sku name price { amount } version } } }",
        {},
    ),
]


async def _post(client: GraphQLClient, query: str, variables: dict[str, Any]) -> tuple[Any, str]:
    response = await client.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    return response.json(), response.headers.get("server-timing", "")


def _normal(body: dict[str, Any]) -> dict[str, Any]:
    """Errors in a stable order and without their list indexes: both paths report the same
    errors, not in the same order; and when a null propagates from a field of several
    objects of a list, the executor reports the object that failed first, which depends on
    its scheduling (strawberry's own answers to one query differ there)."""
    errors = body.get("errors")
    if errors:
        errors = [
            {**e, "path": [p if isinstance(p, str) else 0 for p in e["path"]]}
            if e.get("path")
            else e
            for e in errors
        ]
        body = {**body, "errors": sorted(errors, key=lambda e: (repr(e.get("path")), e["message"]))}
    return body


async def same_answer(
    compiled: GraphQLClient,
    fallback: GraphQLClient,
    query: str,
    variables: dict[str, Any],
    role: str = "admin",
) -> tuple[Any, str]:
    try:
        body, served = await _post(compiled, query, variables)
        expected, other = await _post(fallback, query, variables)
    except (Exception, asyncio.CancelledError) as exc:  # name the case whatever ended it
        raise AssertionError(f"{role} {query} {variables}: {exc!r}") from exc
    assert other == FALLBACK
    if served == FALLBACK and body.get("data") is None and expected.get("data") is None:
        # Both answers are strawberry's, and a null reached data: which errors of other root
        # fields it reports depends on the order the database answered (graphql-core does not
        # wait for sibling fields once one fails), so two runs of one query differ there.
        assert body.get("errors") and expected.get("errors"), (role, query, variables)
        return body, served
    assert _normal(body) == _normal(expected), (
        f"{role} {served}\n{query}\n{json.dumps(variables)}\n"
        f"compiled: {json.dumps(_normal(body), sort_keys=True)}\n"
        f"strawberry: {json.dumps(_normal(expected), sort_keys=True)}"
    )
    return body, served


@pytest.fixture
async def apps(settings: Settings) -> AsyncIterator[tuple[GraphQLClient, GraphQLClient]]:
    """The compiled app and a strawberry-only app (both with the service plugin) on one seeded
    database; the sales user owns three customers of its own, and some customers of each have
    tickets."""
    async with app_client(settings, plugins=[crm_service]) as compiled:
        await seed_demo(compiled.app.state.crm.engine, customers=12, seed=5)
        sales = compiled.acting_as("sales")
        for name in ("Ann Own", "Bob Own", "Cyd Own"):
            await ok(sales, "createCustomer", {"name": name, "email": f"{name[:3]}@example.com"})
        first = (await compiled.data("{ customers(first: 1) { nodes { id } } }"))["customers"]
        await _seed_tickets(compiled)
        record = """mutation($input: RecordConsentInput!) { recordConsent(input: $input) {
          errors { code } } }"""
        for channel, granted in (("EMAIL", True), ("SMS", False), ("EMAIL", False)):
            consent = {
                "customerId": first["nodes"][0]["id"],
                "channel": channel,
                "granted": granted,
            }
            await compiled.data(record, {"input": consent})
        # A request notes its user's sighting at most once a minute, so a minute ending between
        # the two paths' requests would change lastSeenAt between their answers: the users
        # are seen in the future, and so not noted again.
        async with write_session(compiled.app.state.crm.engine) as session:
            await session.execute(
                update(User).values(last_seen_at=datetime(2100, 1, 1, tzinfo=UTC))
            )
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_service], migrate=False) as fallback:
            yield compiled, fallback


async def _seed_tickets(client: GraphQLClient) -> None:
    """Tickets of every third customer (the sales user's own among them): replied to,
    resolved, urgent or tagged, so that the generated queries find some."""
    customers = (await client.data("{ customers(first: 15) { nodes { id } } }"))["customers"]
    for index, node in enumerate(customers["nodes"][::3]):
        ticket = await new_ticket(
            client, node["id"], priority=("URGENT", "LOW")[index % 2], tags=["vip"][: index % 2]
        )
        await reply(client, ticket["id"], f"On it, {index}", public=index % 3 != 2)
        if index % 2:
            assert not (await set_status(client, ticket["id"], "RESOLVED"))["errors"]


async def test_every_role_gets_the_same_answer_from_both_paths(apps: Any) -> None:
    compiled, fallback = apps
    for query, variables in QUERIES:
        _, served = await same_answer(compiled, fallback, query, variables)
        assert served == COMPILED, query
        for role in ROLES:
            await same_answer(
                compiled.acting_as(role), fallback.acting_as(role), query, variables, role
            )


async def test_pages_after_and_before_a_cursor_and_lookups_by_id(apps: Any) -> None:
    compiled, fallback = apps
    page = """query($first: Int, $after: String, $last: Int, $before: String) {
      customers(first: $first, after: $after, last: $last, before: $before,
                orderBy: {field: CREATED_AT, direction: ASC}) {
        pageInfo { startCursor endCursor hasNextPage hasPreviousPage }
        nodes { id orders(first: 1) { pageInfo { endCursor } nodes { id } } } } }"""
    body, served = await same_answer(compiled, fallback, page, {"first": 3})
    assert served == COMPILED
    info = body["data"]["customers"]["pageInfo"]
    for variables in (
        {"first": 2, "after": info["endCursor"]},
        {"last": 2, "before": info["endCursor"]},
    ):
        _, served = await same_answer(compiled, fallback, page, variables)
        assert served == COMPILED
    customer = next(c for c in body["data"]["customers"]["nodes"] if c["orders"]["nodes"])
    nested = """query($id: ID!, $after: String) { customer(id: $id) { id
      orders(first: 2, after: $after) { nodes { id number } } } }"""
    _, served = await same_answer(
        compiled,
        fallback,
        nested,
        {"id": customer["id"], "after": customer["orders"]["pageInfo"]["endCursor"]},
    )
    assert served == COMPILED
    order_id = customer["orders"]["nodes"][0]["id"]
    lookups = """query($ids: [ID!]!, $id: ID!, $order: ID!) {
      nodes(ids: $ids) { __typename id ... on Customer { name email } ... on Order { number total { amount } } }
      node(id: $id) { ... on Customer { name orders(first: 1) { nodes { number } } } }
      order(id: $order) { number customer { id } }
    }"""
    variables = {
        "ids": [customer["id"], order_id, customer["id"]],
        "id": customer["id"],
        "order": order_id,
    }
    for role in ROLES:
        _, served = await same_answer(
            compiled.acting_as(role), fallback.acting_as(role), lookups, variables
        )
        if role == "admin":
            assert served == COMPILED


async def test_a_field_error_leaves_other_fields_reading_the_same_rows_intact(apps: Any) -> None:
    """Marketing may not read orders: under ``node`` the forbidden non-null ``orders`` nulls the
    customer, and the executor cancels its siblings, ``consents`` among them, while
    ``customer(id:)`` waits for the same customer's consents. (Found by the 2,000-query run:
    the cancelled sibling cancelled the rows both awaited, and the request ended in a
    CancelledError.)"""
    compiled, fallback = apps
    first = (await compiled.data("{ customers(first: 1) { nodes { id } } }"))["customers"]
    query = """query($id: ID!) {
      node(id: $id) { ... on Customer { consents { channel } orders { totalCount } } }
      customer(id: $id) { consents { channel granted } } }"""
    variables = {"id": first["nodes"][0]["id"]}
    for role in ROLES:
        body, _ = await same_answer(
            compiled.acting_as(role), fallback.acting_as(role), query, variables, role
        )
        assert len(body["data"]["customer"]["consents"]) == 3, role
        if role == "marketing":
            assert body["data"]["node"] is None
            [error] = body["errors"]
            assert (error["path"], error["extensions"]["code"]) == (["node", "orders"], "FORBIDDEN")


async def test_argument_errors_are_answered_by_strawberry(apps: Any) -> None:
    compiled, fallback = apps
    for query in (
        '{ customers(after: "not a cursor") { nodes { id } } }',
        "{ customers(first: 5000) { nodes { id } } }",
        '{ node(id: "nope") { id } }',
        "{ customers { nodes { id orders(first: 1, last: 1) { nodes { id } } } } }",
    ):
        body, served = await same_answer(compiled, fallback, query, {})
        assert served == FALLBACK and body["errors"], query


async def test_mutations_introspection_and_other_fields_fall_back(apps: Any) -> None:
    compiled, fallback = apps
    for query in (
        "{ __schema { queryType { name } } }",
        "{ eventTypes { name } }",
        '{ customer(id: "Q3VzdG9tZXI6MQ==", externalId: "demo-0001") { id } }',
    ):
        _, served = await same_answer(compiled, fallback, query, {})
        assert served == FALLBACK, query


async def test_lookups_by_external_id_and_sku_compile(apps: Any) -> None:
    """``customer(externalId:)`` finds the holder or, for a merged customer's external id,
    the survivor; ``product(sku:)``; both within the caller's scope (sales sees its own)."""
    compiled, fallback = apps
    page = await compiled.data(
        "{ customers(first: 12) { nodes { id externalId } } products(first: 1) { nodes { sku } } }"
    )
    held = [node for node in page["customers"]["nodes"] if node["externalId"]]
    survivor, merged, other = held[:3]
    merge = """mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) {
      errors { code } } }"""
    merging = {"survivorId": survivor["id"], "mergedIds": [merged["id"]]}
    assert (await compiled.data(merge, {"input": merging}))["mergeCustomers"]["errors"] == []
    query = """query($external: String!, $sku: String!) {
      customer(externalId: $external) { id name orders(first: 1) { totalCount } }
      product(sku: $sku) { id sku name price { amount currency } } }"""
    sku = page["products"]["nodes"][0]["sku"]
    for customer in (survivor, merged, other, {"externalId": "nobody"}):
        external = customer["externalId"]
        variables = {"external": external, "sku": sku if external != "nobody" else "none"}
        for role in ROLES:
            body, served = await same_answer(
                compiled.acting_as(role), fallback.acting_as(role), query, variables, role
            )
            if role in ("admin", "service", "analyst", "readonly"):
                assert served == COMPILED, (role, external)
        found = body["data"]["customer"]  # as readonly, who reads every customer
        if customer is merged:
            assert found["id"] == survivor["id"]
        else:
            assert found == (None if external == "nobody" else {**found, "id": customer["id"]})


async def test_table_fields_of_rows_compile(settings: Settings) -> None:
    """A plugin's RelatedRows field (the latest two orders of each customer) and the fields
    under it compile, with the plugin's batch field and masks, for every role."""
    async with app_client(settings, plugins=[FieldsPlugin()]) as compiled:
        compiled.app.state.crm.plugin_state[FIELDS_PLUGIN] = []
        await seed_fields(compiled, ["Ann", "Bad", "Cid"])
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[FieldsPlugin()], migrate=False) as fallback:
            fallback.app.state.crm.plugin_state[FIELDS_PLUGIN] = []
            query = """{ customers(first: 3) { nodes { name nameShout(times: 2)
              latestOrders { id number placedAt total { amount } buyerEmail
                customer { name } lines { quantity } } } } }"""
            for role in ROLES:
                body, served = await same_answer(
                    compiled.acting_as(role), fallback.acting_as(role), query, {}, role
                )
                if role != "marketing":
                    assert served == COMPILED, role
            latest = [len(node["latestOrders"]) for node in body["data"]["customers"]["nodes"]]
            assert latest == [2, 2, 2]


async def test_the_nested_page_costs_five_statements_whatever_the_rows(apps: Any) -> None:
    compiled, _ = apps
    counts = []
    for size in (2, 12):
        query = BENCH_QUERY.replace("first: 50", f"first: {size}")
        with count_statements(compiled.app) as statements:
            response = await compiled.http.post("/graphql", json={"query": query})
        assert response.headers["server-timing"] == COMPILED
        # Plus the credential check (the caller's user), which is not the query's.
        counts.append(len(beyond_authentication(statements)))
    assert counts == [5, 5]


async def test_callers_sharing_a_plan_each_read_their_own_rows(apps: Any) -> None:
    """A plan and its statements, compiled once, serve every caller with the same grants:
    each request binds its own caller's owners (lists, nested connections, lookups)."""
    compiled, fallback = apps
    query = """query Mine($id: ID!) { customers(first: 50) { totalCount nodes { name
      orders(first: 2) { totalCount nodes { number } } } } customer(id: $id) { name } }"""
    mine = {}
    for user in ("seller-a", "seller-b"):
        caller = compiled.acting_as("sales", user)
        made = await ok(caller, "createCustomer", {"name": f"Owned by {user}"})
        mine[user] = made["customer"]["id"]
    for user, other in (("seller-a", "seller-b"), ("seller-b", "seller-a")):
        caller, plain = compiled.acting_as("sales", user), fallback.acting_as("sales", user)
        body, served = await same_answer(caller, plain, query, {"id": mine[other]}, "sales")
        assert served == COMPILED
        assert body["data"]["customers"]["nodes"] == [
            {"name": f"Owned by {user}", "orders": {"totalCount": 0, "nodes": []}}
        ]
        assert body["data"]["customer"] is None  # the other seller's customer is not found


async def test_plans_are_reused_and_the_cache_is_bounded(settings: Settings) -> None:
    small = settings.model_copy(update={"plan_cache_size": 2})
    async with app_client(small, plugins=[]) as client:
        planner = client.app.state.planner
        for _ in range(3):
            _, served = await _post(client, SMALL_PAGE, {})
            assert served == COMPILED
        assert len(planner.plans) == 1
        for first in (1, 2, 3):
            await _post(client, f"{{ customers(first: {first}) {{ nodes {{ id }} }} }}", {})
        assert len(planner.plans) == 2


PLUGIN_QUERY = """query($first: Int!) { customers(first: $first, orderBy: {field: CREATED_AT, direction: ASC}) {
  nodes { id name loyaltyPoints loyaltyTier { name minPoints }
    rfm { recencyDays frequency monetary { amount currency } r f m segment }
    churnRisk { probability band factors { name impact } }
    segment { id name customers }
    recommendations { score reason product { id sku name price { amount } } }
    owner { userId teams { id name members { userId name } } } } } }"""


async def test_plugin_fields_compile_with_their_errors_and_permissions(settings: Settings) -> None:
    """Table-backed and batch fields of the loyalty and analytics plugins (untrained: each
    customer gets its own NOT_TRAINED error), for every role."""
    async with app_client(settings, plugins=[crm_loyalty, crm_analytics]) as compiled:
        await seed_demo(compiled.app.state.crm.engine, customers=6, seed=2)
        first = (await compiled.data("{ customers(first: 1) { nodes { id } } }"))["customers"]
        award = """mutation($id: ID!) { awardLoyaltyPoints(input: {customerId: $id, points: 700,
          reason: "test"}) { errors { code } } }"""
        await compiled.data(award, {"id": first["nodes"][0]["id"]})
        # A seventh customer owned by the caller, who is in a team: owner { teams { members } }.
        owned = await compiled.data(
            'mutation { createCustomer(input: {name: "Owned"}) { customer { ownerId } } }'
        )
        team = await compiled.data(
            'mutation { createTeam(input: {name: "North"}) { team { id } } }'
        )
        users = (await compiled.data("{ users(first: 5) { nodes { id userId } } }"))["users"]
        owner = owned["createCustomer"]["customer"]["ownerId"]
        member = {
            "teamId": team["createTeam"]["team"]["id"],
            "userId": next(u["id"] for u in users["nodes"] if u["userId"] == owner),
        }
        join = "mutation($input: TeamMemberInput!) { addTeamMember(input: $input) { errors { code } } }"
        assert (await compiled.data(join, {"input": member}))["addTeamMember"]["errors"] == []
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(
            plain, plugins=[crm_loyalty, crm_analytics], migrate=False
        ) as fallback:
            body, served = await same_answer(compiled, fallback, PLUGIN_QUERY, {"first": 7})
            assert served == COMPILED
            assert any(e["extensions"]["code"] == "NOT_TRAINED" for e in body["errors"])
            for role in ROLES:
                await same_answer(
                    compiled.acting_as(role), fallback.acting_as(role), PLUGIN_QUERY, {"first": 7}
                )


# `make test` runs a fixed-seed sample; `make test-deep` the full corpus (see the Makefile).
GENERATED = int(os.environ.get("CRM_DIFFERENTIAL_QUERIES", "25"))
CORPUS = 2000
SEED = int(os.environ.get("CRM_DIFFERENTIAL_SEED", "17"))


async def test_generated_queries_answer_alike_for_every_role(apps: Any) -> None:
    """The differential corpus: both paths answer alike, and the compiled path serves at least
    95% of the queries executed (not those refused before, e.g. over the cost limit) for
    every role. A query falls back where a null propagating from a non-null field the caller
    may not read reaches ``data`` after a read of one of several root fields (which error it
    reports depends on the order the database answers them)."""
    compiled, fallback = apps
    sample = await compiled.data(
        "{ customers(first: 3) { nodes { id } } orders(first: 2) { nodes { id } } "
        "interactions(first: 1) { nodes { id } } products(first: 2) { nodes { id } } }"
    )
    ids = [node["id"] for connection in sample.values() for node in connection["nodes"]]
    generator = QueryGenerator(compiled.app.state.schema._schema, SEED, ids)
    served: dict[str, list[bool]] = {role: [] for role in ROLES}
    for number in range(1, GENERATED + 1):
        query, variables = generator.query()
        for role in ROLES:
            body, how = await same_answer(
                compiled.acting_as(role), fallback.acting_as(role), query, variables, role
            )
            if not refused(body):
                served[role].append(how == COMPILED)
        if number % 250 == 0:  # a deep run's progress (pytest -s)
            print(f"{number} of {GENERATED} queries answered alike by every role", flush=True)
    shares = {role: round(sum(flags) / len(flags), 3) for role, flags in served.items()}
    print(f"compiled share by role ({GENERATED} queries, seed {SEED}): {shares}")
    # The goal is 95% of the corpus (make test-deep); one query of the 25 a sample draws is
    # 4%, so the sample holds to 90% (a change falling back broadly still fails it).
    goal = 0.95 if GENERATED >= CORPUS else 0.9
    assert all(share >= goal for share in shares.values()), shares


def refused(body: dict[str, Any]) -> bool:
    """Refused before execution (over the cost limit...): no data, errors of no field."""
    return body.get("data") is None and all("path" not in e for e in body.get("errors", ()))


def readme_queries() -> list[str]:
    """The queries (not mutations) the README sends with curl."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    queries = [json.loads(body)["query"] for body in re.findall(r"-d '(\{.*?\})'", text)]
    return [q for q in queries if not q.lstrip().startswith(("mutation", "subscription"))]


async def test_the_readme_and_benchmark_queries_are_served_compiled(settings: Settings) -> None:
    """With every installed plugin. Every query starting from fields a plan starts from (lists
    declared with ``list_field`` or ``rows_field``, the core's and plugins', lookups by ID) is
    served compiled; a plugin's Query field that is a classic resolver is strawberry's."""
    queries = [*readme_queries(), BENCH_QUERY, SMALL_PAGE]
    assert len(queries) >= 4
    installed = [entry.load() for entry in entry_points(group="crm_graph.plugins")]
    async with app_client(settings, plugins=installed) as client:
        await seed_demo(client.app.state.crm.engine, customers=6, seed=2)
        schema = client.app.state.schema._schema
        for query in queries:
            body, served = await _post(client, query, {})
            assert body["data"], (query, body)
            selections = parse(query).definitions[0].selection_set.selections
            if {selection.name.value for selection in selections} <= roots(schema):
                assert served == COMPILED, query


SUBSCRIPTION = """subscription($after: String, $withPayload: Boolean!) {
  e: events(after: $after) { __typename id key: cursor type entityType entityId actor
    occurredAt payload @include(if: $withPayload) } }"""


async def test_subscriptions_write_each_event_with_the_compiled_serializer(
    settings: Settings,
) -> None:
    """Over a real WebSocket, each event's answer is written from the subscription's plan (the
    planner counts what it wrote), the same as strawberry writes it, masked for a caller
    without pii:read."""
    # "watcher" reads events, not personal data.
    settings = fast(settings, roles={"watcher": ["events:read", "customers:read"]})
    async with app_client(settings, plugins=[]) as compiled:
        for name in ("Ann", "Bob", "Cyd"):
            await mutate(
                compiled, "createCustomer", {"name": name, "email": f"{name}@x.io"}, "customer"
            )
        stored = await wait_for_events(compiled, 3)
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[], migrate=False) as fallback:
            assert fallback.app.state.planner is None
            planner = compiled.app.state.planner
            answers = {}
            for role in ("admin", "watcher"):
                variables = {"after": stored[0]["cursor"], "withPayload": True}
                for client in (compiled, fallback):
                    async with websocket(client.acting_as(role)) as ws:
                        await start(ws, "1", SUBSCRIPTION, variables)
                        answers[role, client is compiled] = await receive(ws, 2)
                assert answers[role, True] == answers[role, False], role
            assert planner.events_written == 4
    admin, watcher = answers["admin", True], answers["watcher", True]
    assert [e["key"] for e in admin] == [e["cursor"] for e in stored[1:]]
    assert (
        admin[0]["__typename"] == "Event" and admin[0]["payload"]["entity"]["email"] == "bob@x.io"
    )
    assert watcher[0]["payload"]["entity"]["email"] not in (None, "bob@x.io")


async def test_queries_sent_by_get_are_served_compiled_as_posted_ones(apps: Any) -> None:
    """Single-page apps' clients (urql, Apollo) send queries by GET with the query, its
    variables (JSON) and operation name as parameters: answered from the plan, as by POST;
    what strawberry refuses by GET (a mutation, variables that are not JSON) it still does."""
    compiled, fallback = apps
    query = "query Page($first: Int) { customers(first: $first) { nodes { id name } } }"
    posted, how = await _post(compiled, query, {"first": 2})
    assert how == COMPILED
    sent = {"query": query, "variables": json.dumps({"first": 2}), "operationName": "Page"}
    got = await compiled.http.get("/graphql", params=sent, headers=compiled.headers)
    assert got.headers["server-timing"] == COMPILED
    assert got.json() == posted
    for refused in (
        {"query": 'mutation { createCustomer(input: {name: "X"}) { errors { code } } }'},
        {"query": query, "variables": "{not json"},
    ):
        ours = await compiled.http.get("/graphql", params=refused, headers=compiled.headers)
        theirs = await fallback.http.get("/graphql", params=refused, headers=fallback.headers)
        assert ours.headers["server-timing"] == FALLBACK
        assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text)
        assert ours.status_code >= 400
    assert (await compiled.data("{ customers { totalCount } }"))["customers"]["totalCount"] == 15
