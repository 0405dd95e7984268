"""Helpers for the security specs: requests built from the schema, sockets, raw clients.

``operation_request`` builds a valid request for any operation field from the composed schema
itself (dummy values for required arguments, ``__typename`` for object results), so the
role-by-field table covers core and plugin fields without listing them by hand.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from graphql.pyutils import Undefined
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from crm_graph.testing import GraphQLClient, admin_token

MISSING_CUSTOMER = "Q3VzdG9tZXI6OTk5OTk5"  # Customer:999999
SCALARS: dict[str, Any] = {
    "ID": MISSING_CUSTOMER,
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "DateTime": "2030-01-01T00:00:00+00:00",
    "Date": "2030-01-01",
    "Decimal": "1",
    "JSON": {},
}


def dummy(graphql_type: Any) -> Any:
    """A valid value of an input type (required input fields only)."""
    if isinstance(graphql_type, GraphQLNonNull):
        return dummy(graphql_type.of_type)
    if isinstance(graphql_type, GraphQLList):
        return [dummy(graphql_type.of_type)]
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values))
    if isinstance(graphql_type, GraphQLInputObjectType):
        return {
            name: dummy(field.type)
            for name, field in graphql_type.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        }
    assert isinstance(graphql_type, GraphQLScalarType)
    return SCALARS[graphql_type.name]


def operation_request(schema: Any, type_name: str, field_name: str) -> tuple[str, dict[str, Any]]:
    """A document calling ``type_name.field_name`` with its required arguments, and variables."""
    operation = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}
    field = schema._schema.get_type(type_name).fields[field_name]
    required = {n: a for n, a in field.args.items() if isinstance(a.type, GraphQLNonNull)}
    declared = ", ".join(f"${n}: {a.type}" for n, a in required.items())
    passed = ", ".join(f"{n}: ${n}" for n in required)
    selection = (
        " { __typename }"
        if not isinstance(get_named_type(field.type), GraphQLScalarType | GraphQLEnumType)
        else ""
    )
    head = f"{operation[type_name]}({declared})" if required else operation[type_name]
    call = f"{field_name}({passed})" if required else field_name
    return f"{head} {{ {call}{selection} }}", {n: dummy(a.type) for n, a in required.items()}


def operation_fields(schema: Any) -> list[tuple[str, str]]:
    found = []
    for type_name in ("Query", "Mutation", "Subscription"):
        graphql_type = schema._schema.get_type(type_name)
        if isinstance(graphql_type, GraphQLObjectType):
            found += [(type_name, name) for name in graphql_type.fields]
    return found


def anonymous(client: GraphQLClient) -> httpx.AsyncClient:
    """A client for the same in-process app sending no credentials."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=client.app), base_url="http://testserver"
    )


def token_of(client: GraphQLClient, role: str, user_id: str) -> str:
    secret = client.app.state.crm.settings.jwt_secret.get_secret_value()
    return admin_token(role, user_id, secret)


@asynccontextmanager
async def socket(
    client: GraphQLClient, init_payload: dict[str, Any] | None, address: str = "127.0.0.1"
) -> AsyncIterator[AsyncWebSocketSession]:
    """An in-process graphql-transport-ws socket to the client's app from client ``address``,
    after connection_init (the caller reads the answer: ``connection_ack`` or a close)."""
    transport = ASGIWebSocketTransport(app=client.app, client=(address, 40000))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        aconnect_ws("/graphql", http, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_text(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
        yield ws


async def closed_code(
    client: GraphQLClient, payload: dict, address: str = "127.0.0.1"
) -> int | None:
    """The close code of a socket whose connection_init carries ``payload``; None if acked."""
    async with socket(client, payload, address) as ws:
        try:
            message = json.loads(await ws.receive_text(timeout=5))
        except WebSocketDisconnect as closed:
            return closed.code
        assert message["type"] == "connection_ack"
        return None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
