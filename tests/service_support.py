"""Helpers for the service plugin's tests: an app with the plugin, customers, tickets."""

from __future__ import annotations

import asyncio
from typing import Any

from crm_graph.testing import GraphQLClient

TICKET_FIELDS = """
  id subject description channel priority status tags version allowedStatuses
  createdAt firstResponseAt resolvedAt closedAt
  customer { id } assignee { userId } team { id name }
  statusChanges { from to at actor { userId } }
  comments { body public fromCustomer author { userId } }
"""


async def new_customer(client: GraphQLClient, name: str = "Ada", **fields: Any) -> str:
    data = await client.data(
        "mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) "
        "{ customer { id } errors { code message } } }",
        {"input": {"name": name, **fields}},
    )
    return data["createCustomer"]["customer"]["id"]


async def mutate(client: GraphQLClient, name: str, input: dict[str, Any], selection: str) -> dict:
    """The payload of ``name`` (``errors`` selected too), whatever it holds."""
    type_name = f"{name[0].upper()}{name[1:]}Input"
    data = await client.data(
        f"mutation ($input: {type_name}!) {{ {name}(input: $input) "
        f"{{ {selection} errors {{ code message field }} }} }}",
        {"input": input},
    )
    return data[name]


async def ok(client: GraphQLClient, name: str, input: dict[str, Any], selection: str) -> dict:
    payload = await mutate(client, name, input, selection)
    assert payload["errors"] == [], payload["errors"]
    return payload


async def new_ticket(client: GraphQLClient, customer: str, **fields: Any) -> dict:
    input = {"customerId": customer, "subject": "Parcel never arrived", **fields}
    payload = await ok(client, "createTicket", input, f"ticket {{ {TICKET_FIELDS} }}")
    return payload["ticket"]


async def set_status(client: GraphQLClient, ticket: str, status: str) -> dict:
    input = {"id": ticket, "status": status}
    return await mutate(client, "changeTicketStatus", input, f"ticket {{ {TICKET_FIELDS} }}")


async def reply(client: GraphQLClient, ticket: str, body: str, **fields: Any) -> dict:
    input = {"ticketId": ticket, "body": body, **fields}
    payload = await ok(client, "addTicketComment", input, f"ticket {{ {TICKET_FIELDS} }}")
    return payload["ticket"]


EVENTS = """query ($types: [String!]) { events(types: $types, first: 100) {
  nodes { type entityType entityId payload actor } } }"""


async def events_of(client: GraphQLClient, *types: str, count: int) -> list[dict]:
    """The events of these types, once ``count`` are sequenced (after commit on PostgreSQL)."""
    for _ in range(300):
        nodes = (await client.data(EVENTS, {"types": list(types)}))["events"]["nodes"]
        if len(nodes) >= count:
            return nodes
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} events of {types}, have {nodes}")
