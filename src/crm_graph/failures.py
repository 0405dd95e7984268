"""Unexpected failures are shown as a code and an id; their text goes to the log only.

An exception nobody expected may carry SQL, module names, paths or data in its text. Wherever
a failure reaches a client, at once (a GraphQL error, a plugin route's answer) or later (a
failed job's or delivery's message, stored and read back through the API), it shows
``INTERNAL_ERROR`` and an error id, and the ``crm_graph.errors`` log holds the id with the
exception and its traceback. A failure written to be read (:class:`ExplainedFailure`: what was
wrong with the data, the input or another system) is shown as it is.
"""

from __future__ import annotations

import logging
import uuid

INTERNAL_ERROR = "INTERNAL_ERROR"
INTERNAL_MESSAGE = "internal server error; the server log has the details under this error's id"

logger = logging.getLogger("crm_graph.errors")


class ExplainedFailure(Exception):
    """A failure whose message is written for whoever reads it where the failure is shown (a
    job's ``lastError``, say): raise it, or a subclass, to say why in words of the domain.
    Any other exception is unexpected, and shown only as ``INTERNAL_ERROR`` with an id."""


def log_unexpected(exc: BaseException, where: str, text: object = None) -> str:
    """Log ``exc`` with its traceback under a new error id, which the client is given instead.
    ``text`` replaces the exception's own text in the log line when given."""
    error_id = uuid.uuid4().hex
    logger.error(
        "internal error %s in %s: %s: %s",
        error_id,
        where,
        type(exc).__name__,
        exc if text is None else text,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return error_id


def failure_text(exc: BaseException, where: str) -> str:
    """What to store and show of a failure: an explained failure's message; for anything else
    ``INTERNAL_ERROR`` and the id it is logged under (see the module)."""
    if isinstance(exc, ExplainedFailure):
        return str(exc)
    return f"{INTERNAL_ERROR}: {INTERNAL_MESSAGE} ({log_unexpected(exc, where)})"
