"""The one retry policy for calls to a ticketing source: transient SourceErrors (429, 5xx, timeouts) are tried
again after the source's Retry-After, or an exponential backoff with jitter; anything else goes up at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from responder.errors import SourceError

T = TypeVar("T")
_backoff = wait_random_exponential(multiplier=0.5, max=30)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, SourceError) and exc.transient


def _wait(state: RetryCallState, ceiling: float) -> float:
    exc = state.outcome.exception() if state.outcome else None
    said = exc.retry_after if isinstance(exc, SourceError) else None
    return min(ceiling, said if said is not None else _backoff(state))


def retrying(attempts: int = 6, max_wait: float = 120.0, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    return Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        wait=lambda state: _wait(state, max_wait),
        sleep=sleep,
        reraise=True,
    )


def call(fn: Callable[[], T], *, attempts: int = 6, sleep: Callable[[float], None] = time.sleep) -> T:
    """`fn()` under the policy; the last transient error goes up when the attempts are spent."""
    return retrying(attempts, sleep=sleep)(fn)
