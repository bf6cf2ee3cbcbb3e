"""The business-hours SLA clock.

SLA targets count only the customer's business hours in the customer's timezone, skip holidays, and stand still
while a ticket waits for the customer. Everything here is a pure function of its arguments: ``now`` is always a
parameter, never ``datetime.now()``, so the clock is testable across DST changes and restarts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from psa_chatops.core.priorities import Priority

WARNING_THRESHOLDS: tuple[int, ...] = (75, 90)
BREACH_THRESHOLD = 100


class SlaTargetName(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly opening hours (Monday = index 0) as local (start, end) pairs, plus holidays, in one IANA timezone.

    An end of ``time(0, 0)`` means midnight at the end of that day.
    """

    timezone: str = "Europe/Berlin"
    weekly: tuple[tuple[tuple[time, time], ...], ...] = (
        ((time(8), time(17)),),
        ((time(8), time(17)),),
        ((time(8), time(17)),),
        ((time(8), time(17)),),
        ((time(8), time(17)),),
        (),
        (),
    )
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:  # hashed once: every SLA computation looks its days up by calendar
        object.__setattr__(self, "_hash", hash((self.timezone, self.weekly, self.holidays)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined,no-any-return]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def around_the_clock(cls, timezone: str = "UTC") -> BusinessCalendar:
        return _around_the_clock(timezone)


@dataclass(frozen=True)
class SlaTarget:
    first_response: timedelta
    resolution: timedelta

    def for_name(self, name: SlaTargetName) -> timedelta:
        return self.first_response if name is SlaTargetName.FIRST_RESPONSE else self.resolution


@dataclass(frozen=True)
class SlaPolicy:
    """Targets per priority; priorities in ``around_the_clock`` count calendar time, not business hours."""

    id: str
    name: str
    targets: Mapping[Priority, SlaTarget]
    around_the_clock: frozenset[Priority] = field(default_factory=frozenset)

    def target(self, priority: Priority) -> SlaTarget:
        return self.targets[priority]

    def calendar_for(self, priority: Priority, calendar: BusinessCalendar) -> BusinessCalendar:
        if priority in self.around_the_clock:
            return BusinessCalendar.around_the_clock(calendar.timezone)
        return calendar


@functools.lru_cache(maxsize=64)  # one object per timezone: the SLA caches then match it by identity
def _around_the_clock(timezone: str) -> BusinessCalendar:
    day = ((time(0), time(0)),)
    return BusinessCalendar(timezone=timezone, weekly=(day,) * 7, holidays=frozenset())


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the SLA clock needs timezone-aware datetimes")
    return moment


@functools.lru_cache(maxsize=4096)  # the same few days, for every ticket of a customer
def _open_intervals(day: date, calendar: BusinessCalendar) -> tuple[tuple[datetime, datetime], ...]:
    """The day's opening intervals as aware UTC datetimes (empty on holidays and closed days)."""
    if day in calendar.holidays:
        return ()
    zone = calendar.zone
    intervals = []
    for start, end in calendar.weekly[day.weekday()]:
        local_start = datetime.combine(day, start, tzinfo=zone)
        end_day = day + timedelta(days=1) if end == time(0) else day
        local_end = datetime.combine(end_day, end, tzinfo=zone)
        start_utc, end_utc = local_start.astimezone(UTC), local_end.astimezone(UTC)
        if end_utc > start_utc:
            intervals.append((start_utc, end_utc))
    return tuple(intervals)


def business_seconds_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> float:
    """Business seconds in [start, end); 0 when end <= start."""
    start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
    if end <= start:
        return 0.0
    zone = calendar.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        for open_at, close_at in _open_intervals(day, calendar):
            lo, hi = max(open_at, start), min(close_at, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


_MAX_SEARCH_DAYS = 3 * 366


@functools.lru_cache(maxsize=1024)  # tickets opened together (an alert batch) share start, target and calendar
def add_business_seconds(start: datetime, seconds: float, calendar: BusinessCalendar) -> datetime:
    """The earliest moment at which ``seconds`` business seconds have passed since ``start``."""
    start = _aware(start).astimezone(UTC)
    remaining = max(0.0, seconds)
    zone = calendar.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    for _ in range(_MAX_SEARCH_DAYS):
        for open_at, close_at in _open_intervals(day, calendar):
            lo = max(open_at, start)
            if close_at <= lo:
                continue
            available = (close_at - lo).total_seconds()
            if remaining <= available:
                return lo + timedelta(seconds=remaining)
            remaining -= available
        day += timedelta(days=1)
    raise ValueError("the business calendar has no opening hours in the next three years")
