"""The core's tables, wherever they are declared: what ``db/migrate`` compares a database with.

The packages above ``db`` (``events``, ``auth``) register their tables here when they are
imported, so ``db`` never imports upward. Every entry point (the command line, the web app,
the test helpers) imports those packages before it migrates. Plugin tables are not registered
here: they come per app, from the enabled plugins' ``crm_storage``.
"""

from __future__ import annotations

from sqlmodel import SQLModel

CORE_TABLES: list[type[SQLModel]] = []


def register_tables(*tables: type[SQLModel]) -> None:
    """Add core tables (in creation order: a table after those its foreign keys point at)."""
    CORE_TABLES.extend(table for table in tables if table not in CORE_TABLES)
