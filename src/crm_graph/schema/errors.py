"""Telling expected GraphQL errors from unexpected failures, and answering the latter safely.

An exception that escapes a resolver (core or plugin; query, mutation or subscription) may
carry SQL, module names or data in its text, so no environment shows it to the client: the
client gets ``INTERNAL_ERROR`` and an error id, and the server log gets the id with the
exception and its traceback (one shape everywhere, so clients and tests never depend on the
environment; a developer reads the log).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from graphql import GraphQLError

INTERNAL_ERROR = "INTERNAL_ERROR"
INTERNAL_MESSAGE = "internal server error; the server log has the details under this error's id"

logger = logging.getLogger("crm_graph.errors")


def is_unexpected(error: GraphQLError) -> bool:
    """An exception that escaped a resolver, as opposed to a GraphQL or validation error."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def report_unexpected(errors: list[GraphQLError], operation: str | None = None) -> None:
    """Log each unexpected error under a new id and turn it, in place, into ``INTERNAL_ERROR``.

    In place because strawberry hands ``Schema.process_errors`` the very error objects the
    response is built from, on every path (HTTP, WebSocket, errors raised by extensions), and
    before any extension sees them: masking here leaves no path unmasked.
    """
    for error in errors:
        if not is_unexpected(error):
            continue
        original: Any = error.original_error
        error_id = uuid.uuid4().hex
        logger.error(
            "internal error %s in operation %s at %s: %s: %s",
            error_id,
            operation or "(anonymous)",
            ".".join(str(step) for step in error.path or ()) or "(no path)",
            type(original).__name__,
            original,
            exc_info=(type(original), original, original.__traceback__),
        )
        error.message = INTERNAL_MESSAGE
        error.args = (INTERNAL_MESSAGE,)
        error.extensions = {"code": INTERNAL_ERROR, "id": error_id}
        error.original_error = None
        error.cause = None
        error.__cause__ = None
        error.__context__ = None
