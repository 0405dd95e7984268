"""Storage: the async engine, the sqlmodel tables and the Alembic migrations."""
