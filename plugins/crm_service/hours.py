"""Business hours: a calendar (time zone, weekly opening hours, holidays) and arithmetic on it.
No database here.

Times in and out are aware UTC datetimes; the walk happens on the calendar's local dates, so a
target spanning a daylight-saving change counts the hours the office was really open (a
09:00-17:00 day is 8 hours on either side of the change).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
# How far ahead a deadline is looked for: a calendar open one hour a year still finds it.
HORIZON_DAYS = 3 * 366


class CalendarError(ValueError):
    """A calendar that cannot be used; ``field`` names the part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Calendar:
    """``hours[weekday]`` (0 = Monday) lists that day's opening intervals as local wall-clock
    minutes since midnight (``(540, 1020)`` is 09:00-17:00; 1440 is the day's end)."""

    zone: str
    hours: Mapping[int, Sequence[tuple[int, int]]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def opening(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals (UTC) from ``start``'s local day on, in order, clipped to start."""
        tz = self.tz
        day = start.astimezone(tz).date()
        for offset in range(HORIZON_DAYS):
            current = day + timedelta(days=offset)
            if current in self.holidays:
                continue
            midnight = datetime.combine(current, time(0), tzinfo=tz)
            for begin, end in self.hours.get(current.weekday(), ()):
                # Wall-clock arithmetic on the local day, then UTC: an 8-hour day stays 8 hours
                # on the day after a daylight-saving change.
                a = (midnight + timedelta(minutes=begin)).astimezone(UTC)
                b = (midnight + timedelta(minutes=end)).astimezone(UTC)
                if b > start:
                    yield max(a, start), b


def add(calendar: Calendar, start: datetime, seconds: float) -> datetime:
    """The moment ``seconds`` of business time after ``start`` (``start`` itself for 0)."""
    left = timedelta(seconds=seconds)
    if left <= timedelta(0):
        return start
    for a, b in calendar.opening(start):
        if left <= b - a:
            return a + left
        left -= b - a
    raise CalendarError("the calendar has no business hours ahead", "hours")


def between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Seconds of business time from ``start`` to ``end`` (0 when ``end`` is not later)."""
    total = timedelta(0)
    if end <= start:
        return 0.0
    for a, b in calendar.opening(start):
        if a >= end:
            break
        total += min(b, end) - a
    return total.total_seconds()


def parse(zone: str, weekly: Mapping[str, Sequence[str]], holidays: Sequence[str]) -> Calendar:
    """A calendar from its stored or given form: ``{"MONDAY": ["09:00-12:00", "13:00-17:00"]}``
    and ISO dates; :class:`CalendarError` names what is wrong."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"unknown time zone {zone!r}", "timeZone") from exc
    hours: dict[int, list[tuple[int, int]]] = {}
    for name, spans in weekly.items():
        if name not in WEEKDAYS:
            raise CalendarError(f"{name!r} is not a weekday ({', '.join(WEEKDAYS)})", "hours")
        day = []
        for span in spans:
            try:
                begin, end = (_minutes(part) for part in span.split("-"))
            except ValueError as exc:
                raise CalendarError(f"{span!r} is not HH:MM-HH:MM", "hours") from exc
            if end <= begin:
                raise CalendarError(f"{span!r} ends before it begins", "hours")
            day.append((begin, end))
        day.sort()
        if any(day[i][1] > day[i + 1][0] for i in range(len(day) - 1)):
            raise CalendarError(f"the hours of {name} overlap", "hours")
        hours[WEEKDAYS.index(name)] = day
    if not any(hours.values()):
        raise CalendarError("a calendar needs at least one open interval", "hours")
    try:
        days = frozenset(date.fromisoformat(d) for d in holidays)
    except ValueError as exc:
        raise CalendarError("holidays are ISO dates (2026-12-25)", "holidays") from exc
    return Calendar(zone, hours, days)


def _minutes(text: str) -> int:
    """``"09:30"`` as 570; ``"24:00"`` (the end of the day) as 1440."""
    text = text.strip()
    if text == "24:00":
        return 1440
    moment = time.fromisoformat(text)
    if len(text) != 5 or moment.second or moment.microsecond:
        raise ValueError(text)
    return moment.hour * 60 + moment.minute


def weekly(calendar: Calendar) -> dict[str, list[str]]:
    """The calendar's hours in their stored and shown form."""
    return {
        WEEKDAYS[day]: [f"{_clock(a)}-{_clock(b)}" for a, b in spans]
        for day, spans in sorted(calendar.hours.items())
        if spans
    }


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
