"""The plugin contract at its public surfaces: entry points, CRM_* settings, /plugins, the CLI,
the composed schema and the migrations. The example partner plugin ``loyalty`` is installed from
``examples/loyalty_plugin`` and found through its entry point like any third-party package."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
import typer
from pydantic import SecretStr
from starlette.applications import Starlette
from typer.testing import CliRunner

import crm_loyalty
from crm_analytics import hookspecs as analytics_hookspecs
from crm_graph import hookspecs
from crm_graph.cli import add_plugin_commands
from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import differences, upgrade
from crm_graph.plugin import (
    NodeLookup,
    PluginMetadata,
    SchemaContribution,
    hookimpl,
    hookspec,
    open_app,
)
from crm_graph.plugins_manager import PluginError, create_plugin_manager
from crm_graph.settings import Settings
from crm_graph.testing import TEST_JWT_SECRET, app_client, auth_headers
from crm_graph.web.app import create_app
from crm_marketing import hookspecs as marketing_hookspecs

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_ENV = ("CRM_PLUGINS", "CRM_DISABLED_PLUGINS")
CUSTOMER_FIELDS = '{ __type(name: "Customer") { fields { name } } }'


@pytest.fixture
def no_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugin selection left to the installed entry points (CRM_PLUGINS/DISABLED unset)."""
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def offline(tmp_path: Path) -> Settings:
    """Settings for apps that only compose a schema (their database is migrated before they
    answer: every caller is a user, noted in it)."""
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        env="test",
        jwt_secret=SecretStr(TEST_JWT_SECRET),
        rate_limit_per_minute=0,
    )


def settings_like(base: Settings, **changes: Any) -> Settings:
    return base.model_copy(update=changes)


async def graphql(app: Starlette, query: str) -> dict[str, Any]:
    """Query an app in-process without its lifespan (enough for introspection and validation)."""
    async with in_process(app) as http:
        return (await http.post("/graphql", json={"query": query})).json()


@asynccontextmanager
async def in_process(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's HTTP client for an app, without running its lifespan; the app's database is
    migrated first, since authentication notes the caller's user there."""
    await upgrade(app.state.crm.engine, app.state.crm.plugins)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=auth_headers()
    ) as http:
        yield http


async def customer_fields(app: Starlette) -> set[str]:
    return {f["name"] for f in (await graphql(app, CUSTOMER_FIELDS))["data"]["__type"]["fields"]}


def crm_graph_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV}
    return subprocess.run(
        [sys.executable, "-m", "crm_graph", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(text: str) -> str:
    """CLI messages are wrapped to the terminal width; compare them as one line."""
    return " ".join(text.split())


class FakePlugin:
    """A throwaway plugin object: a name, a core range and an optional schema contribution."""

    def __init__(self, name: str, requires_core: str = ">=0.1", **extend: list[type]) -> None:
        self.name, self.requires_core, self.extend = name, requires_core, extend

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name=self.name, version="1.0", requires_core=self.requires_core)

    @hookimpl
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend=self.extend)


# --- documentation -------------------------------------------------------------------------


def _declared(module: Any) -> set[str]:
    return {name for name, f in vars(module).items() if hasattr(f, "crm_graph_spec")}


def _hook_headings(docs: str, section: str) -> set[str]:
    body = docs.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^###\s.*?`(\w+)`", body, flags=re.MULTILINE))


def test_every_hook_is_documented_in_plugins_md() -> None:
    """The core's hooks in the hook reference, and only they; a hook a bundled plugin declares
    in the section of such hooks, so nobody mistakes it for one the core always offers."""
    docs = (ROOT / "docs" / "plugins.md").read_text()
    core = _declared(hookspecs)
    assert "crm_storage" in core
    assert _hook_headings(docs, "Hook reference") == core, "one '### `hook`' per core hook"
    declared = _declared(analytics_hookspecs) | _declared(marketing_hookspecs)
    assert declared and declared <= _hook_headings(docs, "Hooks the bundled plugins declare")


# --- discovery and control -----------------------------------------------------------------


@pytest.mark.usefixtures("no_plugin_env")
async def test_installed_plugin_is_discovered_and_listed(offline: Settings) -> None:
    app = create_app(settings_like(offline, plugins=None))
    async with in_process(app) as http:
        listed = (await http.get("/plugins")).json()["plugins"]
    loyalty = next(p for p in listed if p["name"] == "loyalty")
    assert loyalty["version"] == crm_loyalty.__version__
    assert loyalty["distribution"] == "crm-loyalty"
    assert {"crm_schema", "crm_storage"} <= set(loyalty["hooks"])
    assert {"loyaltyPoints", "loyaltyTier"} <= await customer_fields(app)

    cli = crm_graph_cli("plugins", "list", "--json", env={})
    assert cli.returncode == 0, cli.stderr
    assert next(p for p in json.loads(cli.stdout) if p["name"] == "loyalty") == loyalty


