"""The plugin's one reading of the time: every rule asks :func:`now`, so a test (or a replay)
can set the moment the rules see, as SLA deadlines are hand-checked at exact times."""

from __future__ import annotations

from datetime import datetime

from crm_graph.plugin import utcnow


def now() -> datetime:
    """The aware UTC now."""
    return utcnow()
