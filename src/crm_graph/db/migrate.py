"""Running Alembic: one branch for core and one per plugin that owns tables.

``crm-graph migrate`` upgrades every branch to its head (``alembic upgrade heads``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.contributions import Storage
from crm_graph.db.registry import CORE_TABLES
from crm_graph.plugins_manager import PluginError, PluginSet, create_plugin_manager
from crm_graph.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def storages(plugins: PluginSet) -> list[tuple[str, Storage]]:
    found = []
    for name, storage in plugins.each(plugins.hook.crm_storage):
        if not isinstance(storage, Storage):
            raise PluginError(f"plugin {name!r}: crm_storage must return Storage")
        found.append((name, storage))
    return found


def target_metadata(plugins: PluginSet) -> MetaData:
    """The tables this app expects: core plus those of its enabled plugins (not all imported)."""
    metadata = MetaData()
    for model in CORE_TABLES:
        model.__table__.to_metadata(metadata)
    for _name, storage in storages(plugins):
        for model in storage.tables:
            model.__table__.to_metadata(metadata)
    return metadata


def _migration_folders(plugins: PluginSet) -> list[Path]:
    """Core's folder, the enabled plugins' folders, and those of every other installed plugin.

    A database migrated while a plugin was enabled records that plugin's revision; Alembic must
    find it to read the database's state even after the plugin is disabled. Disabled plugins'
    branches are known, never upgraded (see :func:`upgrade`).
    """
    folders = [MIGRATIONS / "versions", *(s.migrations for _n, s in storages(plugins))]
    try:
        installed = create_plugin_manager(Settings(plugins=None, disabled_plugins=[]))
    except PluginError:
        return folders  # a broken installed plugin must not block migrating the others
    folders += [s.migrations for _n, s in storages(installed) if s.migrations not in folders]
    return folders


def alembic_config(plugins: PluginSet, connection: Connection | None = None) -> Config:
    locations = _migration_folders(plugins)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(str(p) for p in locations))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata(plugins)
    return config


async def upgrade(engine: AsyncEngine, plugins: PluginSet) -> None:
    """Upgrade the core branch, then each enabled plugin's branch (labelled with its name)."""
    targets = ["core@head", *(f"{name}@head" for name, _storage in storages(plugins))]

    def run(conn: Connection) -> None:
        config = alembic_config(plugins, conn)
        for target in targets:
            command.upgrade(config, target)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def differences(engine: AsyncEngine, plugins: PluginSet) -> list[Any]:
    """What autogenerate would change: empty when the migrated database matches the models."""
    metadata = target_metadata(plugins)

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata) if not _is_alembic_bookkeeping(d)]

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


def _is_alembic_bookkeeping(diff: Any) -> bool:
    return (
        isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"
    )