@pytest.mark.parametrize(
    "env", [{"CRM_DISABLED_PLUGINS": "loyalty"}, {"CRM_PLUGINS": ""}, {"CRM_PLUGINS": "  "}]
)
async def test_disabled_plugin_contributes_nothing(
    env: dict[str, str], offline: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(Settings(**offline.model_dump(exclude={"plugins", "disabled_plugins"})))
    assert "loyalty" not in app.state.crm.plugins.names
    assert "loyaltyPoints" not in await customer_fields(app)
    result = await graphql(app, "{ customers { nodes { loyaltyPoints } } }")
    assert "Cannot query field 'loyaltyPoints' on type 'Customer'" in result["errors"][0]["message"]


def test_allow_list_naming_an_unknown_plugin_fails(offline: Settings) -> None:
    with pytest.raises(PluginError, match="CRM_PLUGINS names plugins that are not installed: nope"):
        create_app(settings_like(offline, plugins=["loyalty", "nope"]))


def test_plugin_failing_to_import_stops_startup_naming_it(tmp_path: Path) -> None:
    dist = tmp_path / "crm_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crm-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[crm_graph.plugins]\nbroken = crm_broken\n")
    (tmp_path / "crm_broken.py").write_text("import a_dependency_nobody_installed\n")
    env = {"PYTHONPATH": str(tmp_path), "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    result = crm_graph_cli("plugins", "list", env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert (
        "error: plugin 'broken' (crm_broken) failed to import: ModuleNotFoundError: "
        "No module named 'a_dependency_nobody_installed'"
    ) in one_line(result.stderr)


@strawberry.type
class SnakeCaseLoyalty:
    loyalty_points: int


@strawberry.type
class ExplicitlyNamed:
    points: int = strawberry.field(name="loyaltyPoints")


@strawberry.type
class CoreEmail:
    email: str


@strawberry.type(name="LoyaltyTier")
class OtherTier:
    level: int


@strawberry.type
class TierField:
    status_tier: OtherTier


@pytest.mark.parametrize(
    ("rival", "message"),
    [
        (
            FakePlugin("rival", Customer=[SnakeCaseLoyalty]),
            "field Customer.loyaltyPoints is contributed by both 'loyalty' and 'rival'",
        ),
        (
            FakePlugin("aaa", Customer=[ExplicitlyNamed]),
            "field Customer.loyaltyPoints is contributed by both 'aaa' and 'loyalty'",
        ),
        (
            FakePlugin("rival", Customer=[CoreEmail]),
            "field Customer.email is contributed by both 'core' and 'rival'",
        ),
        (
            FakePlugin("rival", Order=[TierField]),
            "GraphQL type 'LoyaltyTier' is defined by both 'loyalty' and 'rival'",
        ),
    ],
)
def test_conflicting_contributions_stop_startup_naming_both(
    rival: FakePlugin, message: str, offline: Settings
) -> None:
    with pytest.raises(PluginError, match=re.escape(message)):
        create_app(offline, plugins=[crm_loyalty, rival])


class NodeGiver(FakePlugin):
    """A plugin telling node(id:) how to find ``type_name``."""

    def __init__(self, type_name: str) -> None:
        super().__init__("giver")
        self.type_name = type_name

    @hookimpl
    def crm_schema(self) -> SchemaContribution:
        async def load(_context: Any, pks: list[int]) -> list[Any]:
            return [None for _ in pks]

        return SchemaContribution(
            types=[OtherTier], nodes={self.type_name: NodeLookup("customers:read", load)}
        )


@pytest.mark.parametrize(
    ("type_name", "whose"),
    [("Nothing", "no type"), ("Customer", "a type of 'core'")],
)
def test_a_plugin_gives_node_lookups_for_its_own_types_only(
    type_name: str, whose: str, offline: Settings
) -> None:
    message = (
        f"plugin 'giver' gives node(id:) a lookup for {type_name!r}, {whose}; "
        "a plugin looks up its own types"
    )
    with pytest.raises(PluginError, match=re.escape(message)):
        create_app(offline, plugins=[NodeGiver(type_name)])
    create_app(offline, plugins=[NodeGiver("LoyaltyTier")])  # its own (OtherTier) is fine


# --- plugin commands ---------------------------------------------------------------------


