"""Every storage test runs twice: on a fresh SQLite file and on a fresh PostgreSQL database.

PostgreSQL is required: when it does not answer, the tests fail (they never skip), because a
green run that silently left out PostgreSQL would hide the production database's bugs.
Set CRM_TEST_POSTGRES_ADMIN_URL to point elsewhere than postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

ADMIN_DSN = os.environ.get(
    "CRM_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _async_url(database: str) -> str:
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh, empty database of each kind for one test."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "crm.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for the test suite and did not answer at {ADMIN_DSN}: {exc}"
        )
    try:
        yield _async_url(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, plugins=[], env="test")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """A core-only app (no plugins) on a migrated database."""
    async with app_client(settings, plugins=[]) as graphql:
        yield graphql


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for CLI subprocesses on a throwaway SQLite file."""
    yield {
        "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "CRM_DISABLED_PLUGINS": "loyalty",
    }
