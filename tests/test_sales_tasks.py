"""Sales tasks and web-to-lead forms: overdue and due-soon lists, task.due emitted once per
task by the scheduler even with two server processes on one database, and the public form
endpoint with its token, honeypot and limits. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.sales_support import events, new_customer

TASK = """
mutation ($input: CreateSalesTaskInput!) {
  createSalesTask(input: $input) { task { id title overdue status owner { userId } } errors { code field } }
}
"""


def _at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def task(client: GraphQLClient, **input) -> dict:
    return (await client.data(TASK, {"input": input}))["createSalesTask"]


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


async def test_overdue_and_due_soon_lists(sales: GraphQLClient) -> None:
    ada = await new_customer(sales, "Ada")
    late = await task(sales, title="Late", dueAt=_at(hours=-2), customerId=ada)
    assert late["errors"] == [] and late["task"]["overdue"] is True
    await task(sales, title="Soon", dueAt=_at(hours=3))
    await task(sales, title="Later", dueAt=_at(days=5))
    bad = await task(sales, title=" ", dueAt=_at(hours=1), customerId=ada, dealId="RGVhbDox")
    assert {(e["code"], ".".join(e["field"])) for e in bad["errors"]} == {
        ("REQUIRED", "input.title"),
        ("INVALID_VALUE", "input.customerId"),  # one subject: the second is refused
    }

    async def titles(filter: dict) -> list[str]:
        data = await sales.data(
            "query ($f: SalesTaskFilter) { salesTasks(filter: $f) { nodes { title } } }",
            {"f": filter},
        )
        return [n["title"] for n in data["salesTasks"]["nodes"]]

    assert await titles({"overdue": True}) == ["Late"]
    assert await titles({"dueWithinHours": 24}) == ["Soon"]
    assert await titles({}) == ["Late", "Soon", "Later"]
    done = await sales.data(
        "mutation ($id: ID!) { updateSalesTask(input: {id: $id, done: true}) "
        "{ task { status overdue doneAt } errors { code } } }",
        {"id": late["task"]["id"]},
    )
    assert done["updateSalesTask"]["task"]["status"] == "DONE"
    assert done["updateSalesTask"]["task"]["overdue"] is False
    assert await titles({"overdue": True}) == []
    assert await titles({"customerId": ada}) == ["Late"]


async def _due_events(client: GraphQLClient, wanted: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while len(found := await events(client, "task.due")) < wanted:
        assert time.monotonic() < deadline, f"{len(found)} task.due events, not {wanted}"
        await asyncio.sleep(0.2)
    return found


async def test_task_due_is_emitted_once_per_task_with_two_processes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_SALES_TASKS_DUE_EVERY", "0.2")
    async with (
        app_client(settings, plugins=[crm_sales]) as one,
        app_client(settings, plugins=[crm_sales], migrate=False) as two,
    ):
        made = [await task(one, title=f"T{n}", dueAt=_at(seconds=-n)) for n in range(6)]
        await task(two, title="Future", dueAt=_at(days=1))
        found = await _due_events(one, 6)
        await asyncio.sleep(1.0)  # further runs, in both processes, find nothing new
        found = await events(two, "task.due")
        assert sorted(e["entityId"] for e in found) == sorted(t["task"]["id"] for t in made)
        rescheduled = await one.data(
            "mutation ($id: ID!, $at: DateTime!) { updateSalesTask(input: {id: $id, dueAt: $at}) "
            "{ errors { code } } }",
            {"id": made[0]["task"]["id"], "at": _at(seconds=-1)},
        )
        assert rescheduled["updateSalesTask"]["errors"] == []
        again = await _due_events(one, 7)
        assert [e["entityId"] for e in again].count(made[0]["task"]["id"]) == 2


FORM = """
mutation ($input: CreateSalesWebFormInput!) {
  createSalesWebForm(input: $input) { form { id path honeypot active source } errors { code field } }
}
"""


async def test_web_to_lead_form_creates_leads_through_the_api_rules(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_SALES_FORM_MAX_PER_MINUTE", "3")
    async with app_client(settings, plugins=[crm_sales]) as sales:
        made = await sales.data(FORM, {"input": {"name": "Contact us", "honeypot": "url"}})
        form = made["createSalesWebForm"]["form"]
        assert form["source"] == "WEB" and form["path"].startswith("/p/sales/forms/")
        public = {"Authorization": ""}

        ok = await sales.http.post(
            form["path"],
            json={
                "name": "Lin",
                "email": "LIN@Example.com",
                "phone": "+1 415 555 0123",
                "topic": "pricing",
            },
            headers=public,
        )
        assert ok.status_code == 202, ok.text
        urlencoded = await sales.http.post(
            form["path"],
            content="name=Max&email=max%40example.com",
            headers={**public, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert urlencoded.status_code == 202
        bot = await sales.http.post(
            form["path"], json={"name": "Bot", "url": "http://spam.example"}, headers=public
        )
        assert bot.status_code == 202
        bad = await sales.http.post(
            form["path"], json={"name": "", "email": "nope"}, headers=public
        )
        assert bad.status_code == 400
        codes = {
            (e["extensions"]["code"], tuple(e["extensions"]["field"])) for e in bad.json()["errors"]
        }
        assert codes == {("REQUIRED", ("name",)), ("INVALID_EMAIL", ("email",))}

        leads = (await sales.data("{ leads { nodes { name email source attributes } } }"))["leads"]
        assert sorted((n["name"], n["email"], n["source"]) for n in leads["nodes"]) == [
            ("Lin", "lin@example.com", "WEB"),
            ("Max", "max@example.com", "WEB"),
        ]
        assert {"topic": "pricing"} in [n["attributes"] for n in leads["nodes"]]

        third = await sales.http.post(form["path"], json={"name": "Third"}, headers=public)
        assert third.status_code == 202
        limited = await sales.http.post(form["path"], json={"name": "Fourth"}, headers=public)
        assert limited.status_code == 429
        assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"

        forged = await sales.http.post(
            "/p/sales/forms/not-a-token", json={"name": "X"}, headers=public
        )
        assert forged.status_code == 400
        assert forged.json()["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"
        closed = await sales.data(
            "mutation ($id: ID!) { setSalesWebFormActive(input: {id: $id, active: false}) "
            "{ form { active } errors { code } } }",
            {"id": form["id"]},
        )
        assert closed["setSalesWebFormActive"]["form"] == {"active": False}
        gone = await sales.http.post(form["path"], json={"name": "Late"}, headers=public)
        assert gone.status_code == 410
        assert (await sales.data("{ leads { totalCount } }"))["leads"]["totalCount"] == 3
