"""When scheduled work runs: "every <n><s|m|h|d>" or a 5-field cron expression, in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

_EVERY = re.compile(r"every\s+(\d+)\s*([smhd])", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = timedelta(minutes=1)  # a sweep more often than this would spend the ticketing API on nothing


@dataclass(frozen=True, slots=True)
class Schedule:
    text: str
    interval: timedelta | None  # None: `text` is a cron expression

    def next_after(self, when: datetime) -> datetime:
        if self.interval is not None:
            return when + self.interval
        following: datetime = croniter(self.text, when).get_next(datetime)
        return following


def parse_schedule(text: str) -> Schedule:
    """Raises ValueError with a message that says what is accepted."""
    text = text.strip()
    every = _EVERY.fullmatch(text)
    if every:
        interval = timedelta(seconds=int(every.group(1)) * _UNIT[every.group(2).lower()])
        if interval < MIN_INTERVAL:
            raise ValueError(f"{text!r} is more often than once a minute")
        return Schedule(text, interval)
    if len(text.split()) == 5 and croniter.is_valid(text):
        return Schedule(text, None)
    raise ValueError(f'{text!r} is neither "every <n>m|h|d" nor a 5-field cron expression (e.g. "0 */2 * * *")')