class Auditor(FakePlugin):
    """A plugin whose command reads the app's roles (``app.auth``) and event types
    (``app.events``), as an operator's audit command would."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("auditor")
        self.settings = settings

    @hookimpl
    def crm_cli(self, cli: typer.Typer) -> None:
        group = typer.Typer()

        @group.command()
        def grants(role: str) -> None:
            async def run() -> None:
                async with open_app(self.settings, plugins=[self]) as app:
                    granted = sorted(app.auth.policy.grants(role) or {})
                    types = [event_type.name for _, event_type in app.events.types]
                typer.echo(f"{role}: {', '.join(granted)}")
                typer.echo(f"events: {', '.join(types)}")

            asyncio.run(run())

        cli.add_typer(group, name="auditor")


def test_a_plugin_command_gets_a_complete_app(offline: Settings) -> None:
    cli = typer.Typer()
    auditor = Auditor(offline)
    add_plugin_commands(cli, create_plugin_manager(offline, [auditor]))
    result = CliRunner().invoke(cli, ["auditor", "grants", "readonly"])
    assert result.exit_code == 0, result.output
    assert "readonly: customers:read" in result.output
    assert "customer.created" in result.output.split("events: ")[1]


# --- hook order: pluggy's relay, plugins by name ------------------------------------------


def probe(name: str) -> type:
    """A strawberry type adding the field ``<name>Probe`` to Customer."""
    return strawberry.type(
        type(f"{name.title()}Probe", (), {"__annotations__": {f"{name}_probe": int}})
    )


class Probing(FakePlugin):
    """A plugin adding ``Customer.<name>Probe``: the fields' order shows the hooks' order."""

    def __init__(self, name: str) -> None:
        super().__init__(name, Customer=[probe(name)])


class ProbingFirst(Probing):
    @hookimpl(tryfirst=True)
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend=self.extend)


class ProbingLast(Probing):
    @hookimpl(trylast=True)
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend=self.extend)


async def probes(app: Starlette) -> list[str]:
    fields = (await graphql(app, CUSTOMER_FIELDS))["data"]["__type"]["fields"]
    return [f["name"] for f in fields if f["name"].endswith("Probe")]


@pytest.mark.parametrize(
    ("plugins", "order"),
    [
        ([Probing("bravo"), Probing("charlie"), Probing("alpha")], ["alpha", "bravo", "charlie"]),
        (
            [Probing("bravo"), ProbingFirst("charlie"), Probing("alpha")],
            ["charlie", "alpha", "bravo"],
        ),
        (
            [Probing("bravo"), Probing("charlie"), ProbingLast("alpha")],
            ["bravo", "charlie", "alpha"],
        ),
    ],
)
async def test_hooks_run_by_plugin_name_unless_tryfirst_or_trylast_says_otherwise(
    plugins: list[FakePlugin], order: list[str], offline: Settings
) -> None:
    assert await probes(create_app(offline, plugins=plugins)) == [f"{n}Probe" for n in order]


class Greetings:
    """A plugin's own hookspecs, as ``crm_add_hookspecs`` adds them."""

    @hookspec
    def crm_test_greeting(self, who: str) -> Any:
        """A greeting for ``who``."""


class Greeter(FakePlugin):
    def __init__(self, name: str, greeting: str | None) -> None:
        super().__init__(name)
        self.greeting = greeting

    @hookimpl
    def crm_add_hookspecs(self, plugin_manager: Any) -> None:
        if self.name == "host":
            plugin_manager.add_hookspecs(Greetings)

    @hookimpl
    def crm_test_greeting(self, who: str) -> str | None:
        return None if self.greeting is None else f"{self.greeting}, {who}"


class EagerGreeter(Greeter):
    @hookimpl(tryfirst=True)
    def crm_test_greeting(self, who: str) -> str | None:
        return f"{self.greeting}, {who}"


def test_a_plugins_own_hook_names_each_result_after_its_plugin(offline: Settings) -> None:
    """``app.plugins.each`` over a plugin-declared hook: results in pluggy's order, each
    named after the plugin that returned it, also when another returned nothing."""
    plugins = create_plugin_manager(
        offline,
        [
            Greeter("host", "hello"),
            Greeter("quiet", None),
            EagerGreeter("zed", "hi"),
            Greeter("b", "hey"),
        ],
    )
    assert plugins.each(plugins.hook.crm_test_greeting, who="Ada") == [
        ("zed", "hi, Ada"),
        ("b", "hey, Ada"),
        ("host", "hello, Ada"),
    ]


class Censor(FakePlugin):
    """A partner's hook wrapper: it sees every plugin's schema contribution and drops the
    subscriptions."""

    @hookimpl(wrapper=True)
    def crm_schema(self) -> Any:
        contributions = yield
        return [
            SchemaContribution(
                types=c.types, extend={k: v for k, v in c.extend.items() if k != "Subscription"}
            )
            for c in contributions
        ]


async def test_a_partners_hook_wrapper_changes_what_the_hook_returns(offline: Settings) -> None:
    app = create_app(offline, plugins=[crm_loyalty, Censor("censor")])
    assert {"loyaltyPoints", "loyaltyTier"} <= await customer_fields(app)
    assert "loyaltyPointsChanged" not in str(app.state.schema)


