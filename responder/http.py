"""The one place HTTP clients for identity providers are built, and HTTP statuses get their meaning."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from responder import __version__
from responder.errors import ResponderError
from responder.model import Outcome, OutcomeStatus

USER_AGENT = f"responder/{__version__} (+session-token revocation)"


# Pass as `extensions=READ_ONLY` on a POST that changes nothing (introspection, a search), so the dry-run
# guard lets it through. GET, HEAD and OPTIONS are always read-only.
READ_ONLY = {"responder.read_only": True}
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
        if rehearsing and request.method not in _SAFE_METHODS and not request.extensions.get("responder.read_only"):
            raise DryRunViolation(f"dry run: refused {request.method} {request.url.path}")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def build_client(
    base_url: str,
    timeout_seconds: float = 20.0,
    *,
    always_dry_run: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The one way plugins get a client: no redirects (a redirect could carry a credential to another host),
    bounded timeouts, our User-Agent, and the dry-run guard in front of the network."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=_DryRunGuard(transport or httpx.HTTPTransport(), always_dry_run),
    )


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
