"""The event log: every committed change has its event, nothing else does, and a reader that
follows cursors never skips an event, even when transactions commit out of order."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from crm_graph.domain.customers import create_customer
from crm_graph.plugin import EventType, PluginMetadata, emit, hookimpl
from crm_graph.plugins_manager import PluginError
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.web.app import create_app

EVENTS = """
query ($after: String, $types: [String!], $first: Int) {
  events(after: $after, types: $types, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id cursor type entityType entityId payload actor occurredAt } }
  }
}
"""


def fast(settings: Settings, **changes: Any) -> Settings:
    defaults = {
        "event_poll_interval_seconds": 0.05,
        "event_safety_poll_seconds": 0.05,
        "rate_limit_per_minute": 0,
    }
    return settings.model_copy(update={**defaults, **changes})


@pytest.fixture
async def events_client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(fast(settings), plugins=[]) as client:
        yield client


async def read_all(client: GraphQLClient, after: str | None = None, **variables: Any) -> list:
    """Every event after ``after`` by following ``endCursor`` page by page."""
    nodes = []
    while True:
        page = (await client.data(EVENTS, {"after": after, "first": 3, **variables}))["events"]
        nodes += [edge["node"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"] or after
        if not page["pageInfo"]["hasNextPage"]:
            return nodes


async def wait_for_events(client: GraphQLClient, count: int, **variables: Any) -> list:
    """Events appear once sequenced (after commit on PostgreSQL): poll briefly."""
    for _ in range(200):
        nodes = await read_all(client, **variables)
        if len(nodes) >= count:
            return nodes
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} events, have {len(nodes)}: {nodes}")


async def mutate(client: GraphQLClient, name: str, input: dict[str, Any], result: str) -> Any:
    data = await client.data(
        f"mutation ($input: {name[0].upper()}{name[1:]}Input!) "
        f"{{ {name}(input: $input) {{ {result} {{ id }} errors {{ code }} }} }}",
        {"input": input},
    )
    payload = data[name]
    assert payload["errors"] == [], payload
    return payload[result]


ASSIGN = """
mutation ($input: AssignCustomerOwnerInput!) {
  assignCustomerOwner(input: $input) {
    customer { id ownerId version updatedAt } errors { code field }
  }
}
"""
AUDIT = """
query ($target: ID!) {
  auditLog(filter: {targetId: $target, operation: "assignCustomerOwner"}) {
    nodes { operation targetIds }
  }
}
"""


async def test_assigning_an_owner_is_a_customer_update(events_client: GraphQLClient) -> None:
    """Through the domain like any update: version, updatedAt, a customer.updated event naming
    ownerId, one audit row; assigning the same owner again changes nothing."""
    client = events_client
    created = await client.data(
        'mutation { createCustomer(input: {name: "Ada"}) { customer { id version updatedAt } } }'
    )
    ada = created["createCustomer"]["customer"]
    await asyncio.sleep(0.01)  # so a new updatedAt is visibly later
    assign = {"id": ada["id"], "ownerId": "alice", "expectedVersion": 1}
    assigned = (await client.data(ASSIGN, {"input": assign}))["assignCustomerOwner"]
    assert assigned["errors"] == []
    customer = assigned["customer"]
    assert (customer["ownerId"], customer["version"]) == ("alice", 2)
    assert customer["updatedAt"] > ada["updatedAt"]

    events = await wait_for_events(client, 2)
    assert [e["type"] for e in events] == ["customer.created", "customer.updated"]
    assert events[1]["entityId"] == ada["id"]
    assert events[1]["payload"]["changedFields"] == ["ownerId"]
    assert events[1]["payload"]["entity"]["version"] == 2
    audit = (await client.data(AUDIT, {"target": ada["id"]}))["auditLog"]["nodes"]
    assert audit == [{"operation": "assignCustomerOwner", "targetIds": [ada["id"]]}]

    again = await client.data(ASSIGN, {"input": {"id": ada["id"], "ownerId": "alice"}})
    assert again["assignCustomerOwner"]["customer"]["version"] == 2
    stale = await client.data(ASSIGN, {"input": {**assign, "ownerId": "bob"}})
    assert stale["assignCustomerOwner"]["errors"] == [
        {"code": "CONFLICT", "field": ["input", "expectedVersion"]}
    ]
    await asyncio.sleep(0.2)
    assert len(await read_all(client)) == 2


async def test_every_change_writes_one_event_with_entity_version_and_changed_fields(
    events_client: GraphQLClient,
) -> None:
    client = events_client
    customer = await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
    cid = customer["id"]
    await mutate(
        client, "updateCustomer", {"id": cid, "name": "Ada L", "company": "AE"}, "customer"
    )
    await mutate(client, "updateCustomer", {"id": cid, "name": "Ada L"}, "customer")  # no change
    await mutate(client, "logInteraction", {"customerId": cid, "channel": "EMAIL"}, "interaction")
    product = await mutate(
        client, "createProduct", {"sku": "P1", "name": "Pen", "price": "2.50"}, "product"
    )
    await mutate(client, "updateProduct", {"id": product["id"], "price": "3"}, "product")
    order = await mutate(
        client,
        "placeOrder",
        {"customerId": cid, "lines": [{"productId": product["id"], "quantity": 2}]},
        "order",
    )
    await mutate(client, "changeOrderStatus", {"id": order["id"], "status": "PAID"}, "order")
    await mutate(client, "deleteCustomer", {"id": cid}, "customer")
    await mutate(client, "restoreCustomer", {"id": cid}, "customer")

    events = await wait_for_events(client, 9)
    assert [e["type"] for e in events] == [
        "customer.created",
        "customer.updated",
        "interaction.logged",
        "product.created",
        "product.updated",
        "order.placed",
        "order.status_changed",
        "customer.deleted",
        "customer.restored",
    ]
    created, updated = events[0], events[1]
    assert (created["entityType"], created["entityId"]) == ("Customer", cid)
    assert created["payload"]["entity"]["name"] == "Ada"
    assert created["payload"]["entity"]["version"] == 1
    assert "changedFields" not in created["payload"]
    assert sorted(updated["payload"]["changedFields"]) == ["company", "name"]
    assert updated["payload"]["entity"]["version"] == 2
    placed, paid = events[5], events[6]
    assert placed["payload"]["entity"]["total"] == paid["payload"]["entity"]["total"] == "6.00"
    assert placed["payload"]["lines"] == [
        {"productId": product["id"], "quantity": 2, "unitPrice": "3.00"}
    ]
    assert placed["payload"]["entity"]["customerId"] == cid
    assert paid["payload"]["previousStatus"] == "pending"
    assert paid["payload"]["entity"]["status"] == "paid"
    assert paid["payload"]["changedFields"] == ["status"]
    assert len({e["id"] for e in events}) == len({e["cursor"] for e in events}) == 9
    # ids are version 7 UUIDs: time first, so the log's uid index grows at its end
    uids = [uuid.UUID(e["id"]) for e in events]
    assert {u.version for u in uids} == {7} and [str(u) for u in uids] == [e["id"] for e in events]
    assert [u.int >> 80 for u in uids] == sorted(u.int >> 80 for u in uids)  # their times
    only_orders = await read_all(client, types=["order.placed", "order.status_changed"])
    assert [e["id"] for e in only_orders] == [placed["id"], paid["id"]]
    after_paid = await read_all(client, after=paid["cursor"])
    assert [e["type"] for e in after_paid] == ["customer.deleted", "customer.restored"]
    stream = (await client.data("{ eventStream { latestCursor retentionDays } }"))["eventStream"]
    assert stream == {"latestCursor": events[-1]["cursor"], "retentionDays": 30}


async def test_rolled_back_and_rejected_changes_leave_no_event(
    events_client: GraphQLClient,
) -> None:
    client = events_client
    app = client.app.state.crm
    with pytest.raises(RuntimeError):
        async with app.write() as session:
            await create_customer(session, {"name": "Ghost"}, "US")
            raise RuntimeError("the unit of work fails after its event was written")
    rejected = await client.data(
        'mutation { createCustomer(input: {name: "Bad", email: "not-an-email"}) '
        "{ errors { code } } }"
    )
    assert rejected["createCustomer"]["errors"] == [{"code": "INVALID_EMAIL"}]
    await mutate(client, "createCustomer", {"name": "Real"}, "customer")
    events = await wait_for_events(client, 1)
    await asyncio.sleep(0.2)  # a late, wrongly kept event would show up by now
    events = await read_all(client)
    assert [e["payload"]["entity"]["name"] for e in events] == ["Real"]
    async with app.read() as session:
        assert await session.scalar(text("SELECT count(*) FROM event_log")) == 1


async def test_a_cursor_reader_never_skips_transactions_that_commit_out_of_order(
    events_client: GraphQLClient, database_url: str
) -> None:
    """Writers take their event ids in one order and commit in the reverse one; after each
    commit both readers poll.

    A reader that remembers the largest serial id it has seen (what a plain auto-increment
    cursor does) skips every event that commits after a later one on PostgreSQL; one following
    our cursors gets every event exactly once. On SQLite writers are serialised (each commits
    before the next may write), so neither skips.
    """
    client = events_client
    app = client.app.state.crm
    writers = 5
    postgres = database_url.startswith("postgresql")
    inserted = [asyncio.Event() for _ in range(writers)]
    release = [asyncio.Event() for _ in range(writers)]

    async def writer(index: int) -> None:
        async with app.write() as session:
            await create_customer(session, {"name": f"W{index}"}, "US")  # takes its event id
            inserted[index].set()
            await release[index].wait()  # the transaction stays open until released

    plain_seen: list[str] = []
    ours_seen: list[str] = []
    plain_last = 0
    after: str | None = None

    async def plain_poll() -> None:
        nonlocal plain_last
        async with app.read() as session:
            rows = await session.execute(
                text("SELECT id, uid FROM event_log WHERE id > :last ORDER BY id"),
                {"last": plain_last},
            )
            for row_id, uid in rows.all():
                plain_seen.append(uid)
                plain_last = row_id

    async def cursor_poll(committed: int) -> None:
        """Read on until the newly committed event is there (it is sequenced after commit)."""
        nonlocal after
        for _ in range(250):
            page = (await client.data(EVENTS, {"after": after, "first": 10}))["events"]
            ours_seen.extend(edge["node"]["id"] for edge in page["edges"])
            after = page["pageInfo"]["endCursor"] or after
            if len(ours_seen) >= committed:
                return
            await asyncio.sleep(0.02)

    tasks = []
    for index in range(writers):  # ids are taken in index order
        tasks.append(asyncio.create_task(writer(index)))
        if postgres:
            await inserted[index].wait()
        else:  # the next writer waits for this one's commit (BEGIN IMMEDIATE)
            release[index].set()
            await tasks[index]
            await plain_poll()
            await cursor_poll(index + 1)
    if postgres:
        for done, index in enumerate(reversed(range(writers)), start=1):  # commit in reverse
            release[index].set()
            await tasks[index]
            await plain_poll()
            await cursor_poll(done)

    assert len(ours_seen) == len(set(ours_seen)) == writers
    if postgres:
        assert len(plain_seen) == 1, "the plain serial cursor should have skipped 4 events"
    else:
        assert plain_seen == ours_seen


async def test_bad_foreign_and_expired_cursors_are_refused_with_codes(
    settings: Settings,
) -> None:
    fresh = fast(settings, event_retention_days=0, event_prune_interval_seconds=0.05)
    async with app_client(fresh, plugins=[]) as client:
        start = (await client.data("{ eventStream { oldestCursor } }"))["eventStream"]
        await mutate(client, "createCustomer", {"name": "Old"}, "customer")
        for _ in range(200):
            stream = (await client.data("{ eventStream { oldestCursor latestCursor } }"))[
                "eventStream"
            ]
            if stream["oldestCursor"] != start["oldestCursor"]:
                break
            await asyncio.sleep(0.02)
        assert stream["oldestCursor"] == stream["latestCursor"], "retention did not run"

        expired = await client.execute(EVENTS, {"after": start["oldestCursor"]})
        error = expired["errors"][0]
        assert error["extensions"]["code"] == "CURSOR_EXPIRED"
        assert error["extensions"]["oldestCursor"] == stream["oldestCursor"]
        assert (await client.data(EVENTS, {"after": stream["oldestCursor"]}))["events"][
            "edges"
        ] == []

        latest = stream["latestCursor"]
        epoch, position = base64.urlsafe_b64decode(latest + "==").decode().split(":")
        arabic = position.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        for cursor, code in [
            ("not a cursor!", "INVALID_CURSOR"),
            # Only the canonical form of a valid cursor is one.
            (_cursor(epoch, arabic), "INVALID_CURSOR"),
            (_cursor(epoch, f"0{position}"), "INVALID_CURSOR"),
            (latest + "=" * (-len(latest) % 4 or 4), "INVALID_CURSOR"),
            (_cursor("0" * 32, 1), "CURSOR_WRONG_STORE"),
            (_cursor(epoch, 999), "CURSOR_WRONG_STORE"),
        ]:
            result = await client.execute(EVENTS, {"after": cursor})
            assert result["errors"][0]["extensions"]["code"] == code, result
            assert result["errors"][0]["extensions"]["field"] == "after"


def _cursor(epoch: str, position: int | str) -> str:
    return base64.urlsafe_b64encode(f"{epoch}:{position}".encode()).decode().rstrip("=")


class Notes:
    """A plugin that declares an event type, emits it, and records what its handler sees."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="notes", version="1.0")

    @hookimpl
    def crm_event_types(self) -> list[EventType]:
        return [
            EventType(
                "notes.pinned",
                "A note was pinned.",
                {"type": "object", "properties": {"text": {"type": "string"}}},
            )
        ]

    @hookimpl
    async def crm_event(self, event: Any) -> None:
        self.seen.append(event.type)


