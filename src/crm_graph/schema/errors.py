"""Every GraphQL error leaves with a code; unexpected failures leave with an id only.

An exception that escapes a resolver (core or plugin; query, mutation or subscription) may
carry SQL, module names or data in its text, so no environment shows it to the client: the
client gets ``INTERNAL_ERROR`` and an error id, and the server log gets the id with the
exception and its traceback (one shape everywhere, so clients and tests never depend on the
environment; a developer reads the log). An error without a code is the document's when it
has no path (``GRAPHQL_PARSE_FAILED``, ``GRAPHQL_VALIDATION_FAILED``: parsing, validation,
limits, variables) and the server's when it has one (a resolver's null for a non-null field,
a plugin's uncoded error): masked like an exception.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from crm_graph.failures import INTERNAL_ERROR, INTERNAL_MESSAGE
from crm_graph.failures import log_unexpected as _log

__all__ = ["INTERNAL_ERROR", "INTERNAL_MESSAGE", "is_unexpected", "log_unexpected"]

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def is_unexpected(error: GraphQLError) -> bool:
    """An exception that escaped a resolver, as opposed to a GraphQL or validation error."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def log_unexpected(exc: BaseException, where: str) -> str:
    """Log ``exc`` with its traceback under a new error id, which the client is given instead
    (GraphQL operations and plugin routes alike; see :mod:`crm_graph.failures`)."""
    return _log(exc, where, exc.message if isinstance(exc, GraphQLError) else None)


def report_errors(errors: list[GraphQLError], operation: str | None = None) -> None:
    """Give each error a code; log each unexpected one under a new id and turn it, in place,
    into ``INTERNAL_ERROR``.

    In place because strawberry hands ``Schema.process_errors`` the very error objects the
    response is built from, on every path (HTTP, WebSocket, errors raised by extensions), and
    before any extension sees them: masking here leaves no path unmasked.
    """
    for error in errors:
        coded = "code" in (error.extensions or {})
        if is_unexpected(error) or (not coded and error.path is not None):
            _mask(error, operation)
        elif not coded:
            code = PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else VALIDATION_FAILED
            error.extensions = {**(error.extensions or {}), "code": code}


def _mask(error: GraphQLError, operation: str | None) -> None:
    original: Any = error.original_error or error
    path = ".".join(str(step) for step in error.path or ()) or "(no path)"
    error_id = log_unexpected(original, f"operation {operation or '(anonymous)'} at {path}")
    error.message = INTERNAL_MESSAGE
    error.args = (INTERNAL_MESSAGE,)
    error.extensions = {"code": INTERNAL_ERROR, "id": error_id}
    error.original_error = None
    error.cause = None
    error.__cause__ = None
    error.__context__ = None
