"""Subscription answers from a plan: each event of the log written by the compiled serializer.

An event's answer is the subscription field's selection over the event row (``Event``'s
fields are columns, ``id`` a function of the row, ``cursor`` and ``payload`` functions of the
row and the request context: see :mod:`.bindings`), written by the same writers the read
path builds, with no executor. What they cannot write (a value missing where the schema
promises one) is left to strawberry, event by event.
"""

from __future__ import annotations

from typing import Any

from graphql import OperationDefinitionNode, OperationType

from crm_graph.schema.planner.build import PlanBuilder
from crm_graph.schema.planner.run import Unsupported

Write = Any


class EventRun:
    """The state a writer reads while writing one event: the subscription's context."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.principal = context.principal
        self.errors: list[dict[str, Any]] = []
        self.depths: list[float] = []

    def request_context(self) -> Any:
        return self.context


class EventPlan:
    """The writer of a subscription's answer (``data``) for one event row."""

    def __init__(self, roots: list[tuple[str, Write]]) -> None:
        self.roots = roots

    def write(self, row: Any, context: Any) -> dict[str, Any]:
        run = EventRun(context)
        return {key: write(row, run, (key,)) for key, write in self.roots}


def plan_event(builder: PlanBuilder, operation: OperationDefinitionNode) -> EventPlan:
    """The plan of a subscription operation (raises :class:`Unsupported`)."""
    if operation.operation is not OperationType.SUBSCRIPTION:
        raise Unsupported("not a subscription")
    subscription = builder.graphql.subscription_type
    roots = []
    for key, nodes in builder.collect(subscription, [operation]).items():
        name = nodes[0].name.value
        if name == "__typename":
            roots.append((key, lambda _row, _run, _path: subscription.name))
            continue
        if builder._denied(subscription, key, nodes, subscription) is not None:
            raise Unsupported("a forbidden subscription")
        # The event row is the root value, which the subscription field resolves to.
        roots.append((key, builder.value(subscription.fields[name].type, nodes)))
    return EventPlan(roots)
