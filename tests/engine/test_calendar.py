"""The digest's periods: the latest digest moment at or before now, and the one before it."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.engine.calendar import digest_period

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("now", "since", "until"),
    [
        # A Wednesday: the period ended on Monday at nine.
        (datetime(2026, 11, 25, 12, 0), datetime(2026, 11, 16, 9, 0), datetime(2026, 11, 23, 9, 0)),
        # Monday at nine exactly: the period ends now.
        (datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 16, 9, 0), datetime(2026, 11, 23, 9, 0)),
        # A minute before: the week before.
        (datetime(2026, 11, 23, 8, 59), datetime(2026, 11, 9, 9, 0), datetime(2026, 11, 16, 9, 0)),
    ],
)
def test_weekly_periods_end_on_monday_at_the_hour(
    now: datetime, since: datetime, until: datetime
) -> None:
    period = digest_period(now=now.replace(tzinfo=NEW_YORK), hour=9, weekly=True, tz=NEW_YORK)
    assert period == (since.replace(tzinfo=NEW_YORK), until.replace(tzinfo=NEW_YORK))


def test_a_daily_period_across_the_end_of_summer_time_is_25_hours() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=NEW_YORK)  # clocks went back at 02:00
    since, until = digest_period(now=now, hour=9, weekly=False, tz=NEW_YORK)
    assert (since.hour, until.hour) == (9, 9)
    assert (since.date().isoformat(), until.date().isoformat()) == ("2026-10-31", "2026-11-01")
    assert until.astimezone(UTC) - since.astimezone(UTC) == timedelta(hours=25)
