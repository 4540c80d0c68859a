"""Sweep schedules: "every <n><unit>" or a 5-field cron expression, in UTC; anything else is refused at load
with a message saying what is accepted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from responder.errors import ConfigError
from responder.schedule import parse_schedule
from responder.settings import SourceConfig

NOON = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("every 1h", timedelta(hours=1)),
        ("every 90s", timedelta(seconds=90)),
        ("EVERY 15 m", timedelta(minutes=15)),
        ("  every 2d ", timedelta(days=2)),
    ],
)
def test_an_interval_runs_that_long_after_the_last_sweep(text: str, interval: timedelta) -> None:
    schedule = parse_schedule(text)
    assert schedule.interval == interval
    assert schedule.next_after(NOON) == NOON + interval


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("0 */2 * * *", NOON, NOON + timedelta(hours=2)),
        ("30 3 * * *", NOON, datetime(2026, 11, 30, 3, 30, tzinfo=UTC)),
        ("*/15 * * * *", NOON + timedelta(minutes=1), NOON + timedelta(minutes=15)),
        ("0 9 * * 1", NOON, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),  # 29 Nov 2026 is a Sunday
    ],
)
def test_a_cron_expression_runs_at_its_next_time_in_utc(text: str, after: datetime, expected: datetime) -> None:
    schedule = parse_schedule(text)
    assert schedule.interval is None
    assert schedule.next_after(after) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("every 30s", "more often than once a minute"),
        ("every 0m", "more often than once a minute"),
        ("hourly", "neither"),
        ("every 1w", "neither"),
        ("61 * * * *", "neither"),
        ("* * * *", "neither"),
        ("0 0 * * * *", "neither"),  # six fields (seconds) are not taken
        ("", "neither"),
    ],
)
def test_anything_else_is_refused_with_what_is_accepted(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_schedule(text)


def test_a_bad_schedule_is_a_configuration_error_naming_the_source() -> None:
    with pytest.raises((ConfigError, ValueError), match="neither"):
        SourceConfig.model_validate({"name": "desk", "plugin": "folder", "schedule": "sometimes"})
