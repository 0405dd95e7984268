"""Subscriptions over the event log: each event is executed and encoded once per selection.

A thousand sockets subscribed to the same selection would otherwise each execute it over the
same event, run strawberry's per-result machinery and JSON-encode the same answer, which costs
far more than sending it. What an event's answer holds depends only on the event, the
operation (document, operation name and variables) and the caller's grants (payload masking
and visibility, field permissions; see :mod:`crm_graph.auth.event_access`). So:

- the first subscriber to execute an event (:class:`SharedEventExecutor`) stores the encoded
  answer under that key;
- every other subscriber's stream finds it there and writes the stored bytes straight to its
  socket (:func:`direct_sender`), skipping execution altogether;
- where the server can write to a socket at once (``crm-graph serve``, see
  :mod:`crm_graph.web.websocket_protocol`), idle subscribers of one selection are served as a
  group by the event hub: one executes, and its task writes the answer to the others' sockets
  without waking them (:class:`crm_graph.events.hub.Subscriber`).

Only answers without errors are shared: an error runs the ordinary path per subscriber.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult, OperationDefinitionNode, print_ast
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from crm_graph.events.hub import SharedResults
from crm_graph.events.models import EventRecord


@dataclass(frozen=True)
class Sink:
    """How the WebSocket transport writes a shared answer as one operation's next message:
    ``send`` waits until the socket can take it; ``send_now`` (when the server allows it)
    writes at once, or says False when the socket cannot take it now."""

    send: Callable[[str], Awaitable[None]]
    send_now: Callable[[str], bool] | None = None


# Set by the WebSocket transport in each operation's task.
SINK: ContextVar[Sink | None] = ContextVar("crm_shared_answer_sink", default=None)


class EncodedData(dict[str, Any]):
    """An answer's ``data``, carrying its JSON so the transport need not encode it again."""

    def __init__(self, data: dict[str, Any], encoded: str) -> None:
        super().__init__(data)
        self.json = encoded


def selection_key(
    operation: OperationDefinitionNode, fragments: dict[str, Any], variables: Any, context: Any
) -> Any:
    """Everything besides the event that an answer depends on (see the module)."""
    principal = getattr(context, "principal", None)
    return (
        print_ast(operation),
        tuple(sorted(print_ast(f) for f in fragments.values())),
        json.dumps(variables, sort_keys=True, default=repr),
        tuple(sorted(principal.grants.items())) if principal is not None else None,
    )


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, storing each event-log event's answer for the other subscribers."""

    selection_key: Any = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if self.selection_key is None:
            self.selection_key = selection_key(
                self.operation,
                self.fragment_definitions,
                self.variable_values.coerced,
                self.context_value,
            )
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        row = self.root_value
        if self.selection_key is None or not isinstance(row, EventRecord):
            return super().execute_operation(serially)
        shared = self.context_value.app.events.shared
        key = (row.uid, self.selection_key)
        answer = shared.get(key)
        if answer is not None:
            return ExecutionResult(data=EncodedData(json.loads(answer), answer))
        compiled = self._compiled(row)
        if compiled is not None:
            data, answer = compiled
            shared.put(key, answer)
            return ExecutionResult(data=EncodedData(data, answer))
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._share(shared, key, result)
        return _stored(shared, key, result)

    def _compiled(self, row: EventRecord) -> tuple[Any, str] | None:
        """The event's answer written by the compiled read path's serializer (its plan made
        once per selection); None when the app has no planner or the plan cannot write it."""
        context = self.context_value
        request = getattr(context, "request", None)
        planner = getattr(getattr(request, "app", None), "state", None)
        planner = getattr(planner, "planner", None)
        if planner is None:
            return None
        plan = planner.event_plan(
            self.selection_key,
            self.operation,
            self.fragment_definitions,
            self.variable_values.coerced,
            context.principal,
        )
        return None if plan is None else planner.write_event(plan, row, context)

    async def _share(self, shared: SharedResults, key: tuple[str, Any], result: Any) -> Any:
        return _stored(shared, key, await result)


def _stored(shared: SharedResults, key: tuple[str, Any], result: ExecutionResult) -> Any:
    if result.errors or not isinstance(result.data, dict):
        return result
    answer = json.dumps(result.data, separators=(",", ":"))
    shared.put(key, answer)
    return ExecutionResult(data=EncodedData(result.data, answer))


@dataclass(frozen=True)
class Direct:
    """A subscription's way to the stored answers: its key, and senders for the stored answer
    of an event (True when sent; False when the event must be yielded, and executed,
    normally). ``send_now`` is None when the transport cannot write at once."""

    key: Any
    send: Callable[[EventRecord], Awaitable[bool]]
    send_now: Callable[[EventRecord], bool] | None


def direct_sender(info: Info) -> Direct | None:
    """For a subscription resolver on a socket; None when the caller is not on a sharing
    transport."""
    sink = SINK.get()
    if sink is None:
        return None
    shared: SharedResults = info.context.app.events.shared
    raw = info._raw_info  # graphql-core's info: strawberry's does not expose the fragments
    key = selection_key(raw.operation, raw.fragments, raw.variable_values, raw.context)

    async def send(row: EventRecord) -> bool:
        answer = shared.get((row.uid, key))
        if answer is None:
            return False
        await sink.send(answer)
        return True

    def send_now(row: EventRecord) -> bool:
        answer = shared.get((row.uid, key))
        return answer is not None and sink.send_now(answer)  # type: ignore[misc]

    return Direct(key, send, send_now if sink.send_now is not None else None)


def next_message(operation_id: str, answer: str) -> str:
    """The graphql-transport-ws ``next`` message for a shared answer, without re-encoding."""
    return f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{{"data":{answer}}}}}'
