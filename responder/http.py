"""The one place HTTP clients for identity providers are built, and HTTP statuses get their meaning."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from responder import __version__
from responder.model import Outcome, OutcomeStatus

USER_AGENT = f"responder/{__version__} (+session-token revocation)"


def build_client(base_url: str, timeout_seconds: float = 20.0) -> httpx.Client:
    """No redirects (a redirect could carry a credential to another host), bounded timeouts, our User-Agent."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
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
