"""Answering a request from a plan: the one entry point of the compiled read path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from graphql import GraphQLError
from graphql.execution.values import get_variable_values

from crm_graph.auth.scope import acting_as, owner_parameters
from crm_graph.db.models import utcnow
from crm_graph.db.storable import problem_of
from crm_graph.schema.planner.build import Plan, PlanBuilder, roots
from crm_graph.schema.planner.cache import LRU
from crm_graph.schema.planner.document import Documents
from crm_graph.schema.planner.prepared import NOW
from crm_graph.schema.planner.run import Fallback, Run, Unsupported
from crm_graph.schema.planner.subscription import EventPlan, plan_event

logger = logging.getLogger("crm_graph.planner")

NOT_COMPILED = "not compiled"


class Planner:
    """Plans by (document, operation, caller's role and grants, @skip/@include variables),
    in a bounded cache; ``answer`` returns the response body, or None for strawberry to
    answer the request."""

    def __init__(self, schema: Any, app: Any, extensions: list[Any], size: int) -> None:
        settings = app.settings
        self.schema = schema
        self.app = app
        self.maximum = settings.max_page_size
        self.dialect = app.engine.dialect.name
        self.documents = Documents(
            schema, extensions, settings.max_query_tokens, size, roots(schema._schema)
        )
        self.plans = LRU(size)
        # Subscription answers written from plans (how often the executor was not needed).
        self.events_written = 0

    def plan(self, request: dict[str, Any], principal: Any) -> tuple[Plan, Any] | None:
        """The plan of a request and its coerced variables; None when it is not compiled."""
        text = request.get("query")
        variables = request.get("variables") or {}
        name = request.get("operationName")
        if not isinstance(text, str) or not isinstance(variables, dict):
            return None
        if name is not None and not isinstance(name, str):
            return None
        document = self.documents.get(text)
        if document is None or document.other_directives:
            return None
        operation = document.operation(name)
        if operation is None:
            return None
        if any(problem_of(value, (key,)) is not None for key, value in variables.items()):
            return None
        coerced = get_variable_values(
            self.schema._schema, operation.variable_definitions or (), variables
        )
        if isinstance(coerced, list):
            return None
        conditions = {v: coerced.coerced.get(v) for v in document.condition_variables}
        key = (
            document.digest,
            name,
            principal.role,
            principal.memo.get("grant key") or _grant_key(principal),
            tuple(conditions.items()),
        )
        plan = self.plans.get(key)
        if plan is None:
            try:
                builder = PlanBuilder(
                    self.schema, document.fragments, operation, principal, conditions, self.dialect
                )
                plan = builder.plan()
            except Unsupported as exc:
                logger.debug("not compiled: %s", exc)
                plan = NOT_COMPILED
            self.plans.put(key, plan)
        return None if plan is NOT_COMPILED else (plan, coerced)

    def event_plan(
        self,
        key: Any,
        operation: Any,
        fragments: dict[str, Any],
        variables: dict[str, Any],
        principal: Any,
    ) -> EventPlan | None:
        """The plan writing a subscription's answer for each event, by the subscription's
        selection key (operation, variables, grants: see crm_graph.schema.fanout); None
        when it is not compiled."""
        plan = self.plans.get(("event", key))
        if plan is None:
            try:
                builder = PlanBuilder(
                    self.schema, fragments, operation, principal, variables, self.dialect
                )
                plan = plan_event(builder, operation)
            except Unsupported as exc:
                logger.debug("subscription not compiled: %s", exc)
                plan = NOT_COMPILED
            self.plans.put(("event", key), plan)
        return None if plan is NOT_COMPILED else plan

    def write_event(self, plan: EventPlan, row: Any, context: Any) -> tuple[Any, str] | None:
        """An event's answer (``data``) and its JSON, or None for strawberry to write it."""
        try:
            data = plan.write(row, context)
        except Fallback:
            return None
        self.events_written += 1
        return data, orjson.dumps(data).decode()

    async def answer(
        self, request: dict[str, Any], principal: Any, http: Any, lease: Any = None
    ) -> bytes | None:
        """``lease``: the request's connection (:class:`~crm_graph.db.engine.RequestConnection`),
        which checked the credential; without one the plan runs on a connection of its own."""
        planned = self.plan(request, principal)
        if planned is None:
            return None
        plan, variables = planned
        with acting_as(principal):
            async with _connection(self.app.engine, lease) as conn:
                params = owner_parameters(principal, conn.dialect.name)
                params[NOW] = utcnow()
                run = Run(conn, principal, variables, params)
                run.maximum, run.app, run.request = self.maximum, self.app, http
                try:
                    data = await plan.execute(run)
                except (Fallback, GraphQLError):
                    return None
        body: dict[str, Any] = {"data": data}
        if run.errors:
            body["errors"] = run.errors
        return orjson.dumps(body)


@asynccontextmanager
async def _connection(engine: Any, lease: Any) -> AsyncIterator[Any]:
    if lease is not None:
        yield await lease.get()
        return
    async with engine.connect() as conn:
        yield conn


def _grant_key(principal: Any) -> tuple[tuple[str, str], ...]:
    key = tuple(sorted(principal.grants.items()))
    principal.memo["grant key"] = key
    return key
