"""An exception escaping a resolver answers INTERNAL_ERROR with an id; only the log has more.

A plugin's query, mutation and subscription fields raise with module names and SQL in the
message (as a half-imported module or a failed statement would): in development and in
production the client sees the code and an id, never the text, and the server log holds the
same id with the exception and its traceback. Typed errors keep their codes and messages.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import strawberry
from test_subscriptions import start, websocket

from crm_graph.plugin import PluginMetadata, SchemaContribution, hookimpl
from crm_graph.settings import Settings
from crm_graph.testing import app_client

LEAK = (
    "partially initialized module 'crm_analytics.clv' has no attribute 'customer_value'; "
    "SELECT secret_column FROM customers WHERE id = 7"
)
LEAKED_WORDS = ("crm_analytics", "SELECT", "secret_column", "RuntimeError", "Traceback")


def _fail() -> None:
    raise RuntimeError(LEAK)


@strawberry.type
class FailingQueries:
    @strawberry.field
    def failing_report(self) -> int:
        _fail()
        return 0

    @strawberry.field
    def broken_count(self) -> int:
        return None  # type: ignore[return-value]  # a bug: null for a non-null field


@strawberry.type
class FailingMutations:
    @strawberry.mutation
    async def failing_action(self) -> int:
        _fail()
        return 0


@strawberry.type
class FailingSubscriptions:
    @strawberry.subscription
    async def failing_feed(self) -> AsyncIterator[int]:
        _fail()
        yield 0


class FailingPlugin:
    @staticmethod
    @hookimpl
    def crm_plugin_metadata() -> PluginMetadata:
        return PluginMetadata(name="failing", version="1.0")

    @staticmethod
    @hookimpl
    def crm_schema() -> SchemaContribution:
        return SchemaContribution(
            extend={
                "Query": [FailingQueries],
                "Mutation": [FailingMutations],
                "Subscription": [FailingSubscriptions],
            }
        )


def _assert_masked(error: dict, caplog: pytest.LogCaptureFixture) -> None:
    """The error carries the code and an id only; the log has that id with the traceback."""
    text = str(error)
    assert not [word for word in LEAKED_WORDS if word in text], text
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    error_id = error["extensions"]["id"]
    assert set(error["extensions"]) == {"code", "id"}
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].levelno == logging.ERROR
    assert LEAK in logged[0].getMessage()
    assert logged[0].exc_info is not None
    assert "_fail" in caplog.text and "Traceback" in caplog.text


@pytest.mark.parametrize("env", ["development", "production"])
async def test_query_and_mutation_failures_answer_an_id_only(
    database_url: str, env: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    settings = Settings(database_url=database_url, plugins=[], env=env)
    async with app_client(settings, plugins=[FailingPlugin]) as client:
        for document in ("{ failingReport }", "mutation { failingAction }"):
            result = await client.execute(document)
            [error] = result["errors"]
            _assert_masked(error, caplog)
        # Only the error log's records: a test before this one may leave asyncio's own
        # "Future exception was never retrieved" to be logged while this one runs.
        ids = {r.getMessage().split()[2] for r in caplog.records if r.name == "crm_graph.errors"}
        assert len(ids) == 2  # one id per failure

        typed = await client.execute('{ node(id: "not-an-id") { id } }')
        assert [e["extensions"]["code"] for e in typed["errors"]] == ["INVALID_ID"]
        user_errors = await client.data(
            'mutation { createCustomer(input: {name: ""}) { errors { code field } } }'
        )
        assert user_errors["createCustomer"]["errors"][0]["code"] == "REQUIRED"


async def test_every_error_has_a_code(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Errors without a code of their own: the document's (parsing, validation, variables)
    say which; the server's (a null for a non-null field) are masked and logged like an
    exception, since their text names the schema's internals."""
    caplog.set_level(logging.ERROR)
    settings = Settings(database_url=database_url, plugins=[], env="production")
    async with app_client(settings, plugins=[FailingPlugin]) as client:
        for document, variables, code in [
            ("{ customers { ", None, "GRAPHQL_PARSE_FAILED"),
            ("{ customers { nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
            (
                "query($n: Int!) { customers(first: $n) { totalCount } }",
                {},
                "GRAPHQL_VALIDATION_FAILED",
            ),
        ]:
            result = await client.execute(document, variables)
            assert [e["extensions"]["code"] for e in result["errors"]] == [code], result
        [error] = (await client.execute("{ brokenCount }"))["errors"]
        assert "brokenCount" not in error["message"] and "non-nullable" not in error["message"]
        assert error["extensions"]["code"] == "INTERNAL_ERROR"
        [logged] = [r for r in caplog.records if error["extensions"]["id"] in r.getMessage()]
        assert "Cannot return null for non-nullable field Query.brokenCount" in logged.getMessage()


async def test_subscription_failure_answers_an_id_only(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    settings = Settings(database_url=database_url, plugins=[], env="development")
    async with app_client(settings, plugins=[FailingPlugin]) as client, websocket(client) as ws:
        await start(ws, "1", "subscription { failingFeed }", {})
        message = await ws.receive_json(timeout=10)
    assert message["type"] in ("next", "error"), message
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    [error] = errors
    _assert_masked(error, caplog)
