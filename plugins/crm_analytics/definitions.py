"""Definitions the models and the GraphQL reads share: which orders count, the names of the
RFM segments, time in days and the words of a recommendation's reason. Free of numpy, so that loading the plugin (every ``crm-graph`` command, the
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


def reason(bought_with: str | None, category: str | None) -> str:
    """Why a product is offered, in the words every recommendation uses (stored similar
    products and recommendations computed when read alike): the bought product that
    contributed most, else the category it is popular in, else popularity."""
    if bought_with is not None:
        return f"bought with {bought_with}"[:400]
    if category is not None:
        return f"popular in {category}"[:400]
    return "popular with other customers"
