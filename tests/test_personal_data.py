"""Every place that can carry personal data, with and without ``pii:read``.

Canary values (an e-mail, a phone, an interaction's subject and body) are seeded on two
duplicate customers; each place below is then read by a role that holds ``pii:read`` and by
one identical but for it. Without it no canary appears anywhere in the answer (masked values
do); with it each place shows them as they are. The places: the customer's fields, duplicate
reasons (candidates and pairs), merge plans (dry run and real), the event log, the audit log
(hashed for everyone), webhook payloads, the GDPR export (refused without ``pii:read``) and an
error about the customer. (Subscriptions: test_event_access; fields of plugin types: the
``personal_data`` declaration, test_permissions.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from test_events import mutate
from test_webhooks import create_webhook, hook_settings, receiver

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

EMAIL, PHONE = "canary.person@example.com", "+14155550188"
SUBJECT, BODY = "CanarySubjectLine", "CanaryBodyText"
CANARIES = (EMAIL, PHONE, SUBJECT, BODY)
GRANTS = [
    "customers:read",
    "customers:write",
    "interactions:read",
    "events:read",
    "audit:read",
    "gdpr:export",
    "webhooks:manage",
]
ROLES = {"clear": [*GRANTS, "pii:read"], "masked": GRANTS}

PLACES: dict[str, str] = {
    "fields": """query ($id: ID!) { node(id: $id) { ... on Customer { email phone
        interactions { nodes { subject body } } } } }""",
    "duplicate candidates": """query ($id: ID!) {
        duplicateCandidates(customerId: $id) { reasons { code message } } }""",
    "duplicate pairs": "{ duplicateCustomers { nodes { pairs { reasons { code message } } } } }",
    "merge plan (dry run)": """mutation ($id: ID!, $other: ID!) {
        mergeCustomers(input: {survivorId: $id, mergedIds: [$other], dryRun: true}) {
        errors { code } plan { fields { field value } } } }""",
    "event log": "{ events(first: 100) { nodes { type payload } } }",
    "audit log": "{ auditLog(first: 100) { nodes { operation changes } } }",
    "error about the customer": """mutation ($id: ID!) {
        mergeCustomers(input: {survivorId: $id, mergedIds: [$id]}) {
        errors { code message field } } }""",
}
MERGE = """mutation ($id: ID!, $other: ID!) {
    mergeCustomers(input: {survivorId: $id, mergedIds: [$other]}) {
    errors { code } plan { fields { field value } } } }"""
EXPORT = "query ($id: ID!) { exportCustomerData(id: $id) }"


def text(answer: Any) -> str:
    return json.dumps(answer)


async def seed(admin: GraphQLClient, tag: str) -> tuple[str, str]:
    """Two customers sharing the canary e-mail and phone, the first with a canary interaction."""
    ids = []
    for name in (f"Canary {tag}", f"Canary {tag} Jr"):
        made = await mutate(
            admin,
            "createCustomer",
            {"name": name, "email": EMAIL, "phone": PHONE, "company": "Canary Co"},
            "customer",
        )
        ids.append(made["id"])
    logged = await admin.data(
        "mutation ($id: ID!, $s: String!, $b: String!) { logInteraction(input: "
        "{customerId: $id, channel: EMAIL, subject: $s, body: $b}) { errors { code } } }",
        {"id": ids[0], "s": SUBJECT, "b": BODY},
    )
    assert logged["logInteraction"]["errors"] == []
    return ids[0], ids[1]


async def test_no_place_shows_personal_data_without_pii_read(settings: Settings) -> None:
    async with (
        receiver(lambda _path, _n: "200") as http,
        app_client(hook_settings(settings, roles=ROLES), plugins=[]) as admin,
    ):
        hooks = {
            role: await create_webhook(admin.acting_as(role), f"{http.url}/{role}")
            for role in ROLES
        }
        first, second = await seed(admin, "A")
        survivor, merged = await seed(admin, "B")
        await asyncio.sleep(0.5)  # events sequenced, webhooks on their way
        variables = {"id": first, "other": second}
        answers: dict[str, dict[str, str]] = {role: {} for role in ROLES}
        for role in ROLES:
            client = admin.acting_as(role)
            for place, query in PLACES.items():
                answers[role][place] = text(await client.execute(query, variables))
            answers[role]["export"] = text(await client.execute(EXPORT, {"id": first}))
        answers["masked"]["merge"] = text(
            await admin.acting_as("masked").execute(MERGE, {"id": survivor, "other": merged})
        )
        for _ in range(200):
            if all(any(r.path == f"/{role}" for r in http.requests) for role in ROLES):
                break
            await asyncio.sleep(0.05)
        for role in ROLES:
            answers[role]["webhooks"] = " ".join(
                r.body.decode() for r in http.requests if r.path == f"/{role}"
            )
        assert all(hooks.values())

    leaks = {
        place: [canary for canary in CANARIES if canary in answer]
        for place, answer in answers["masked"].items()
    }
    leaked = {place: found for place, found in leaks.items() if found}
    assert not leaked, f"shown without pii:read: {leaked}"
    clear, masked = answers["clear"], answers["masked"]
    for place in ("fields", "duplicate candidates", "duplicate pairs", "webhooks", "event log"):
        assert EMAIL in clear[place] and "c***@example.com" in masked[place], place
    assert PHONE in clear["merge plan (dry run)"] and "+1********88" in masked["merge"]
    assert SUBJECT in clear["fields"] and SUBJECT in clear["export"]
    assert "FORBIDDEN" in masked["export"] and "pii:read" in masked["export"]
    assert EMAIL not in clear["audit log"]  # the audit log keeps keyed hashes only
