"""Webhooks on the event side: from the log to signed HTTP requests.

The dispatcher (:mod:`.dispatcher`) follows the log with its own stored position and creates
delivery rows in the same transaction that advances it, so a crash can neither lose nor double a
delivery. Workers (:mod:`.workers`) claim due deliveries (:mod:`.claims`), send one request each
(:mod:`.request`, to targets the SSRF guard :mod:`.targets` allows) and record what happened
(:mod:`.outcomes`: success, a retry, a dead delivery, or a disabled endpoint). Delivery is at
least once. The rules for managing endpoints live in :mod:`crm_graph.domain.webhook_endpoints`,
their GraphQL in :mod:`crm_graph.schema.webhooks`, signing for receivers in
:mod:`crm_graph.webhooks`.
"""
