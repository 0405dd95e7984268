"""Domain operations: the unit of work a mutation runs in, and how business rules report
user errors (typed, with a field path, rolling the whole unit back)."""

from __future__ import annotations

from crm_graph.domain.errors import Collector, FieldError, ValidationFailed, fail
from crm_graph.schema.mutations.base import perform

__all__ = ["Collector", "FieldError", "ValidationFailed", "fail", "perform"]
