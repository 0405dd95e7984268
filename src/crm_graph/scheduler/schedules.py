"""When a periodic job runs next: a cron expression (UTC) or a fixed interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter


@dataclass(frozen=True)
class Schedule:
    """``cron`` (five fields, UTC) or ``every``; ``text`` is what ``scheduledJobs`` shows."""

    cron: str | None = None
    every: timedelta | None = None

    @classmethod
    def of(cls, schedule: str | timedelta) -> Schedule:
        """A cron expression such as ``"0 3 * * *"``, or a ``timedelta`` interval."""
        if isinstance(schedule, timedelta):
            if schedule <= timedelta(0):
                raise ValueError(f"interval {schedule} must be positive")
            return cls(every=schedule)
        if not croniter.is_valid(schedule):
            raise ValueError(f"{schedule!r} is not a cron expression")
        return cls(cron=schedule)

    @property
    def text(self) -> str:
        if self.every is not None:
            return f"every {self.every.total_seconds():g}s"
        return str(self.cron)

    def first(self, now: datetime) -> datetime:
        """The first run of a job declared at ``now``."""
        if self.every is not None:
            return now + self.every
        return croniter(self.cron, now).get_next(datetime)

    def after(self, due: datetime, now: datetime) -> datetime:
        """The next run after the one due at ``due``, later than ``now``: runs missed while
        no server ran are skipped, not made up one after another. Intervals keep their grid."""
        if self.every is not None:
            missed = math.floor((now - due) / self.every) if now > due else 0
            return due + self.every * (missed + 1)
        return croniter(self.cron, max(due, now)).get_next(datetime)
