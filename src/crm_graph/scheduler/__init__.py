"""The scheduler: plugins' periodic and one-shot jobs, persisted, each run once across processes.

Rows in ``scheduled_job`` are the truth; a process runs a due row only under a lease it took in
a write transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's serialised writes),
renewed while the run lasts, so a run whose process died is taken again once its lease expires.
"""
