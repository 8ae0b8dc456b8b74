"""Working hours in a person's own time zone, and the digest's periods."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone(name: str | None, *, fallback: str = "UTC") -> ZoneInfo:
    """A time zone by IANA name; an unknown or empty name gives the fallback."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@dataclass(frozen=True)
class WorkingHours:
    """Working days and the hours of each, the same in every zone."""

    start_hour: int = 9
    end_hour: int = 17
    days: frozenset[int] = frozenset(range(5))  # Monday is 0

    @classmethod
    def parse(cls, *, start_hour: int, end_hour: int, days: str) -> "WorkingHours":
        """From settings: hours and a comma-separated list of day names (`mon,tue,…`)."""
        numbers = {
            _DAY_NAMES.index(day.strip().lower()[:3])
            for day in days.split(",")
            if day.strip().lower()[:3] in _DAY_NAMES
        }
        return cls(
            start_hour=start_hour, end_hour=max(end_hour, start_hour + 1), days=frozenset(numbers)
        )

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        """Whether the moment falls inside working hours in that zone."""
        local = moment.astimezone(tz)
        return local.weekday() in self.days and self.start_hour <= local.hour < self.end_hour

    def elapsed(self, start: datetime, end: datetime, tz: ZoneInfo) -> timedelta:
        """Working time between two moments, counted in that zone."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(tz).date()
        last = end.astimezone(tz).date()
        while day <= last:
            if day.weekday() in self.days:
                opens = datetime.combine(day, time(self.start_hour), tzinfo=tz)
                closes = (
                    datetime.combine(day, time(self.end_hour), tzinfo=tz)
                    if self.end_hour < 24
                    else datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                )
                overlap = min(closes, end) - max(opens, start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


def digest_period(
    *, now: datetime, hour: int, weekly: bool, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """The digest period ending at the latest digest moment at or before `now` (daily, or
    Mondays, at `hour` in `tz`), as (start, end); a digest missed while nothing ran is late."""
    trigger = CronTrigger(day_of_week="mon" if weekly else "*", hour=hour, timezone=tz)
    # The window holds at least two digest moments before `now`: keep the last two.
    moment = trigger.get_next_fire_time(None, now - timedelta(days=15 if weekly else 3))
    reached: list[datetime] = []
    while moment is not None and moment <= now:
        reached.append(moment)
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    start, end = reached[-2:]
    return start, end
