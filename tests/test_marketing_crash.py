"""A campaign whose server process is SIGKILLed mid-send resumes in another process without
resending what the mail server accepted; what was in flight is counted in doubt. Real
``crm-graph serve`` processes, a real SMTP server, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import httpx

import crm_marketing
from crm_graph.settings import Settings
from crm_graph.testing import app_client, auth_headers, server_process, smtp_server
from tests.smtp_support import eventually
from tests.test_marketing_campaigns import CONSENT, CREATE, READ, SEND

RECIPIENTS = 12


async def prepare(settings: Settings) -> str:
    """The database migrated, twelve consenting customers on a list and a draft campaign."""
    async with app_client(settings, plugins=[crm_marketing]) as client:
        ids = []
        for n in range(RECIPIENTS):
            made = await client.data(
                'mutation ($e: String!) { createCustomer(input: {name: "C", email: $e}) { customer { id } } }',
                {"e": f"c{n}@example.com"},
            )
            ids.append(made["createCustomer"]["customer"]["id"])
            await client.data(CONSENT, {"id": ids[-1], "granted": True})
        segment = await client.data(
            'mutation { createAudienceSegment(input: {name: "All", kind: STATIC}) { segment { id } } }'
        )
        segment_id = segment["createAudienceSegment"]["segment"]["id"]
        await client.data(
            "mutation ($input: AudienceSegmentMembersInput!) { addAudienceSegmentMembers(input: $input) { errors { code } } }",
            {"input": {"segmentId": segment_id, "customers": ids}},
        )
        made = await client.data(
            CREATE,
            {
                "input": {
                    "name": "Crash",
                    "segmentId": segment_id,
                    "subject": "Hi",
                    "sender": "news@shop.example",
                    "textTemplate": "Hello",
                    "sendRate": 2,
                }
            },
        )
        return made["createEmailCampaign"]["campaign"]["id"]


async def graphql(url: str, query: str, variables: dict) -> dict:
    async with httpx.AsyncClient(base_url=url, headers=auth_headers(), timeout=30) as http:
        answer = await http.post("/graphql", json={"query": query, "variables": variables})
    body = answer.json()
    assert not body.get("errors"), body
    return body["data"]


async def test_a_killed_sender_resumes_without_resending(settings: Settings) -> None:
    campaign = await prepare(settings)
    with smtp_server() as (inbox, port):
        env = {
            "CRM_DATABASE_URL": settings.database_url,
            "CRM_PLUGINS": "marketing",
            "CRM_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "CRM_SMTP_POLL_SECONDS": "0.25",
            "CRM_SMTP_TIMEOUT_SECONDS": "1",
            "CRM_SCHEDULER_LEASE_SECONDS": "1",
            "CRM_SCHEDULER_RETRY_SECONDS": "0.2",
            "CRM_PLUGIN_MARKETING_FOLLOW_SECONDS": "0.25",
        }
        with server_process(env, timeout=90) as (url, process):
            await graphql(url, SEND, {"id": campaign})
            await eventually(lambda: len(inbox.received) >= 3, timeout=60)
            process.send_signal(signal.SIGKILL)
            process.wait()
        killed_at = len(inbox.received)
        assert killed_at < RECIPIENTS  # the campaign was cut short
        with server_process(env, timeout=90) as (url, _process):

            async def settled() -> dict | None:
                found = (await graphql(url, READ, {"id": campaign}))["emailCampaign"]
                done = found["status"] == "SENT" and found["stats"]["queued"] == 0
                return found["stats"] if done else None

            stats = await eventually(settled, timeout=90)
            await asyncio.sleep(1)  # time for a wrong resend to arrive
    received = Counter(message["To"] for message in inbox.received)
    assert max(received.values()) == 1  # nobody got the campaign twice
    assert stats["recipients"] == RECIPIENTS
    # Accepted ones are sent; one in flight at the kill is in doubt (the server may have it).
    assert stats["sent"] + stats["inDoubt"] == RECIPIENTS
    assert stats["sent"] <= len(received) <= RECIPIENTS
    assert len(received) > killed_at  # the second process carried on
