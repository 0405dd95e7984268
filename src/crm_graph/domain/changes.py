"""Changing a stored row, the same for a mutation and an import: only the fields whose value
differs are set, and ``updated_at`` moves only when one did."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def apply_changes(row: Any, values: dict[str, Any], now: datetime) -> list[str]:
    """Set the ``values`` that differ from ``row``'s; the names of the fields that changed."""
    changed = [key for key, value in values.items() if getattr(row, key) != value]
    for key in changed:
        setattr(row, key, values[key])
    if changed:
        row.updated_at = now
    return changed
