"""The HTTP client slows down on the IdP's rate-limit headers before it gets a 429."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from email.utils import formatdate

import httpx

from responder.http import RateLimitPacer


class FixedWindowIdP:
    """Okta-style fixed window: `limit` calls per `window` seconds, X-Rate-Limit-* on every answer."""

    def __init__(self, clock: Callable[[], float], limit: int, window: float = 1.0) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self.counts: dict[int, int] = {}
        self.rejected = 0
        self.accepted = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            now = self.clock()
            index = int(now // self.window)
            used = self.counts.get(index, 0) + 1
            self.counts[index] = used
            reset = math.ceil((index + 1) * self.window)  # whole seconds, never before the real end
            headers = {
                "X-Rate-Limit-Limit": str(self.limit),
                "X-Rate-Limit-Remaining": str(max(0, self.limit - used)),
                "X-Rate-Limit-Reset": str(reset),
            }
            if used > self.limit:
                self.rejected += 1
                return httpx.Response(429, headers=headers)
            self.accepted += 1
            return httpx.Response(204, headers=headers)


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_calls_stop_when_the_window_is_spent_and_resume_when_it_resets() -> None:
    clock = Clock()
    idp = FixedWindowIdP(clock, limit=5)
    pacer = RateLimitPacer(httpx.MockTransport(idp), clock=clock, sleep=clock.sleep)
    client = httpx.Client(transport=pacer, base_url="https://idp.example")
    for _ in range(23):
        client.delete("/api/v1/users/x/sessions")
    assert idp.rejected == 0
    assert idp.accepted == 23
    # 23 calls at 5 per window: four holds, each until the next window starts
    assert len(clock.slept) == 4
    assert all(0 < s <= 1.1 for s in clock.slept)


def test_a_429_with_a_reset_holds_the_next_call_until_then() -> None:
    clock = Clock()
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(204),
        ]
    )
    pacer = RateLimitPacer(httpx.MockTransport(lambda r: next(answers)), clock=clock, sleep=clock.sleep)
    client = httpx.Client(transport=pacer, base_url="https://idp.example")
    assert client.post("/x").status_code == 429
    assert client.post("/x").status_code == 204
    assert clock.slept == [7.0]


def test_a_hold_longer_than_the_cap_is_left_to_the_engine() -> None:
    clock = Clock()
    reset = str(int(clock.now) + 3600)
    answers = iter(
        [
            httpx.Response(204, headers={"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": reset}),
            httpx.Response(429, headers={"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": reset}),
        ]
    )
    pacer = RateLimitPacer(httpx.MockTransport(lambda r: next(answers)), clock=clock, sleep=clock.sleep)
    client = httpx.Client(transport=pacer, base_url="https://idp.example")
    client.get("/a")
    assert client.get("/b").status_code == 429  # sent at once: the engine reschedules on the 429's reset
    assert clock.slept == []


def test_auth0_style_headers_count_too() -> None:
    clock = Clock()
    reset = str(int(clock.now) + 2)
    answers = iter(
        [
            httpx.Response(200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}),
            httpx.Response(200),
        ]
    )
    pacer = RateLimitPacer(httpx.MockTransport(lambda r: next(answers)), clock=clock, sleep=clock.sleep)
    client = httpx.Client(transport=pacer, base_url="https://tenant.example")
    client.get("/api/v2/users/a")
    client.get("/api/v2/users/b")
    assert len(clock.slept) == 1
    assert 1.9 < clock.slept[0] < 2.2


def test_a_skewed_clock_is_corrected_by_the_answers_date() -> None:
    clock = Clock()
    # The IdP's clock is 100 s behind ours: its reset, read on our clock, would already have passed.
    their_now = int(clock.now) - 100
    headers = {
        "Date": formatdate(their_now, usegmt=True),
        "X-Rate-Limit-Remaining": "0",
        "X-Rate-Limit-Reset": str(their_now + 10),
    }
    answers = iter([httpx.Response(204, headers=headers), httpx.Response(204)])
    pacer = RateLimitPacer(httpx.MockTransport(lambda r: next(answers)), clock=clock, sleep=clock.sleep)
    client = httpx.Client(transport=pacer, base_url="https://idp.example")
    client.get("/a")
    client.get("/b")
    assert len(clock.slept) == 1
    assert 9.9 < clock.slept[0] < 10.2


def test_threads_share_one_budget_and_none_is_rejected() -> None:
    """Real threads against a real clock: 8 threads, 20 calls per 0.25 s window, 120 calls."""
    idp = FixedWindowIdP(time.time, limit=20, window=0.25)
    # The reset header has whole seconds, so this IdP's windows are read as ending at the next second: the
    # pacer waits longer than needed but never sends early.
    pacer = RateLimitPacer(httpx.MockTransport(idp))
    client = httpx.Client(transport=pacer, base_url="https://idp.example")

    def worker() -> None:
        for _ in range(15):
            client.delete("/s")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert idp.accepted + idp.rejected == 120
    # A window's first calls go out before any answer says how many are allowed; from then on, threads held at
    # a window's end go out up to the limit, so rejections stay at the first burst's at most (0 in practice).
    assert idp.rejected <= 8
