"""Times as stored: on SQLite the text SQLAlchemy's own DATETIME writes, so rows written before
and after any change of ours compare and sort alike (``WHERE placed_at > ?`` compares text);
in JSON (event payloads, exports) ISO 8601 as ``isoformat()`` writes it."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from crm_graph.db.jsonable import plain
from crm_graph.db.types import UTCDateTime

DIALECT = sqlite.dialect()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2023, 6, 8, 14, 57, tzinfo=UTC),
        datetime(2026, 12, 6, 4, 5, 6, 7, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-3))),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_a_time_is_stored_as_sqlalchemys_datetime_stores_it_in_utc(value: datetime) -> None:
    ours = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    theirs = DATETIME().bind_processor(DIALECT)
    assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None


def test_a_naive_time_is_refused() -> None:
    ours = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "value",
    [
        datetime(2023, 6, 8, 14, 57, tzinfo=UTC),
        datetime(2026, 12, 6, 4, 5, 6, 7, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2026, 1, 2, 3, 4, 5, 600_000),
    ],
)
def test_a_time_in_json_reads_as_iso_8601(value: datetime) -> None:
    assert plain(value) == value.isoformat()
