"""Outbound e-mail: queue a message in your unit of work (sent after it commits, in the
background, over ``CRM_SMTP_URL``) and follow what became of your messages."""

from __future__ import annotations

from crm_graph.domain.outbound_email import (
    QueuedEmail,
    count_emails,
    email_status,
    email_statuses,
    queue_email,
)

__all__ = ["QueuedEmail", "count_emails", "email_status", "email_statuses", "queue_email"]
