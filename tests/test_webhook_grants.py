"""A webhook delivers what whoever set its URL may read, decided at delivery time.

Against a real HTTP receiver: without ``pii:read`` names, e-mails and phones arrive masked;
with a grant narrower than ``all`` the payload is null (as for subscriptions); a creator whose
grants shrink (``CRM_ROLES`` changed, its API key revoked) gets less from then on, events
already queued included; and someone who re-points a webhook at a new URL sends it with their
own grants, not its creator's.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from test_events import mutate
from test_webhooks import create_webhook, hook_settings, receiver

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.webhooks import verify

EMAIL, PHONE, NAME = "canary.person@example.com", "+14155550188", "Canary Person"
CANARY = {"name": NAME, "email": EMAIL, "phone": PHONE}
ROLES = {
    "hooks": ["webhooks:manage", "events:read", "customers:read"],  # no pii:read
    "hooks_pii": ["webhooks:manage", "events:read", "customers:read", "pii:read"],
    "hooks_own": ["webhooks:manage", "events:read", "customers:read@own", "pii:read"],
    "hooks_blind": ["webhooks:manage", "customers:read", "pii:read"],  # no events:read
}


async def bodies(http: Any, path: str, count: int, hooks: dict[str, dict]) -> list[dict]:
    """The first ``count`` customer.created messages ``path`` received, signatures checked."""
    for _ in range(400):
        got = [r for r in http.requests if r.path == path]
        if len(got) >= count:
            messages = [verify(hooks[path]["secret"], r.body, r.headers) for r in got]
            return [m for m in messages if m["type"] == "customer.created"][:count]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path}: {len(got)} of {count} requests")


LOGGED = """
query ($id: ID!) { webhookDeliveries(webhookId: $id) { nodes { event { type payload } } } }
"""


def role_settings(settings: Settings, roles: dict[str, list[str]], **changes: Any) -> Settings:
    return hook_settings(settings, roles=roles, **changes)


async def test_each_webhook_carries_what_its_creator_may_read(settings: Settings) -> None:
    async with (
        receiver(lambda _path, _n: "200") as http,
        app_client(role_settings(settings, ROLES), plugins=[]) as admin,
    ):
        hooks = {
            f"/{role}": await create_webhook(
                admin.acting_as(role), f"{http.url}/{role}", ["customer.created"]
            )
            for role in ("admin", "hooks", "hooks_pii", "hooks_own", "hooks_blind")
        }
        customer = await mutate(admin, "createCustomer", CANARY, "customer")
        got = {path: (await bodies(http, path, 1, hooks))[0] for path in hooks}
        raw = {path: next(r.body for r in http.requests if r.path == path) for path in hooks}
        logged = {  # the same event, read back through the webhook's delivery log
            role: (await admin.acting_as(role).data(LOGGED, {"id": hooks[f"/{role}"]["id"]}))
            for role in ("hooks", "hooks_blind")
        }

    for path in ("/admin", "/hooks_pii"):
        entity = got[path]["data"]["entity"]
        assert (entity["name"], entity["email"], entity["phone"]) == (NAME, EMAIL, PHONE)
    masked = got["/hooks"]["data"]["entity"]
    assert (masked["name"], masked["email"], masked["phone"]) == (
        "***",
        "c***@example.com",
        "+1********88",
    )
    assert masked["lifecycleStage"] == "lead"  # not personal data
    for path in ("/hooks", "/hooks_own", "/hooks_blind"):
        assert not any(canary.encode() in raw[path] for canary in (NAME, EMAIL, PHONE)), path
    [seen] = logged["hooks"]["webhookDeliveries"]["nodes"]
    assert seen["event"]["payload"]["entity"]["email"] == "c***@example.com"
    [blind] = logged["hooks_blind"]["webhookDeliveries"]["nodes"]
    assert blind["event"]["type"] == "customer.created" and blind["event"]["payload"] is None
    for path in ("/hooks_own", "/hooks_blind"):  # scope "own"; no events:read at all
        assert got[path]["data"] is None
        assert got[path]["entityId"] == customer["id"]
        assert got[path]["type"] == "customer.created"


async def test_grants_narrowed_after_the_event_apply_to_its_delivery(settings: Settings) -> None:
    """The event is committed and queued while the creator holds ``pii:read``; CRM_ROLES then
    takes it away, and the delivery made afterwards is masked."""
    async with receiver(lambda _path, _n: "200") as http:
        async with app_client(
            role_settings(settings, ROLES, webhook_workers=0), plugins=[]
        ) as admin:
            hook = await create_webhook(
                admin.acting_as("hooks_pii"), f"{http.url}/h", ["customer.created"]
            )
            await mutate(admin, "createCustomer", CANARY, "customer")
            await asyncio.sleep(0.5)  # dispatched into a delivery; no worker sends it
            assert http.requests == []
        narrowed = {**ROLES, "hooks_pii": ROLES["hooks"]}
        async with app_client(role_settings(settings, narrowed), plugins=[]) as admin:
            [message] = await bodies(http, "/h", 1, {"/h": hook})
            assert message["data"]["entity"]["email"] == "c***@example.com"
            assert EMAIL.encode() not in http.requests[0].body


CREATE_KEY = """
mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id } } }
"""
REVOKE_KEY = "mutation ($id: ID!) { revokeApiKey(input: {id: $id}) { errors { code } } }"
UPDATE_URL = """
mutation ($id: ID!, $url: String!) { updateWebhook(input: {id: $id, url: $url}) { errors { code } } }
"""


async def test_a_revoked_keys_webhook_carries_nothing_more(settings: Settings) -> None:
    async with (
        receiver(lambda _path, _n: "200") as http,
        app_client(role_settings(settings, ROLES), plugins=[]) as admin,
    ):
        made = (
            await admin.data(CREATE_KEY, {"input": {"name": "crm-sync", "role": "integration"}})
        )["createApiKey"]
        key = GraphQLClient(admin.http, admin.app, {"Authorization": f"Bearer {made['key']}"})
        hooks = {"/k": await create_webhook(key, f"{http.url}/k", ["customer.created"])}
        await mutate(admin, "createCustomer", CANARY, "customer")
        [before] = await bodies(http, "/k", 1, hooks)
        assert before["data"]["entity"]["email"] == EMAIL

        revoked = await admin.data(REVOKE_KEY, {"id": made["apiKey"]["id"]})
        assert revoked["revokeApiKey"]["errors"] == []
        await mutate(admin, "createCustomer", {**CANARY, "email": "other@example.com"}, "customer")
        after = (await bodies(http, "/k", 2, hooks))[1]
        assert after["data"] is None


async def test_whoever_sets_the_url_is_who_the_webhook_reads_as(settings: Settings) -> None:
    """A role without pii:read may not point an admin's webhook at itself and read through it."""
    async with (
        receiver(lambda _path, _n: "200") as http,
        app_client(role_settings(settings, ROLES), plugins=[]) as admin,
    ):
        hook = await create_webhook(admin, f"{http.url}/admin", ["customer.created"])
        moved = await admin.acting_as("hooks").data(
            UPDATE_URL, {"id": hook["id"], "url": f"{http.url}/stolen"}
        )
        assert moved["updateWebhook"]["errors"] == []
        await mutate(admin, "createCustomer", CANARY, "customer")
        [message] = await bodies(http, "/stolen", 1, {"/stolen": hook})
    assert message["data"]["entity"]["email"] == "c***@example.com"
    assert not any(EMAIL.encode() in r.body for r in http.requests)
    assert json.loads(http.requests[0].body)["data"]["entity"]["name"] == "***"
