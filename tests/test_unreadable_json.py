"""JSON that not every reader reads as written is refused at every entry point, and what was
stored before that (simulated here by writing it directly) is still read and delivered: lists,
exports, the ``events`` query, subscriptions and webhooks all go past it, and an event whose
payload had to be repaired arrives marked ``unreadable``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import customer, query_error, refused, snapshot
from io_support import cli, rejects, write
from sqlalchemy import update
from test_events import fast, read_all, wait_for_events
from test_subscriptions import EVENTS, receive, start, websocket
from test_webhooks import create_webhook, hook_settings, receiver, settled

from crm_graph.db.engine import write_session
from crm_graph.db.models import Customer
from crm_graph.events.outbox import emit
from crm_graph.ids import from_global_id
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

HUGE = 10**310  # JSON has no limit; orjson, JavaScript and every double-based reader do
HUGE_TEXT = str(HUGE)
OUT_OF_RANGE = "NUMBER_OUT_OF_RANGE"
CREATE = (
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { errors { code } } }"
)


async def _raw(client: GraphQLClient, body: str) -> tuple[str, str]:
    """(code, field) of a request whose body the test writes itself (``Infinity``, ``NaN``
    and lone surrogates, which a JSON encoder of a careful client would not send)."""
    response = await client.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]["extensions"]["code"], errors[0]["extensions"]["field"]


async def test_json_input_that_readers_would_misread_is_refused_with_its_path(
    client: GraphQLClient,
) -> None:
    before = await snapshot(client)
    literal = (
        'mutation { createCustomer(input: {name: "P", attributes: {n: %s}}) { errors { code } } }'
    )
    for number in (HUGE_TEXT, "1e400", "-9007199254740992", "9" * 5000):
        assert await query_error(client, literal % number) == (OUT_OF_RANGE, "input.attributes.n")
    answer = await client.execute(literal % HUGE_TEXT)
    assert answer["errors"][0]["message"].startswith("integers must be within ±9007199254740991")
    for name, input in [
        ("createCustomer", {"name": "P", "attributes": {"n": HUGE}}),
        ("createCustomer", {"name": "P", "attributes": {"n": 2**53}}),
        ("upsertCustomer", {"externalId": "x", "name": "P", "attributes": {"n": -(2**63)}}),
    ]:
        assert await refused(client, name, input) == (OUT_OF_RANGE, "input.attributes.n")
    for value in ("Infinity", "NaN", "-Infinity"):
        body = f'{{"query": "{CREATE}", "variables": {{"input": {{"name": "P", "attributes": {{"f": {value}}}}}}}}}'
        assert await _raw(client, body) == (OUT_OF_RANGE, "input.attributes.f")
    surrogate = {"query": CREATE, "variables": {"input": {"name": "P\ud800"}}}
    assert await _raw(client, json.dumps(surrogate)) == ("INVALID_VALUE", "input.name")
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    code, field = await _raw(
        client,
        json.dumps(
            {"query": CREATE, "variables": {"input": {"name": "P", "attributes": {"d": deep}}}}
        ),
    )
    assert (code, field.split(".")[:3]) == ("TOO_DEEP", ["input", "attributes", "d"])
    assert await snapshot(client) == before

    edge = {"n": 2**53 - 1, "m": -(2**53 - 1), "f": 1.5e308, "t": "\U0001f600"}
    stored = await customer(client, "Edge", attributes=edge)
    assert stored["attributes"] == edge
    read = await client.data(
        "query($id: ID!) { customer(id: $id) { attributes } }", {"id": stored["id"]}
    )
    assert read["customer"]["attributes"] == edge


async def test_an_import_rejects_such_rows_with_their_row_numbers(
    client: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    lines = [
        {"external_id": "A", "name": "Ann", "attributes": {"n": 2**53 - 1}},
        {"external_id": "B", "name": "Ben", "attributes": {"n": HUGE}},
        {"external_id": "C", "name": "Cy", "plan": 2**53},
        {"external_id": "D", "name": "D\ud800"},
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    text += '\n{"external_id": "E", "name": "Eve", "score": NaN}'
    text += '\n{"external_id": "F", "name": "Fay", "score": 1e400}'
    deep = "[" * 10**4 + "]" * 10**4
    text += '\n{"external_id": "G", "name": "Gil", "deep": ' + deep + "}\n"
    path = write(tmp_path / "customers.jsonl", text)
    result = await cli(settings.database_url, "import", "customers", str(path))

    assert result.exit_code == 1, result.output
    assert "1 inserted" in result.stderr and "6 rows rejected" in result.stderr
    reasons = rejects(path)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2].startswith("n: integers must be within ±9007199254740991")
    assert reasons[3].startswith("plan: integers must be within")
    assert reasons[4] == "name: text must not contain a lone UTF-16 surrogate (it is not Unicode)"
    assert reasons[5] == reasons[6] == "score: numbers must be finite"
    assert reasons[7] == "not valid JSON: nested too deeply to read"
    ann = await client.data('{ customer(externalId: "A") { attributes } }')
    assert ann["customer"]["attributes"] == {"n": 2**53 - 1}


async def _legacy_event(client: GraphQLClient, customer_id: str) -> None:
    """An event stored as this server stored one before input was checked: a number no JSON
    reader accepts, written by the event writer itself."""
    async with write_session(client.app.state.crm.engine) as session:
        payload = {"entity": {"id": customer_id, "attributes": {"n": HUGE}}, "version": 2}
        await emit(session, "customer.updated", "Customer", customer_id, payload)


async def test_stored_values_no_reader_accepts_are_read_everywhere_and_marked_in_events(
    settings: Settings, tmp_path: Path
) -> None:
    async with app_client(fast(settings), plugins=[]) as client:
        legacy = await customer(client, "Legacy")
        async with write_session(client.app.state.crm.engine) as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == int(from_global_id(legacy["id"])[1]))
                .values(attributes={"n": HUGE, "ok": 1})
            )
        await _legacy_event(client, legacy["id"])
        await customer(client, "After")

        listed = await client.data("{ customers { nodes { name attributes } } }")
        assert {n["name"]: n["attributes"] for n in listed["customers"]["nodes"]} == {
            "Legacy": {"n": HUGE_TEXT, "ok": 1},
            "After": {},
        }
        one = await client.data(
            "query($id: ID!) { customer(id: $id) { attributes } }", {"id": legacy["id"]}
        )
        assert one["customer"]["attributes"] == {"n": HUGE_TEXT, "ok": 1}

        events = await wait_for_events(client, 3)
        assert [e["type"] for e in events] == [
            "customer.created",
            "customer.updated",
            "customer.created",
        ]
        marked = events[1]["payload"]
        assert marked["entity"]["attributes"] == {"n": HUGE_TEXT}
        assert marked["unreadable"] == [
            {
                "field": ["entity", "attributes", "n"],
                "message": "a stored number no JSON reader accepts (311 characters), read as text",
            }
        ]
        assert "unreadable" not in events[2]["payload"]

        for fmt in ("csv", "jsonl"):
            out = tmp_path / f"customers.{fmt}"
            result = await cli(
                settings.database_url, "export", "customers", "--format", fmt, "-o", str(out)
            )
            assert result.exit_code == 0, result.output
            assert HUGE_TEXT in out.read_text(encoding="utf-8")


async def test_a_subscription_goes_past_an_unreadable_event(settings: Settings) -> None:
    async with app_client(fast(settings), plugins=[]) as client:
        first = await customer(client, "First")
        stored = await wait_for_events(client, 1)
        async with websocket(client) as live, websocket(client) as replay:
            await start(live, "1", EVENTS, {})
            await start(replay, "2", EVENTS, {"after": stored[0]["cursor"]})
            await _legacy_event(client, first["id"])
            after = await customer(client, "After")
            for ws in (live, replay):
                legacy, created = await receive(ws, 2)
                assert legacy["type"] == "customer.updated"
                assert legacy["payload"]["entity"]["attributes"] == {"n": HUGE_TEXT}
                assert legacy["payload"]["unreadable"][0]["field"] == ["entity", "attributes", "n"]
                assert (created["type"], created["entityId"]) == ("customer.created", after["id"])
        assert len(await read_all(client)) == 3


async def test_a_webhook_goes_past_an_unreadable_event(settings: Settings) -> None:
    async with (
        receiver(lambda _path, _n: "200") as target,
        app_client(hook_settings(settings), plugins=[]) as client,
    ):
        webhook = await create_webhook(
            client, target.url + "/hook", ["customer.updated", "customer.created"]
        )
        first = await customer(client, "First")
        await _legacy_event(client, first["id"])
        after = await customer(client, "After")
        deliveries = await settled(client, webhook, 3)
        assert {d["status"] for d in deliveries} == {"SUCCEEDED"}
    bodies = {
        (b["type"], b["entityId"]): b for b in map(json.loads, (r.body for r in target.requests))
    }
    assert set(bodies) == {
        ("customer.created", first["id"]),
        ("customer.updated", first["id"]),
        ("customer.created", after["id"]),
    }
    marked = bodies["customer.updated", first["id"]]["data"]
    assert marked["entity"]["attributes"] == {"n": HUGE_TEXT}
    assert marked["unreadable"][0]["field"] == ["entity", "attributes", "n"]
