"""Definitions the models and the GraphQL reads share: which orders count, the names of the
RFM segments and time in days. Free of numpy, so that loading the plugin (every ``crm-graph`` command, the
server) does not load the models' libraries."""

from __future__ import annotations

from datetime import datetime

SECONDS_PER_DAY = 86400.0
NOT_COUNTED = ("cancelled", "refunded")  # order statuses no model or report counts

# Every segment ``rfm.SEGMENT_MAP`` names, in the order reports list them.
SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Cannot Lose Them",
    "Hibernating",
    "Lost",
)


def to_days(moment: datetime) -> float:
    """UTC days since the Unix epoch: the models' time."""
    return moment.timestamp() / SECONDS_PER_DAY
