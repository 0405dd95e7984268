"""Telling expected GraphQL errors from unexpected failures."""

from __future__ import annotations

from graphql import GraphQLError


def is_unexpected(error: GraphQLError) -> bool:
    """An exception that escaped a resolver, as opposed to a GraphQL or validation error.

    Expected errors are the client's answer and are shown as they are; unexpected ones are
    logged, and masked in production because their text may carry SQL or internals.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)
