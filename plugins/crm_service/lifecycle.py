"""The ticket's vocabulary, status machine (Zendesk's lifecycle) and event summary: no
database here.

``NEW → OPEN → PENDING → RESOLVED → CLOSED``: a new ticket may be opened, put on hold for the
customer (PENDING) or resolved at once; an open or pending ticket may be resolved; a resolved
one is reopened (OPEN) or closed; a closed ticket is final (a follow-up is a new ticket).
"""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import to_global_id

STATUSES = ("NEW", "OPEN", "PENDING", "RESOLVED", "CLOSED")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "NEW": ("OPEN", "PENDING", "RESOLVED"),
    "OPEN": ("PENDING", "RESOLVED"),
    "PENDING": ("OPEN", "RESOLVED"),
    "RESOLVED": ("OPEN", "CLOSED"),
    "CLOSED": (),
}
# Unresolved: the ticket still needs work (the backlog, ``Customer.openTickets``).
UNRESOLVED = ("NEW", "OPEN", "PENDING")
CHANNELS = ("EMAIL", "PHONE", "CHAT", "WEB", "SOCIAL")
PRIORITIES = {"LOW": 1, "NORMAL": 2, "HIGH": 3, "URGENT": 4}
PRIORITY_NAMES = {rank: name for name, rank in PRIORITIES.items()}


def allowed(status: str) -> tuple[str, ...]:
    """The statuses a ticket in ``status`` may move to."""
    return TRANSITIONS[status]


def transition_problem(current: str, wanted: str) -> str | None:
    """Why ``current → wanted`` is refused (naming the allowed moves), or None."""
    if wanted in TRANSITIONS[current]:
        return None
    moves = ", ".join(TRANSITIONS[current]) or "none: a closed ticket is final"
    return f"a {current} ticket cannot become {wanted}; allowed: {moves}"


def summary(ticket: Any) -> dict[str, Any]:
    """What every ticket event says about the ticket (no free text: that is personal data)."""
    return {
        "customerId": to_global_id("Customer", ticket.customer_id),
        "status": ticket.status,
        "priority": PRIORITY_NAMES[ticket.priority],
        "channel": ticket.channel,
        "assigneeId": ticket.assignee_id,
        "teamId": to_global_id("Team", ticket.team_id) if ticket.team_id is not None else None,
    }
