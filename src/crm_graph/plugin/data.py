"""Import and export kinds: what ``crm_data_kinds`` returns, and what a kind's check, write
and export are written with (per-item outcomes, customers named by external id, records
written as CSV or JSON Lines)."""

from __future__ import annotations

from crm_graph.domain.batches import (
    INSERTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    Checked,
    Outcome,
    rejected,
)
from crm_graph.domain.customer_refs import CustomerRefs, find_customers
from crm_graph.io.exporters import write_records
from crm_graph.io.kinds import DataKind, ImportContext
from crm_graph.io.rows import Columns, cell_time

__all__ = [
    "INSERTED",
    "UNCHANGED",
    "UPDATED",
    "BatchResult",
    "Checked",
    "Columns",
    "CustomerRefs",
    "DataKind",
    "ImportContext",
    "Outcome",
    "cell_time",
    "find_customers",
    "rejected",
    "write_records",
]
