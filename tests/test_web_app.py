"""The web app (examples/spa) served at /app: its files, and the app itself in a real headless
Chromium against a real ``crm-graph serve`` on a seeded database.

The browser test needs what ``make install`` prepares outside pytest's timed run: Debian's
Chromium at /usr/bin/chromium (or ``CRM_TEST_CHROMIUM``) and the built app
(examples/spa/dist). Without them it fails, naming the command; it never skips. Screenshots
of each screen go to screenshots/web-app/<database>/ (gitignored) for review.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from crm_graph.settings import Settings
from crm_graph.testing import app_client, run_cli, running_server
from crm_graph.web.web_app import DEFAULT_BUILD

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CRM_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "screenshots" / "web-app"
# Generous: the machine running the suite may be loaded many times over.
WAIT_MS = 60_000
PAGE_SIZE = 20  # examples/spa/src/screens/Customers.tsx


# -- the files at /app ---------------------------------------------------------------------


async def test_app_says_how_to_build_it_when_it_is_not_built(
    settings: Settings, tmp_path: Path
) -> None:
    empty = settings.model_copy(update={"web_app_dir": str(tmp_path)})
    async with app_client(empty, plugins=[], role=None) as client:
        redirect = await client.http.get("/app")
        page = await client.http.get("/app/")
        health = await client.http.get("/healthz")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/app/"
    assert page.status_code == 503
    assert "make app" in page.text and "CRM_WEB_APP_DIR" in page.text
    assert health.status_code == 200  # the API runs without the app


async def test_app_files_are_served_same_origin_with_a_content_security_policy(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    (tmp_path / "assets" / "main.js").write_text("console.log('app')")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    built = settings.model_copy(update={"web_app_dir": str(tmp_path)})
    async with app_client(built, plugins=[], role=None) as client:
        index = await client.http.get("/app/", headers={"Origin": "https://elsewhere.example"})
        script = await client.http.get("/app/assets/main.js")
        outside = await client.http.get("/app/%2e%2e/secret.txt")
        api = await client.http.post("/graphql", json={"query": "{ viewer { name } }"})
    assert index.status_code == 200 and "<title>app</title>" in index.text
    policy = index.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert index.headers["referrer-policy"] == "no-referrer"
    assert "access-control-allow-origin" not in index.headers  # CORS stays closed
    assert script.status_code == 200 and "console.log" in script.text
    assert outside.status_code == 404
    assert api.status_code == 401  # the files are public; the data is not


# -- the app in Chromium -------------------------------------------------------------------


def _prerequisites() -> None:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (Debian package `chromium`)")
    if not (DEFAULT_BUILD / "index.html").is_file():
        missing.append(f"the built web app in {DEFAULT_BUILD}")
    if missing:
        pytest.fail(f"the browser test needs {' and '.join(missing)}: run `make install`")


async def _key(database_url: str, role: str) -> str:
    created = await run_cli(database_url, "keys", "create", "--role", role, "--name", role)
    assert created.exit_code == 0, created.output
    return created.output.strip().splitlines()[-1]


def _api(url: str, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """What the API answers the caller with ``key``: the screens must show the same."""
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def _names(url: str, key: str, after: str | None = None, search: str | None = None) -> Any:
    return _api(
        url,
        key,
        """query ($after: String, $search: String) {
          customers(first: 20, after: $after, filter: {search: $search}) {
            pageInfo { endCursor } nodes { id name } } }""",
        {"after": after, "search": search},
    )["customers"]


async def _signed_in(browser: Browser, url: str, key: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.goto(f"{url}/app/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Customers")).to_be_visible(timeout=WAIT_MS)
    return page


async def test_sign_in_search_page_and_open_a_customer_360(database_url: str) -> None:
    _prerequisites()
    assert (await run_cli(database_url, "migrate")).exit_code == 0
    seeded = await run_cli(database_url, "demo", "--customers", "60", "--seed", "7")
    assert seeded.exit_code == 0, seeded.output
    admin, readonly, marketing = [
        await _key(database_url, role) for role in ("admin", "readonly", "marketing")
    ]
    shots = SCREENSHOTS / ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    shots.mkdir(parents=True, exist_ok=True)
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "", "CRM_SCHEDULER": "false"}

    with running_server(env, timeout=120) as url:
        first = _names(url, admin)
        second = _names(url, admin, after=first["pageInfo"]["endCursor"])
        chosen = second["nodes"][5]
        found = _names(url, admin, search=chosen["name"])
        profile = _api(
            url,
            admin,
            """query ($id: ID!) { customer(id: $id) { email
                orders(first: 10) { totalCount nodes { number } }
                interactions(first: 20) { totalCount } } }""",
            {"id": chosen["id"]},
        )["customer"]
        masked = _api(
            url, readonly, "query ($id: ID!) { customer(id: $id) { email } }", {"id": chosen["id"]}
        )["customer"]["email"]

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            crashes: list[str] = []
            try:
                # A refused key is said so, and nothing is kept.
                context = await browser.new_context()
                page = await context.new_page()
                page.on("pageerror", lambda error: crashes.append(str(error)))
                await page.goto(f"{url}/app/", timeout=WAIT_MS)
                await page.get_by_label("API key").fill("crm_not-a-key")
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("alert")).to_have_text(
                    "The API refused this key.", timeout=WAIT_MS
                )
                assert await page.evaluate("sessionStorage.length") == 0
                await page.screenshot(path=shots / "01-sign-in-refused.png")
                await context.close()

                page = await _signed_in(browser, url, admin)
                page.on("pageerror", lambda error: crashes.append(str(error)))
                rows = page.locator("tbody tr td:first-child")
                await expect(page.get_by_text("60 customers")).to_be_visible(timeout=WAIT_MS)
                await expect(rows).to_have_text([c["name"] for c in first["nodes"]])
                assert admin not in page.url  # the key never goes into the URL
                await page.screenshot(path=shots / "02-customers.png", full_page=True)

                await page.get_by_role("button", name="Next page").click()
                await expect(rows).to_have_text([c["name"] for c in second["nodes"]])
                await page.screenshot(path=shots / "03-customers-page-2.png", full_page=True)
                await page.get_by_role("button", name="Previous page").click()
                await expect(rows).to_have_text([c["name"] for c in first["nodes"]])
                await expect(page.get_by_role("button", name="Previous page")).to_be_disabled()

                await page.get_by_label("Search customers").press_sequentially(chosen["name"])
                await expect(rows).to_have_text([c["name"] for c in found["nodes"]])
                await page.screenshot(path=shots / "04-customers-search.png", full_page=True)

                await page.get_by_role("link", name=chosen["name"], exact=True).first.click()
                await expect(page.get_by_role("heading", level=1)).to_have_text(chosen["name"])
                orders = profile["orders"]
                await expect(page.locator("#orders-title")).to_have_text(
                    f"Orders ({orders['totalCount']})"
                )
                await expect(
                    page.locator("#orders-title + table tbody td:first-child")
                ).to_have_text([o["number"] for o in orders["nodes"]])
                await expect(page.locator("#interactions-title")).to_have_text(
                    f"Interactions ({profile['interactions']['totalCount']})"
                )
                await expect(page.locator("[data-field=email]")).to_have_text(
                    profile["email"] or "—"
                )
                await page.screenshot(path=shots / "05-customer-360.png", full_page=True)

                # Without pii:read the API masks personal data, and the screen shows it masked.
                page = await _signed_in(browser, url, readonly)
                await page.goto(f"{url}/app/#/customers/{chosen['id']}")
                email = page.locator("[data-field=email]")
                await expect(email).to_have_text(masked or "—", timeout=WAIT_MS)
                assert masked != profile["email"]
                await page.screenshot(path=shots / "06-customer-360-readonly.png", full_page=True)

                # Without orders:read (marketing) the orders section is not shown at all.
                page = await _signed_in(browser, url, marketing)
                await page.goto(f"{url}/app/#/customers/{chosen['id']}")
                await expect(page.locator("#interactions-title")).to_be_visible(timeout=WAIT_MS)
                await expect(page.locator("#orders-title")).to_have_count(0)
                await page.screenshot(path=shots / "07-customer-360-marketing.png", full_page=True)
            finally:
                await browser.close()
    assert crashes == []
