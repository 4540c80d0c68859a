"""The one place HTTP clients for identity providers are built, and HTTP statuses get their meaning."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from responder import __version__
from responder.errors import ResponderError
from responder.model import Outcome, OutcomeStatus

USER_AGENT = f"responder/{__version__} (+session-token revocation)"


# Pass as `extensions=READ_ONLY` on a POST that changes nothing (introspection, a search), so the dry-run
# guard lets it through. GET, HEAD and OPTIONS are always read-only.
READ_ONLY = {"responder.read_only": True}
# Pass as `extensions=MUTATING` on a GET that changes something (an OP's end_session_endpoint may log out on
# the GET itself), so the dry-run guard refuses it like any POST or DELETE.
MUTATING = {"responder.mutating": True}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_dry_run: ContextVar[bool] = ContextVar("responder_dry_run", default=False)


class DryRunViolation(ResponderError):
    """A plugin tried a mutating call while responder was rehearsing. A plugin bug, never sent."""


@contextmanager
def dry_run() -> Iterator[None]:
    """Within this block (in this thread), every mutating request is refused before it leaves the process."""
    token = _dry_run.set(True)
    try:
        yield
    finally:
        _dry_run.reset(token)


class _DryRunGuard(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, always: bool) -> None:
        self._inner = inner
        self._always = always

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        rehearsing = self._always or _dry_run.get()
        mutating = request.extensions.get("responder.mutating") or (
            request.method not in _SAFE_METHODS and not request.extensions.get("responder.read_only")
        )
        if rehearsing and mutating:
            # The host only: a path can carry a session id or a token (DELETE /api/v1/sessions/{sid}).
            raise DryRunViolation(f"dry run: refused a {request.method} to {request.url.host}")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class RateLimitPacer(httpx.BaseTransport):
    """Slows down before the 429. Okta (`X-Rate-Limit-*`) and Auth0 (`X-RateLimit-*`) say how many calls a
    window allows, how many are left and when it resets; this keeps an estimate of the calls left, shared by
    every thread using the client (one client per provider instance), and holds new calls once none are left
    until the window resets. A 429 with Retry-After or a reset holds them too.

    - Calls still in flight when an answer arrives may be counted after it, so the estimate subtracts them.
    - When a window is over, the new one starts with the known limit (not "unknown"): threads held at the
      boundary go out up to the limit, not all at once. Until an answer tells when the new window ends, calls
      beyond the limit wait for that answer.
    - Answers from a window already over are ignored.
    - A hold longer than `max_hold` seconds is not waited out here: the call goes, the IdP answers 429 with its
      own reset, and the engine reschedules the action instead of parking a thread for minutes."""

    UNKNOWN_END_POLL = 0.02  # seconds between looks while waiting for an answer that dates the new window
    UNKNOWN_END_GIVE_UP = 2.0  # no answer at all by then (network errors): stop holding

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        max_hold: float = 65.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._max_hold = max_hold
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limit: int | None = None  # calls per window, once an answer said
        self._left: int | None = None  # calls left in the current window, as far as we know (None: no idea)
        self._end: float | None = None  # when the current window ends (our clock); None: not known yet
        self._over = 0.0  # end of the last window known to be over
        self._in_flight = 0
        self.held_seconds = 0.0  # total time calls were held, for benchmarks and logs

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._take_slot()
        try:
            response = self._inner.handle_request(request)
        except BaseException:
            with self._lock:
                self._in_flight -= 1
            raise
        with self._lock:
            self._in_flight -= 1
            self._observe(response)
        return response

    def _take_slot(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                if self._end is not None and now >= self._end:
                    self._over, self._end, self._left = self._end, None, self._limit  # a new window
                if self._end is None and self._left is not None and now - self._over > self.UNKNOWN_END_GIVE_UP:
                    self._left = None  # nothing answered about the new window: do not hold forever
                if self._left is None or self._left > 0:
                    if self._left is not None:
                        self._left -= 1
                    self._in_flight += 1
                    return
                hold = self.UNKNOWN_END_POLL if self._end is None else self._end - now
                if hold > self._max_hold:
                    self._in_flight += 1
                    return
            self.held_seconds += hold
            self._sleep(hold)

    def _observe(self, response: httpx.Response) -> None:
        """Update the estimate from one answer (called under the lock, this call no longer in flight)."""
        headers = response.headers
        remaining = headers.get("x-rate-limit-remaining") or headers.get("x-ratelimit-remaining")
        reset = headers.get("x-rate-limit-reset") or headers.get("x-ratelimit-reset")
        limit = headers.get("x-rate-limit-limit") or headers.get("x-ratelimit-limit")
        now = self._clock()
        if remaining and reset and remaining.strip().isdigit() and reset.strip().isdigit():
            if limit and limit.strip().isdigit():
                self._limit = int(limit)
            end = now + _seconds_until(int(reset), response, now) + 0.05  # never a hair early
            if end <= self._over + 0.5:
                return  # an answer from a window that is already over
            left = 0 if response.status_code == 429 else int(remaining) - self._in_flight
            if self._end is None or end > self._end + 0.5:
                self._end = end  # the first answer about a newer window
            # Both are estimates of the same thing (ours counts what we sent): trust the lower.
            self._left = left if self._left is None else min(self._left, left)
            return
        if response.status_code == 429:
            wait = retry_after_seconds(response)
            if wait is not None:
                self._left, self._end = 0, max(self._end or 0.0, now + wait)

    def close(self) -> None:
        self._inner.close()


def _seconds_until(reset_epoch: int, response: httpx.Response, now: float) -> float:
    """Seconds until the IdP's window resets. Our clock is trusted unless it disagrees with the answer's Date
    by more than a few seconds (then the IdP's clock is the reference): Date has only whole seconds."""
    date = response.headers.get("date")
    if date:
        try:
            their_now = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            their_now = now
        if abs(their_now - now) > 5:
            return max(0.0, reset_epoch - their_now)
    return max(0.0, reset_epoch - now)


def build_client(
    base_url: str,
    timeout_seconds: float = 20.0,
    *,
    always_dry_run: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The one way plugins get a client: no redirects (a redirect could carry a credential to another host),
    bounded timeouts, our User-Agent, the dry-run guard in front, and the IdP's rate-limit headers obeyed."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        cookies=_no_cookies(),
        transport=_DryRunGuard(RateLimitPacer(transport or httpx.HTTPTransport()), always_dry_run),
    )


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing: a Set-Cookie answer to a call made with a leaked session (a refreshed victim
    session) must never ride along on responder's later calls."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or X-Rate-Limit-Reset (epoch seconds)."""
    now = now or datetime.now(UTC)
    value = response.headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value.strip())
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("x-rate-limit-reset") or response.headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, int(reset) - now.timestamp())
    return None


def outcome_for_status(response: httpx.Response, *, target_gone: frozenset[int] = frozenset({404})) -> Outcome:
    """Default status meaning: 2xx done; `target_gone` (the token or session itself is unknown) already
    invalid; 408/425/429/5xx transient; any other 4xx permanent (our credentials or request are wrong)."""
    request_id = response.headers.get("x-request-id") or response.headers.get("x-okta-request-id") or ""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(OutcomeStatus.REVOKED, f"HTTP {code}", request_id)
    if code in target_gone:
        return Outcome(OutcomeStatus.ALREADY_INVALID, f"HTTP {code}: not found at the provider", request_id)
    if code in (408, 425, 429) or code >= 500:
        return Outcome(OutcomeStatus.FAILED_TRANSIENT, f"HTTP {code}", request_id, retry_after_seconds(response))
    meaning = {401: "responder's credentials were refused", 403: "responder lacks the permission"}.get(code, "refused")
    return Outcome(OutcomeStatus.FAILED_PERMANENT, f"HTTP {code}: {meaning}", request_id)
