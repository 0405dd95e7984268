"""Events: emit a plugin's events inside the unit of work that makes the change, and the stored
event a ``crm_event`` handler receives."""

from __future__ import annotations

from crm_graph.events.models import EventRecord
from crm_graph.events.outbox import emit

__all__ = ["EventRecord", "emit"]