class Broken:
    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="broken", version="1.0")

    @hookimpl
    def crm_event(self, event: Any) -> None:
        raise RuntimeError(f"broken handler refuses {event.type}")


async def test_plugin_event_types_handlers_and_isolation(settings: Settings) -> None:
    notes = Notes()
    async with app_client(fast(settings), plugins=[notes, Broken()]) as client:
        declared = (await client.data("{ eventTypes { name owner payloadSchema } }"))["eventTypes"]
        owners = {t["name"]: t["owner"] for t in declared}
        assert owners["customer.created"] == "core" and owners["notes.pinned"] == "notes"
        schema = next(t for t in declared if t["name"] == "customer.updated")["payloadSchema"]
        assert "changedFields" in schema["properties"]

        await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        async with client.app.state.crm.write() as session:
            await emit(session, "notes.pinned", None, None, {"text": "hi"}, actor="tester")
        events = await wait_for_events(client, 2)
        assert [(e["type"], e["actor"]) for e in events] == [
            ("customer.created", "user:test-admin"),  # the caller of the mutation
            ("notes.pinned", "tester"),
        ]
        for _ in range(200):
            if len(notes.seen) == 2:
                break
            await asyncio.sleep(0.02)
        assert notes.seen == ["customer.created", "notes.pinned"]


def test_an_event_type_declared_twice_stops_startup() -> None:
    class Clash:
        @hookimpl
        def crm_plugin_metadata(self) -> PluginMetadata:
            return PluginMetadata(name="clash", version="1.0")

        @hookimpl
        def crm_event_types(self) -> list[EventType]:
            return [EventType("customer.created", "mine")]

    with pytest.raises(PluginError, match="'core' and 'clash'"):
        create_app(Settings(plugins=[], env="test"), plugins=[Clash()])


async def test_event_tables_match_their_migration(events_client: GraphQLClient) -> None:
    from crm_graph.db.migrate import differences

    app = events_client.app.state.crm
    assert await differences(app.engine, app.plugins) == []
