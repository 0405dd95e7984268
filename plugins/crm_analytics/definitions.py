"""Definitions the models and the GraphQL reads share: which orders count and the names of the
RFM segments. Free of numpy, so that loading the plugin (every ``crm-graph`` command, the
server) does not load the models' libraries."""

from __future__ import annotations

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
