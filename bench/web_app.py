"""How long the web app's customer 360 takes to become interactive in Chromium (issue 22's goal:
under 1 s on the demo data).

A real ``crm-graph serve`` (analytics, sales and service plugins) on a demo database; Debian's
Chromium through Playwright. Each run opens the 360 of one customer at its address with the
key already in the tab's session storage, and reads the page's own clock (``performance.now()``,
from navigation start) once every section has rendered: profile, orders, interactions, the
analytics panel, deals, tasks and tickets. Cold runs use a new browser context (empty HTTP cache,
so the app's files are fetched); warm runs reload in one context (cached files, the API asked
again).

    .venv/bin/python bench/web_app.py                          # SQLite, 10 runs each
    .venv/bin/python bench/web_app.py --database postgresql --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from crm_graph.testing import run_cli, running_server, temporary_database

CHROMIUM = "/usr/bin/chromium"
PLUGINS = "analytics,sales,service"
SESSION_KEY = "crm-graph.apiKey"  # examples/spa/src/session.ts
SECTIONS = [
    "#orders-title",
    "#interactions-title",
    "[data-field=rfm-segment]",
    "#deals-title",
    "#tasks-title",
    "#tickets-title",
]
READY = (
    "() => [" + ", ".join(f"'{s}'" for s in SECTIONS) + "].every((s) => document.querySelector(s))"
    " && document.querySelector('a.button') !== null"
)


async def _interactive_ms(page: Page, url: str) -> float:
    await page.goto(url)
    await page.wait_for_function(READY, timeout=60_000)
    return await page.evaluate("performance.now()")


def _customer_with_everything(base: str, key: str) -> str:
    """A scored customer with a task (the 360 then shows every section with rows)."""
    query = """{ salesTasks(first: 100) { nodes { customer { id rfm { r } deals { id } } } } }"""
    body = httpx.post(
        f"{base}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
    ).json()
    customers = [t["customer"] for t in body["data"]["salesTasks"]["nodes"] if t["customer"]]
    return next(c["id"] for c in customers if c["rfm"] and c["deals"])


def _summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"| {label} | {len(times)} | {statistics.median(times):.0f} | {p90:.0f} | "
        f"{max(times):.0f} |"
    )


async def main(database: str, customers: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with temporary_database(database, Path(directory)) as url:
            assert (await run_cli(url, "migrate", plugins=PLUGINS)).exit_code == 0
            seeded = await run_cli(
                url, "demo", "--customers", str(customers), "--seed", "7", plugins=PLUGINS
            )
            assert seeded.exit_code == 0, seeded.output
            created = await run_cli(url, "keys", "create", "--role", "admin", "--name", "bench")
            key = created.output.strip().splitlines()[-1]
            env = {"CRM_DATABASE_URL": url, "CRM_PLUGINS": PLUGINS, "CRM_SCHEDULER": "false"}
            with running_server(env, timeout=120) as base:
                customer = _customer_with_everything(base, key)
                address = f"{base}/app/#/customers/{customer}"
                keep_key = f"sessionStorage.setItem('{SESSION_KEY}', '{key}')"
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=CHROMIUM, args=["--no-sandbox"]
                    )
                    cold, warm = [], []
                    for _ in range(runs):
                        context = await browser.new_context()
                        await context.add_init_script(keep_key)
                        page = await context.new_page()
                        cold.append(await _interactive_ms(page, address))
                        await context.close()
                    context = await browser.new_context()
                    await context.add_init_script(keep_key)
                    page = await context.new_page()
                    await _interactive_ms(page, address)  # fills the HTTP cache
                    for _ in range(runs):
                        await page.goto("about:blank")
                        warm.append(await _interactive_ms(page, address))
                    await browser.close()
    print(f"customer 360 interactive, {database}, {customers} demo customers (ms)")
    print("| run | n | median | p90 | max |")
    print("| --- | --- | --- | --- | --- |")
    print(_summary("cold (new context, files fetched)", cold))
    print(_summary("warm (files cached)", warm))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--customers", type=int, default=400)  # as make demo
    parser.add_argument("--runs", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.database, arguments.customers, arguments.runs))
