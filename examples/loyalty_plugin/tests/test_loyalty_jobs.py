"""Points expire through the core's scheduler: each award at its own time (a one-shot job
scheduled with the award), and awards no job was scheduled for in a periodic sweep."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from test_loyalty import BALANCE, award, new_customer

import crm_loyalty
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

JOBS = """{ scheduledJobs(plugin: "loyalty", first: 20) {
  nodes { name key schedule status runs lastStatus nextRunAt } } }"""


async def balance_becomes(client: GraphQLClient, customer: str, points: int) -> None:
    deadline = time.monotonic() + 15
    while (await client.data(BALANCE, {"id": customer}))["customer"]["loyaltyPoints"] != points:
        assert time.monotonic() < deadline, f"the balance never became {points}"
        await asyncio.sleep(0.1)


async def jobs(client: GraphQLClient) -> dict[tuple[str, str | None], dict[str, Any]]:
    nodes = (await client.data(JOBS))["scheduledJobs"]["nodes"]
    return {(node["name"], node["key"]): node for node in nodes}


async def test_an_award_expires_at_its_time_once(
    loyalty_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_POINTS_EXPIRE_AFTER", "1")
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_EXPIRY_SWEEP", "0 3 * * *")
    async with app_client(loyalty_settings, plugins=[crm_loyalty]) as client:
        ada = await new_customer(client, "Ada")
        awarded = await award(client, ada, 120, "first order")
        assert awarded["account"]["points"] == 120
        await balance_becomes(client, ada, 0)

        found = await jobs(client)
        expiry = next(job for (name, _key), job in found.items() if name == "expire_award")
        assert expiry["key"].startswith("entry-") and expiry["status"] == "DONE"
        assert expiry["runs"] == 1 and expiry["lastStatus"] == "succeeded"
        sweep = found[("expire_points", None)]
        assert sweep["schedule"] == "0 3 * * *" and sweep["status"] == "SCHEDULED"
        assert sweep["nextRunAt"].endswith("T03:00:00+00:00")
        # the expired points are gone for good: a later award starts from zero
        assert (await award(client, ada, 50, "second order"))["account"]["points"] == 50


async def test_the_sweep_expires_awards_no_job_was_scheduled_for(
    loyalty_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_client(loyalty_settings, plugins=[crm_loyalty]) as client:
        ada = await new_customer(client, "Ada")
        await award(client, ada, 300, "before points expired")  # no expiry: none scheduled
        assert list(await jobs(client)) == []

    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_POINTS_EXPIRE_AFTER", "0.5")
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_EXPIRY_SWEEP", "0.3")
    async with app_client(loyalty_settings, plugins=[crm_loyalty], migrate=False) as client:
        await balance_becomes(client, ada, 0)
        await asyncio.sleep(0.7)  # further sweeps find the award expired already
        assert (await client.data(BALANCE, {"id": ada}))["customer"]["loyaltyPoints"] == 0
        sweep = (await jobs(client))[("expire_points", None)]
        assert sweep["schedule"] == "every 0.3s" and sweep["runs"] >= 2
