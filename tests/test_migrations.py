"""Migrations: a migrated database matches the models, and ``crm-graph migrate`` is idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import alembic_config, differences, upgrade
from crm_graph.plugins_manager import PluginSet, create_plugin_manager
from crm_graph.settings import Settings

CLI = Path(sys.executable).parent / "crm-graph"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _core(database_url: str) -> PluginSet:
    return create_plugin_manager(Settings(database_url=database_url, plugins=[]), plugins=[])


async def _heads(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return sorted(row[0] for row in rows)


async def test_upgrade_matches_the_models(engine: AsyncEngine, database_url: str) -> None:
    plugins = _core(database_url)
    assert await differences(engine, plugins) != [], "an empty database must differ"
    await upgrade(engine, plugins)
    assert await differences(engine, plugins) == []
    heads = await _heads(engine)
    assert heads
    await upgrade(engine, plugins)
    assert await _heads(engine) == heads
    assert await differences(engine, plugins) == []


def _migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "CRM_PLUGINS": ""}
    return subprocess.run(
        [str(CLI), "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_cli_migrate_is_idempotent(engine: AsyncEngine, database_url: str) -> None:
    first = _migrate(database_url)
    assert first.returncode == 0, first.stderr
    assert "migrated" in first.stderr
    plugins = _core(database_url)
    assert await differences(engine, plugins) == []
    heads = await _heads(engine)

    second = _migrate(database_url)
    assert second.returncode == 0, second.stderr
    assert await _heads(engine) == heads
    assert await differences(engine, plugins) == []


# The example plugin's newest revision (it depends on core's 0010_users).
LOYALTY_HEAD = "0002_loyalty_awarded_by"


async def test_migrating_after_disabling_a_migrated_plugin(
    engine: AsyncEngine, database_url: str
) -> None:
    with_loyalty = create_plugin_manager(Settings(database_url=database_url, plugins=["loyalty"]))
    await upgrade(engine, with_loyalty)
    assert LOYALTY_HEAD in await _heads(engine)
    core_only = _core(database_url)
    await upgrade(engine, core_only)  # the loyalty revision stays known, its branch untouched
    assert LOYALTY_HEAD in await _heads(engine)
    assert await differences(engine, with_loyalty) == []


async def test_existing_owner_ids_and_key_users_become_users(
    engine: AsyncEngine, database_url: str
) -> None:
    plugins = _core(database_url)

    def before_users(connection: Connection) -> None:
        command.upgrade(alembic_config(plugins, connection), "0009_outbound_email")

    async with engine.begin() as connection:
        await connection.run_sync(before_users)
        for name, owner in (("A", "olga"), ("B", "olga"), ("C", None)):
            await connection.execute(
                text(
                    "INSERT INTO customer (name, lifecycle_stage, tags, attributes, created_at, "
                    "updated_at, version, owner_id) VALUES (:name, 'lead', '[]', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, :owner)"
                ),
                {"name": name, "owner": owner},
            )
        await connection.execute(
            text(
                "INSERT INTO auth_api_key (name, prefix, key_hash, role, user_id, created_at) "
                "VALUES ('k', 'crm_x', 'h', 'sales', 'bot', CURRENT_TIMESTAMP)"
            )
        )
    await upgrade(engine, plugins)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT user_id, name, active FROM auth_user ORDER BY user_id")
        )
        assert [tuple(row) for row in rows] == [("bot", "bot", True), ("olga", "olga", True)]
    assert await differences(engine, plugins) == []
