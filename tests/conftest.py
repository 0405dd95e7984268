"""Every storage test runs twice: on a fresh SQLite file and on a fresh PostgreSQL database.

PostgreSQL is required: when it does not answer, the tests fail (they never skip), because a
green run that silently left out PostgreSQL would hide the production database's bugs.
Set CRM_TEST_POSTGRES_ADMIN_URL to point elsewhere than postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import pytest

from crm_graph.settings import Settings
from crm_graph.testing import POSTGRES_ADMIN_URL, GraphQLClient, app_client, temporary_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh, empty database of each kind for one test."""
    async with AsyncExitStack() as stack:
        try:
            database = temporary_database(request.param, tmp_path_factory.mktemp("db"))
            url = await stack.enter_async_context(database)
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(
                "PostgreSQL is required for the test suite and did not answer at "
                f"{POSTGRES_ADMIN_URL}: {exc}"
            )
        yield url


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
