"""Automations, bounces, double opt-in and the demo of the marketing plugin, over GraphQL, its
routes and a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

import crm_marketing
import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, SmtpInbox, app_client, smtp_server
from tests.marketing_support import customer, order, product
from tests.smtp_support import eventually
from tests.test_marketing_campaigns import CONSENT, SEND, audience, campaign, sent

CREATE = """
mutation ($input: CreateMarketingAutomationInput!) {
  createMarketingAutomation(input: $input) {
    automation { id name trigger delaySeconds enrolled }
    errors { code message field }
  }
}
"""
RUNS = "{ marketingAutomations { name enrolled runs { status reason customer { name } } } }"
TAGS = "query ($id: ID!) { customer(id: $id) { tags } }"
OWNER = "query ($id: ID!) { customer(id: $id) { owner { id } } }"


def configured(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": SecretStr(f"smtp://127.0.0.1:{port}"),
            "smtp_poll_seconds": 0.25,
            "smtp_retry_seconds": 0.25,
        }
    )


@pytest.fixture
async def mailbox(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[GraphQLClient, SmtpInbox, int]]:
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_FOLLOW_SECONDS", "0.25")
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_PUBLIC_URL", "http://testserver")
    with smtp_server() as (inbox, port):
        async with app_client(configured(settings, port), plugins=[crm_marketing]) as client:
            yield client, inbox, port


async def automation(client: GraphQLClient, **input: Any) -> dict:
    payload = (await client.data(CREATE, {"input": input}))["createMarketingAutomation"]
    assert payload["errors"] == [], payload["errors"]
    return payload["automation"]


async def runs(client: GraphQLClient) -> dict[str, list[tuple[str, str | None, str]]]:
    found = (await client.data(RUNS))["marketingAutomations"]
    return {
        a["name"]: sorted((r["customer"]["name"], r["status"], r["reason"]) for r in a["runs"])
        for a in found
    }


async def test_automations_enrol_once_per_customer_and_act(
    mailbox: tuple[GraphQLClient, SmtpInbox, int],
) -> None:
    client, inbox, _port = mailbox
    await automation(client, builtIn="WELCOME", sender="Shop <hello@shop.example>")
    await automation(
        client,
        builtIn="POST_PURCHASE",
        delaySeconds=0,
        sender="Shop <hello@shop.example>",
        condition={
            "condition": {"field": "email", "operator": "endsWith", "value": "@example.com"}
        },
    )
    await automation(
        client,
        name="Tag big spenders",
        trigger="order.status_changed",
        action="ADD_TAG",
        tag="big-spender",
        condition={"condition": {"field": "orders.totalSpent", "operator": "gte", "value": 100}},
    )
    bad = (
        await client.data(
            CREATE, {"input": {"name": "X", "trigger": "order.shipped", "action": "ADD_TAG"}}
        )
    )["createMarketingAutomation"]["errors"]
    assert [(e["code"], e["field"]) for e in bad] == [
        ("UNKNOWN_EVENT_TYPE", ["input", "trigger"]),
        ("REQUIRED", ["input", "tag"]),
    ]

    ada = await customer(client, "Ada", email="ada@example.com")  # welcome: no consent yet
    bob = await customer(client, "Bob", email="bob@elsewhere.example")
    welcomed = [("Ada", "skipped", "no_consent"), ("Bob", "skipped", "no_consent")]

    async def skipped() -> bool:
        return (await runs(client))["Welcome"] == welcomed

    await eventually(skipped, timeout=30)
    for person in (ada, bob):
        await client.data(CONSENT, {"id": person, "granted": True})
    widget = await product(client, "W", "60")
    await order(client, ada, widget, 2)  # 120 paid: follow-up and the tag
    await order(client, ada, widget, 1)  # triggers again: enrolled once already
    await order(client, bob, widget, 1)  # not @example.com; 60 spent: no tag

    expected = {
        "Welcome": welcomed,
        "Post-purchase follow-up": [("Ada", "done", None)],
        "Tag big spenders": [("Ada", "done", None)],
    }

    async def settled() -> bool:
        return await runs(client) == expected

    await eventually(settled, timeout=30)
    await eventually(lambda: inbox.by_subject("How do you like it, Ada?"), timeout=30)
    [message] = inbox.received
    assert message["To"] == "ada@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (await client.data(TAGS, {"id": ada}))["customer"]["tags"] == ["big-spender"]
    assert (await client.data(TAGS, {"id": bob}))["customer"]["tags"] == []


async def test_a_waiting_run_survives_a_restart_and_runs_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_PUBLIC_URL", "http://testserver")
    with smtp_server() as (inbox, port):
        async with app_client(configured(settings, port), plugins=[crm_marketing]) as client:
            await automation(
                client, builtIn="POST_PURCHASE", delaySeconds=10, sender="hello@shop.example"
            )
            ada = await customer(client, "Ada", email="ada@example.com")
            await client.data(CONSENT, {"id": ada, "granted": True})
            await order(client, ada, await product(client, "W", "10"), 1, status=None)

            async def waiting() -> bool:
                return (await runs(client))["Post-purchase follow-up"] == [
                    ("Ada", "scheduled", None)
                ]

            await eventually(waiting, timeout=30)
        assert inbox.received == []  # stopped before the delay was over
        async with app_client(
            configured(settings, port), plugins=[crm_marketing], migrate=False
        ) as client:
            await eventually(lambda: inbox.by_subject("How do you like it, Ada?"), timeout=40)
            await asyncio.sleep(1)  # time for a wrong second run
            assert (await runs(client))["Post-purchase follow-up"] == [("Ada", "done", None)]
    assert len(inbox.received) == 1


async def test_hard_bounces_suppress_and_double_opt_in_confirms(
    mailbox: tuple[GraphQLClient, SmtpInbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, inbox, _port = mailbox
    people, segment = await audience(client)
    first = await campaign(client, segment, name="First")
    await client.data(SEND, {"id": first["id"]})
    await sent(client, first["id"])
    ada = next(m for m in inbox.received if m["To"] == "ada@example.com")
    bounce = """
    mutation ($id: String!) {
      reportEmailBounce(input: {messageId: $id, permanent: true}) { send { status reason } errors { code field } }
    }
    """
    reported = (await client.data(bounce, {"id": ada["Message-ID"]}))["reportEmailBounce"]
    assert reported == {"send": {"status": "BOUNCED", "reason": "hard_bounce"}, "errors": []}
    unknown = (await client.data(bounce, {"id": "<nope@shop.example>"}))["reportEmailBounce"]
    assert unknown["errors"] == [{"code": "NOT_FOUND", "field": ["input", "messageId"]}]
    counts = "query ($id: ID!) { emailCampaign(id: $id) { stats { sent delivered bounced } } }"
    stats = (await client.data(counts, {"id": first["id"]}))["emailCampaign"]["stats"]
    assert stats == {"sent": 2, "delivered": 1, "bounced": 1}
    second = await campaign(client, segment, name="Second")
    await client.data(SEND, {"id": second["id"]})
    assert (await sent(client, second["id"]))["stats"]["suppressedOnList"] == 1

    # Di never consented: the confirmation link records a confirmed consent, once.
    request = """
    mutation ($id: ID!) {
      requestEmailOptIn(input: {customerId: $id, sender: "hello@shop.example"}) { errors { code } }
    }
    """
    assert (await client.data(request, {"id": people["Di"]}))["requestEmailOptIn"]["errors"] == []
    [confirmation] = await eventually(lambda: inbox.by_subject("Please confirm your subscription"))
    text = confirmation.get_payload(decode=True).decode()
    path = re.search(r"http://testserver(/p/marketing/confirm/\S+)", text).group(1)  # type: ignore[union-attr]
    anonymous = {"Authorization": ""}
    assert "<form" in (await client.http.get(path, headers=anonymous)).text
    assert (await client.http.post(path, headers=anonymous)).status_code == 200
    assert (await client.http.post(path, headers=anonymous)).status_code == 409  # TOKEN_USED
    consents = (
        await client.data(
            "query ($id: ID!) { customer(id: $id) { consents { granted source } } }",
            {"id": people["Di"]},
        )
    )["customer"]["consents"]
    assert consents == [{"granted": True, "source": "double opt-in"}]


async def test_with_double_opt_in_only_confirmed_consent_counts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_DOUBLE_OPT_IN", "true")
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_FOLLOW_SECONDS", "0.25")
    with smtp_server() as (inbox, port):
        async with app_client(configured(settings, port), plugins=[crm_marketing]) as client:
            _people, segment = await audience(client)  # Ada and Ed: consent from a form only
            made = await campaign(client, segment)
            await client.data(SEND, {"id": made["id"]})
            done = await sent(client, made["id"])
    assert done["stats"]["suppressedNoConsent"] == 4 and done["stats"]["sent"] == 0
    assert inbox.received == []


async def test_the_demo_seeds_segments_and_a_campaign_with_attributed_orders(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[crm_marketing]) as client:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "crm_graph", "demo", "--customers", "150", "--seed", "3"],
            env={
                **os.environ,
                "CRM_DATABASE_URL": settings.database_url,
                "CRM_PLUGINS": "marketing",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "marketing: 3 segments, a campaign to" in result.stderr
        found = await client.data(
            "{ audienceSegments { name size } emailCampaigns { name status stats { sent opened clicked ordered revenue { amount } roi } } }"
        )
    sizes = {s["name"]: s["size"] for s in found["audienceSegments"]}
    assert sizes["Newsletter (demo)"] > 0 and sizes["Big spenders (demo)"] > 0
    [spring] = found["emailCampaigns"]
    stats = spring["stats"]
    assert spring["status"] == "SENT" and stats["sent"] == sizes["Newsletter (demo)"]
    assert stats["opened"] > stats["clicked"] > 0 and stats["ordered"] > 0
    assert stats["roi"] is not None


async def test_a_task_action_gives_the_customers_owner_a_sales_task(settings: Settings) -> None:
    """CREATE_TASK through the sales plugin's tasks: personalised, about the customer, for
    their owner, once per customer; the task's global ID is on the run."""
    async with app_client(settings, plugins=[crm_marketing, crm_sales]) as client:
        await automation(
            client,
            name="Call new VIPs",
            trigger="customer.updated",
            action="CREATE_TASK",
            subject="Call {{ customer.first_name }}",
            textTemplate="Welcome {{ customer.name }} among our VIPs",
            condition={"condition": {"field": "tags", "operator": "contains", "value": "vip"}},
        )
        ada = await customer(client, "Ada Lovelace", email="ada@example.com")
        assigned = await client.data(
            'mutation ($id: ID!) { assignCustomerOwner(input: {id: $id, ownerId: "test-admin"})'
            " { errors { code } } }",
            {"id": ada},
        )
        assert assigned["assignCustomerOwner"]["errors"] == []
        owner = (await client.data(OWNER, {"id": ada}))["customer"]["owner"]["id"]
        for tags in (["vip"], ["vip", "press"]):  # the second update enrols nobody again
            updated = await client.data(
                "mutation ($input: UpdateCustomerInput!) { updateCustomer(input: $input)"
                " { errors { code } } }",
                {"input": {"id": ada, "tags": tags}},
            )
            assert updated["updateCustomer"]["errors"] == []

        async def done() -> list[dict[str, Any]] | None:
            found = (
                await client.data(
                    "{ marketingAutomations { runs { status reason taskId customer { name } } } }"
                )
            )["marketingAutomations"][0]["runs"]
            return found if found and found[0]["status"] == "done" else None

        [run] = await eventually(done, timeout=30)
        tasks = (
            await client.data(
                "{ salesTasks(first: 10) { nodes { id title notes status owner { id }"
                " customer { id } } } }"
            )
        )["salesTasks"]["nodes"]
    assert run["customer"]["name"] == "Ada Lovelace" and run["reason"] is None
    assert tasks == [
        {
            "id": run["taskId"],
            "title": "Call Ada",
            "notes": "Welcome Ada Lovelace among our VIPs",
            "status": "OPEN",
            "owner": {"id": owner},
            "customer": {"id": ada},
        }
    ]


async def test_without_a_plugin_keeping_tasks_the_task_action_is_refused(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[crm_marketing]) as client:
        refused = (
            await client.data(
                CREATE,
                {
                    "input": {
                        "name": "Call",
                        "trigger": "customer.created",
                        "action": "CREATE_TASK",
                        "subject": "Call {{ customer.first_name }",
                    }
                },
            )
        )["createMarketingAutomation"]
    assert refused["automation"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("UNAVAILABLE", ["input", "action"]),
        ("INVALID_TEMPLATE", ["input", "subject"]),
    ]
