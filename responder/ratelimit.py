"""Per-provider-instance request pacing shared by every worker thread of a process.

Each instance gets evenly spaced slots (requests_per_second), and a Retry-After / rate-limit reset from
the IdP pushes every thread's next slot back, so threads slow down together instead of each hitting 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping


class RateLimiter:
    def __init__(
        self,
        rates: Mapping[str, float | None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = {name: 1.0 / rate for name, rate in rates.items() if rate}
        self._next_free: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self, instance: str, max_wait: float = float("inf")) -> float | None:
        """Wait for this instance's next slot and return the seconds waited; or, when that would take longer
        than `max_wait`, reserve nothing and return None (the caller reschedules instead of blocking)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_free.get(instance, now), self._paused_until.get(instance, now))
            wait = slot - now
            if wait > max_wait:
                return None
            self._next_free[instance] = slot + self._interval.get(instance, 0.0)
        if wait > 0:
            self._sleep(wait)
        return wait

    def wait_for(self, instance: str) -> float:
        """Seconds until this instance's next free slot: the IdP's back-off or the queue of reserved slots."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._next_free.get(instance, now) - now, self._paused_until.get(instance, now) - now)

    def pause(self, instance: str, seconds: float) -> None:
        """The IdP asked us to back off: no thread calls this instance for `seconds`."""
        with self._lock:
            until = self._clock() + seconds
            self._paused_until[instance] = max(self._paused_until.get(instance, until), until)
