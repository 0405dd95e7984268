"""Fixtures for the loyalty plugin's tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import crm_loyalty
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, temporary_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def loyalty_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    async with temporary_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield Settings(database_url=url, env="test")


@pytest.fixture
async def loyalty(loyalty_settings: Settings) -> AsyncIterator[GraphQLClient]:
    """An app with only the loyalty plugin, on a migrated database."""
    async with app_client(loyalty_settings, plugins=[crm_loyalty]) as client:
        yield client
