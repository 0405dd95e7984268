"""The demo's clock: a fixed ``NOW`` and two years of history counted back from it, never the
wall clock, so a seed always gives the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 730


def moment(day: float) -> datetime:
    """The instant of a timeline day (0 = two years before NOW), to the second."""
    return NOW - timedelta(seconds=round((HISTORY_DAYS - day) * 86_400))