class RivalFirst(FakePlugin):
    @hookimpl(tryfirst=True)
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend=self.extend)


def test_conflicts_name_both_plugins_whatever_order_their_hooks_run_in(
    offline: Settings,
) -> None:
    rival = RivalFirst("rival", Customer=[SnakeCaseLoyalty])
    message = "field Customer.loyaltyPoints is contributed by both 'rival' and 'loyalty'"
    with pytest.raises(PluginError, match=re.escape(message)):
        create_app(offline, plugins=[crm_loyalty, rival])


def test_plugin_for_another_core_version_is_refused(offline: Settings) -> None:
    future = FakePlugin("future", requires_core=">=2.0")
    with pytest.raises(
        PluginError,
        match=re.escape("plugin 'future' 1.0 requires crm-graph >=2.0, but this is crm-graph 0.1"),
    ):
        create_app(offline, plugins=[future])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CRM_PLUGIN_LOYALTY_POLL_INTERVAL": "-1"},
            "plugin 'loyalty' settings are invalid: "
            "CRM_PLUGIN_LOYALTY_POLL_INTERVAL: Input should be greater than 0",
        ),
        (
            {"CRM_PLUGIN_LOYALTY_TIERS": '{"gold": 0}'},
            "CRM_PLUGIN_LOYALTY_TIERS (at gold): Input should be greater than 0",
        ),
        (
            {"CRM_PLUGIN_LOYALTY_TIERS": '{"gold": 10, "silver": 10}'},
            "CRM_PLUGIN_LOYALTY_TIERS: Value error, two tiers share a minimum",
        ),
        (
            {"CRM_PLUGIN_LOYALTY_TIERS": "gold=10"},
            "plugin 'loyalty' settings (CRM_PLUGIN_LOYALTY_*) could not be read: "
            'error parsing value for field "tiers"',
        ),
    ],
)
def test_invalid_plugin_settings_name_the_variable(
    env: dict[str, str], message: str, offline: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PluginError, match=re.escape(message)):
        create_app(offline, plugins=[crm_loyalty])


async def test_two_apps_in_one_process_keep_their_own_schemas(offline: Settings) -> None:
    with_loyalty = create_app(offline, plugins=[crm_loyalty])
    without = create_app(offline, plugins=[])
    again = create_app(offline, plugins=[crm_loyalty])
    assert {"loyaltyPoints", "loyaltyTier"} <= await customer_fields(with_loyalty)
    assert not {"loyaltyPoints", "loyaltyTier"} & await customer_fields(without)
    assert await customer_fields(again) == await customer_fields(with_loyalty)
    assert (await graphql(without, "subscription { __typename }"))["errors"]
    assert "loyaltyPointsChanged" in str(with_loyalty.state.schema)


# --- serving and storage (SQLite and PostgreSQL) -------------------------------------------


@pytest.fixture
async def discovered(database_url: str) -> AsyncIterator[Any]:
    """The loyalty plugin loaded through its entry point (plugins=None), on a migrated DB."""
    settings = Settings(database_url=database_url, plugins=["loyalty"], env="test")
    async with app_client(settings, plugins=None) as client:
        yield client


async def test_discovered_plugin_serves_its_fields_and_mutation(discovered: Any) -> None:
    created = await discovered.data(
        'mutation { createCustomer(input: {name: "Ada"}) { customer { id loyaltyPoints } } }'
    )
    ada = created["createCustomer"]["customer"]
    assert ada["loyaltyPoints"] == 0
    award = """mutation ($id: ID!, $points: Int!) {
      awardLoyaltyPoints(input: {customerId: $id, points: $points, reason: "signup"}) {
        account { points customer { id } } errors { code field }
      }
    }"""
    rejected = await discovered.data(award, {"id": ada["id"], "points": 0})
    assert rejected["awardLoyaltyPoints"] == {
        "account": None,
        "errors": [{"code": "INVALID_VALUE", "field": ["input", "points"]}],
    }
    accepted = await discovered.data(award, {"id": ada["id"], "points": 25})
    assert accepted["awardLoyaltyPoints"] == {
        "account": {"points": 25, "customer": {"id": ada["id"]}},
        "errors": [],
    }
    listed = await discovered.data("{ customers { nodes { loyaltyPoints } } }")
    assert listed["customers"]["nodes"] == [{"loyaltyPoints": 25}]


async def test_migrated_database_matches_core_and_plugin_models(database_url: str) -> None:
    plugins = create_plugin_manager(
        Settings(database_url=database_url, env="test"), plugins=[crm_loyalty]
    )
    engine = create_engine(database_url)
    try:
        await upgrade(engine, plugins)
        await upgrade(engine, plugins)  # idempotent: every branch already at its head
        assert await differences(engine, plugins) == []
    finally:
        await engine.dispose()
