"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB

from crm_graph.db.stored_json import Repaired

# Four decimals fit currencies with 0, 2 or 3 minor digits; the domain rounds per currency.
Money = Numeric(19, 4)

# JSONB on PostgreSQL gives containment (`@>`) for tag filters; plain JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
UNREADABLE = "unreadable"


class JsonEnvelope(TypeDecorator[dict[str, Any]]):
    """A JSON object this server defines the keys of (an event's payload), which says itself
    when it could only be read with repairs (:func:`crm_graph.db.stored_json.loads`): it comes
    back with ``unreadable``, the list of what was changed, so every reader of it (the events
    query, subscriptions, webhooks, plugin handlers) delivers it marked, and none stops on it.
    User data (custom attributes) is never marked in-band: its keys are the user's."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, Repaired):
            return {**value, UNREADABLE: value.problems}
        return value


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, and out, on both databases.

    SQLite has no time zone type and hands back naive values; PostgreSQL ``timestamptz`` hands
    back aware ones. Normalising here means no caller ever compares naive with aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, the text SQLAlchemy's own DATETIME stores (``YYYY-MM-DD HH:MM:SS.ffffff``),
        made in one step: bulk imports convert a value per row, and the generic path (this
        type's conversion, then DATETIME's formatting) costs three times as much."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        convert = self.process_bind_param

        def process(value: datetime | None) -> str | None:
            if value is not None and value.tzinfo is UTC:  # most are: skip the conversion
                return value.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
            naive = convert(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """:meth:`process_result_value` in one call per value, a value already in UTC (what
        asyncpg hands back) returned as it is: the compiled read path converts every time of
        a page (about a thousand on the nested bench page)."""
        inner = self.impl_instance.result_processor(dialect, coltype)  # SQLite: text -> naive
        if inner is None:

            def process(value: datetime | None) -> datetime | None:
                if value is None or value.tzinfo is UTC:
                    return value
                return self.process_result_value(value, dialect)

            return process

        def parse(value: Any) -> datetime | None:
            return self.process_result_value(inner(value), dialect)

        return parse
