"""Domain operations: the unit of work a mutation runs in, how business rules report user
errors (typed, with a field path, rolling the whole unit back), and the core's operations a
plugin calls instead of repeating its rules (place an order, log an interaction, record
consent, find duplicates of contact details).

Each operation takes the caller's session (from ``perform`` or ``app.write()``) and writes
only through it, so the plugin's change and the core's commit, or roll back, together;
events go to the outbox in that same transaction. Customers and products are named by
primary key; error paths start with ``at``, where the caller's input holds the values.
"""

from __future__ import annotations

from crm_graph.auth.scope import governed_by
from crm_graph.domain.consent import record_consent
from crm_graph.domain.customers import check_version, create_customer, update_customer
from crm_graph.domain.duplicates import DuplicateCandidate, DuplicateReason, find_duplicates
from crm_graph.domain.errors import Collector, FieldError, ValidationFailed, fail
from crm_graph.domain.interactions import log_interaction
from crm_graph.domain.orders import NewOrderLine, place_order
from crm_graph.domain.values import (
    clean_text,
    normalise_amount,
    normalise_currency,
    normalise_email,
    normalise_phone,
    normalise_time_zone,
)
from crm_graph.schema.mutations.base import perform

__all__ = [
    "Collector",
    "DuplicateCandidate",
    "DuplicateReason",
    "FieldError",
    "NewOrderLine",
    "ValidationFailed",
    "check_version",
    "clean_text",
    "create_customer",
    "fail",
    "find_duplicates",
    "governed_by",
    "log_interaction",
    "normalise_amount",
    "normalise_currency",
    "normalise_email",
    "normalise_phone",
    "normalise_time_zone",
    "perform",
    "place_order",
    "record_consent",
    "update_customer",
]
