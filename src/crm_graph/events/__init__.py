"""The event log and what follows it: sequencer, live subscriptions, plugin handlers, webhooks.

Every committed change writes its event rows in the same transaction (:func:`emit`). Positions
are assigned after commit by one sequencer at a time, so a reader following positions can never
skip an event. Notifications only wake readers up; the table is the truth.
"""
