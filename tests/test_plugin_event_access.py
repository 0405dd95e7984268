"""A plugin's events are masked like the core's: an event type declares the payload keys that
hold personal data (``personal_data``) and the permission its payload needs (``permission``),
and every place events are delivered (the ``events`` page, subscriptions, webhooks and their
delivery log) shows them as the reader may see them. An event whose type no loaded plugin
declares any more says nothing of what it holds, so it reaches readers without ``pii:read``
with a null payload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_subscriptions import receive, start, websocket
from test_webhook_grants import LOGGED
from test_webhooks import create_webhook, hook_settings, receiver

from crm_graph.plugin import EventType, Permissions, PluginMetadata, emit, hookimpl
from crm_graph.plugins_manager import PluginError
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.web.app import create_app
from crm_graph.webhooks import verify

NAME, EMAIL, PHONE, OTHER = "Canary Person", "canary@example.com", "+14155550188", "cc@example.org"
PAYLOAD = {
    "subject": "Printer on fire",
    "contact": {"name": NAME, "email": EMAIL, "phone": PHONE},
    "attendees": [{"email": OTHER, "role": "cc"}, {"role": "bcc"}],
    "notes": f"call {NAME} back",
}
MASKED = {
    "subject": "Printer on fire",
    "contact": {"name": "***", "email": "c***@example.com", "phone": "+1********88"},
    "attendees": [{"email": "c***@example.org", "role": "cc"}, {"role": "bcc"}],
    "notes": "***",
}
ROLES = {
    "desk": ["events:read", "tickets:read", "webhooks:manage"],  # no pii:read
    "desk_pii": ["events:read", "tickets:read", "webhooks:manage", "pii:read"],
    "outsider": ["events:read", "webhooks:manage", "pii:read"],  # may not read tickets
    "desk_own": ["events:read", "tickets:read@own", "pii:read"],  # a stream is not by owner
}
EVENTS = "query ($types: [String!]) { events(types: $types) { nodes { type entityId payload } } }"


class Tickets:
    """A plugin whose event carries a contact's details."""

    def __init__(self, **declared: Any) -> None:
        self.declared = {
            "personal_data": {
                "contact.name": "text",
                "contact.email": "email",
                "contact.phone": "phone",
                "attendees.email": "email",
                "notes": "text",
            },
            "permission": "tickets:read",
            **declared,
        }

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="tickets", version="1.0")

    @hookimpl
    def crm_permissions(self) -> Permissions:
        return Permissions(declare={"tickets:read": "Read tickets."})

    @hookimpl
    def crm_event_types(self) -> list[EventType]:
        return [EventType("tickets.opened", "A ticket was opened.", **self.declared)]


async def _emit(client: GraphQLClient, type: str, payload: dict) -> None:
    async with client.app.state.crm.write() as session:
        await emit(session, type, "Ticket", 7, payload)


async def _events(client: GraphQLClient, type: str) -> list[dict]:
    for _ in range(250):  # events appear once sequenced (after commit on PostgreSQL)
        nodes = (await client.data(EVENTS, {"types": [type]}))["events"]["nodes"]
        if nodes:
            return nodes
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {type} event")


@pytest.fixture
async def http() -> AsyncIterator[Any]:
    async with receiver(lambda _path, _n: "200") as found:
        yield found


async def test_a_plugin_events_personal_keys_are_masked_everywhere(
    settings: Settings, http: Any
) -> None:
    async with app_client(hook_settings(settings, roles=ROLES), plugins=[Tickets()]) as admin:
        hooks = {
            role: await create_webhook(
                admin.acting_as(role), f"{http.url}/{role}", ["tickets.opened"]
            )
            for role in ("desk", "desk_pii", "outsider")
        }
        oldest = (await admin.data("{ eventStream { oldestCursor } }"))["eventStream"]
        await _emit(admin, "tickets.opened", PAYLOAD)
        seen = {
            role: (await _events(admin.acting_as(role), "tickets.opened"))[0]["payload"]
            for role in ("admin", "desk", "desk_pii", "outsider", "desk_own")
        }
        async with websocket(admin.acting_as("desk")) as ws:
            query = "subscription ($after: String) { events(after: $after) { type payload } }"
            await start(ws, "1", query, {"after": oldest["oldestCursor"]})
            [streamed] = await receive(ws, 1)
        for _ in range(400):
            if len({r.path for r in http.requests}) == len(hooks):
                break
            await asyncio.sleep(0.05)
        delivered = {
            r.path.strip("/"): (
                r.body,
                verify(hooks[r.path.strip("/")]["secret"], r.body, r.headers),
            )
            for r in http.requests
        }
        logged = await admin.acting_as("desk").data(LOGGED, {"id": hooks["desk"]["id"]})

    assert seen["admin"] == seen["desk_pii"] == PAYLOAD
    assert seen["desk"] == MASKED
    assert seen["outsider"] is None and seen["desk_own"] is None
    assert streamed == {"type": "tickets.opened", "payload": MASKED}
    assert delivered["desk_pii"][1]["data"] == PAYLOAD
    assert delivered["desk"][1]["data"] == MASKED
    assert delivered["outsider"][1]["data"] is None
    for role in ("desk", "outsider"):
        body = delivered[role][0]
        assert not any(canary.encode() in body for canary in (NAME, EMAIL, PHONE, OTHER)), role
    [entry] = logged["webhookDeliveries"]["nodes"]
    assert entry["event"] == {"type": "tickets.opened", "payload": MASKED}


async def test_an_event_no_loaded_plugin_declares_needs_pii_read(settings: Settings) -> None:
    async with app_client(hook_settings(settings, roles=ROLES), plugins=[Tickets()]) as admin:
        await _emit(admin, "gone.opened", PAYLOAD)  # as a plugin since removed left it
        assert (await _events(admin, "gone.opened"))[0]["payload"] == PAYLOAD
        assert (await _events(admin.acting_as("desk"), "gone.opened"))[0]["payload"] is None


@pytest.mark.parametrize(
    ("declared", "refusal"),
    [
        ({"personal_data": {"contact.email": "mail"}}, "'mail'"),
        ({"personal_data": {"contact..email": "email"}}, "'contact..email'"),
        ({"personal_data": {"contact": "text", "contact.email": "email"}}, "inside"),
        ({"permission": "tickets:write"}, "unknown permission 'tickets:write'"),
    ],
)
def test_a_wrong_declaration_stops_startup(declared: dict, refusal: str) -> None:
    with pytest.raises(PluginError, match=f"'tickets.opened' of 'tickets'.*{refusal}"):
        create_app(Settings(plugins=[], env="test"), plugins=[Tickets(**declared)])
