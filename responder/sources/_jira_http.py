"""The one way the Jira connector talks to Jira: Basic auth (email + API token) on paths under base_url only,
and what each status means as a SourceError. No retries or waits here: the core retries transient errors."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from responder.errors import SourceError
from responder.http import READ_ONLY, retry_after_seconds
from responder.secret import Secret

# RateLimit-Reason values are Atlassian's own words ("jira-burst-based", "jira-per-issue-on-write"): anything
# else in that header is not repeated.
_REASON = re.compile(r"jira-[a-z-]{1,48}")


class JiraHttp:
    """Sends requests for one configured Jira site. The Authorization header is built per request from the
    Secret, so no plain string holding the token outlives a call; it is sent only with paths under the client's
    base_url (the client follows no redirect)."""

    def __init__(
        self,
        source: str,
        client: httpx.Client,
        email: str,
        token: Secret,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._client = client
        self._email = email
        self._token = token
        self._clock = clock

    def __repr__(self) -> str:
        return f"JiraHttp({self._source!r}, host={self.host!r})"

    @property
    def host(self) -> str:
        return self._client.base_url.host

    def send(
        self,
        method: str,
        path: str,
        *,
        step: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        read_only: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """`step` names the operation in errors (never a URL with a query, never a body)."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError("the Jira connector only calls paths under base_url")
        sent = {"Accept": "application/json", **(headers or {}), "Authorization": self._basic()}
        request = self._client.build_request(
            method,
            path,
            params=params,
            json=json,
            files=files,
            headers=sent,
            extensions=READ_ONLY if read_only else None,
        )
        try:
            return self._client.send(request, stream=stream)
        except httpx.TimeoutException:
            raise self.unreachable(step, "Jira did not answer in time") from None
        except httpx.TransportError as exc:
            raise self.unreachable(step, f"cannot reach {self.host} ({type(exc).__name__})") from None

    def unreachable(self, step: str, what: str) -> SourceError:
        return SourceError(f"{self._source}: {step}: {what}", transient=True)

    def _basic(self) -> str:
        pair = f"{self._email}:{self._token.reveal()}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def failure(self, response: httpx.Response, step: str, *, permission: str = "") -> SourceError:
        """The SourceError for an answer the caller did not expect. Only the status and Jira's rate-limit
        reason are repeated: a body can echo what was sent."""
        code = response.status_code
        prefix = f"{self._source}: {step}: HTTP {code}"
        if code in (408, 429) or code >= 500:
            reason = response.headers.get("ratelimit-reason", "").strip()
            why = f" (RateLimit-Reason: {reason})" if _REASON.fullmatch(reason) else ""
            busy = "rate limited by Jira" if code == 429 else "Jira is unavailable for now"
            return SourceError(f"{prefix}: {busy}{why}", transient=True, retry_after=self.retry_after(response))
        if code == 401:
            return SourceError(
                f"{prefix}: Jira refused responder's credentials (wrong email or api_token, or the token was "
                "revoked or expired)"
            )
        if code == 403:
            need = f": grant it {permission}" if permission else ""
            return SourceError(f"{prefix}: responder's Jira account lacks the permission{need}")
        if 300 <= code < 400:
            return SourceError(f"{prefix}: Jira answered with a redirect, which responder never follows")
        return SourceError(f"{prefix}: Jira refused the request")

    def retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait: Retry-After (seconds or an HTTP date), else X-RateLimit-Reset, which Atlassian
        sends as an ISO 8601 timestamp (yyyy-MM-ddTHH:mmZ), not epoch seconds."""
        now = self._clock()
        seconds = retry_after_seconds(response, now)
        if seconds is not None:
            return seconds
        reset = response.headers.get("x-ratelimit-reset", "").strip()
        try:
            when = datetime.fromisoformat(reset) if reset else None
        except ValueError:
            return None
        if when is None:
            return None
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
