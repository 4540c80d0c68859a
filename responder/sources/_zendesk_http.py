"""The one way the Zendesk connector talks to Zendesk: `ZendeskApi.send` (the account's API, with responder's
API token) and `ZendeskApi.fetch` (an attachment's bytes, with no credential at all). Statuses get their meaning
here; pacing before a call happens here; nothing is ever retried here (the core retries transient errors)."""

from __future__ import annotations

import base64
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from responder.errors import AttachmentGone, AttachmentTooLarge, SourceError
from responder.secret import Secret
from responder.sources._zendesk_settings import AttachmentHosts

Clock = Callable[[], float]
Sleep = Callable[[float], None]

_TRANSIENT = frozenset({408, 425, 429})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


def basic_credentials(email: str, api_token: Secret) -> Secret:
    """The Authorization header value for an API token: Basic base64("{email}/token:{api_token}")."""
    raw = f"{email}/token:{api_token.reveal()}".encode()
    return Secret("Basic " + base64.b64encode(raw).decode("ascii"))


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds Zendesk asks us to wait: Retry-After (seconds or an HTTP date), else `ratelimit-reset` (seconds
    until the per-minute window resets; unlike Okta's X-Rate-Limit-Reset it is not an epoch)."""
    value = (response.headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, (parsedate_to_datetime(value) - (now or datetime.now(UTC))).total_seconds())
        except (TypeError, ValueError):
            pass
    reset = (response.headers.get("ratelimit-reset") or "").strip()
    return float(reset) if reset.isdigit() else None


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what an error may name. Never the path, which can be a download token."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}" if host else "(no host)"


class ExportPacer:
    """At most `per_minute` incremental-export calls in any 60 seconds (Zendesk's own limit for that endpoint,
    apart from the account's), by waiting before a call. Shared by the threads of one source."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, clock: Clock, sleep: Sleep) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until one more export call fits; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.WINDOW:
                    self._starts.popleft()
                if len(self._starts) < self._per_minute:
                    self._starts.append(now)
                    return waited
                hold = self.WINDOW - (now - self._starts[0])
            self._sleep(hold)
            waited += hold


READ_TRIES = 3  # a GET answered 429 is sent again after the wait, this many times in all


WINDOW_SECONDS = 60  # Zendesk's rate limits are per minute


class AccountWindow:
    """Zendesk's account-wide per-minute limit, as its answers describe it (`X-Rate-Limit-Remaining`,
    `ratelimit-reset`): once none are left, the next call waits for the window to reset instead of earning a
    429. A wait longer than `max_wait` is not taken: SourceError(transient) hands it to the core."""

    def __init__(self, clock: Clock, sleep: Sleep, max_wait: float) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._left: int | None = None
        self._reset_at = 0.0
        self._longest_reset = 0.0  # the longest reset an answer has named: the window's length, as far as told
        self._in_flight = 0
        self._lock = threading.Lock()

    def before_call(self, where: str) -> None:
        with self._lock:
            now = self._clock()
            if self._left is not None and now >= self._reset_at:
                self._left = None  # a new window: the next answer tells how much of it is left
            hold = self._reset_at - now if self._left is not None and self._left <= 0 else 0.0
            if hold > self._max_wait:
                raise SourceError(
                    f"{where}: Zendesk's rate limit is used up for {math.ceil(hold)} s",
                    transient=True,
                    retry_after=hold,
                )
            if self._left is not None:
                self._left -= 1
            self._in_flight += 1
        if hold > 0:
            self._sleep(hold)

    def after_answer(self, response: httpx.Response | None) -> None:
        """`None`: the call failed without an answer (it is no longer in flight)."""
        remaining = (response.headers.get("x-rate-limit-remaining") or "").strip() if response else ""
        wait = retry_after(response) if response is not None and response.status_code == 429 else None
        reset = (response.headers.get("ratelimit-reset") or "").strip() if response else ""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            now = self._clock()
            if wait is not None:
                self._left, self._reset_at = 0, now + wait
            elif remaining.isdigit():
                # Answers arrive out of order while other calls are in flight: within a window, keep the lower
                # estimate, less the calls not yet answered (a stale, higher count would earn a 429). A window's
                # end is taken from its first answer and not moved; after it, the next answer starts afresh.
                # Only some endpoints say when the window resets; other answers give the count alone, and then
                # the window is taken to last as long as the longest reset seen (a minute until one is seen:
                # Zendesk's limits are per minute): waiting a little too long beats a 429.
                left = int(remaining) - self._in_flight
                if reset.isdigit():
                    self._longest_reset = min(float(WINDOW_SECONDS), max(self._longest_reset, float(reset)))
                if self._left is None or now >= self._reset_at:
                    seconds = int(reset) if reset.isdigit() else (self._longest_reset or WINDOW_SECONDS)
                    self._left, self._reset_at = left, now + seconds
                else:
                    self._left = min(self._left, left)


class ZendeskApi:
    """responder's calls to one Zendesk account. `send` targets paths on base_url only (never a URL from an
    answer or a payload), with responder's credentials; `fetch` takes attachment bytes from allowed hosts with
    no credential, following at most one redirect, itself checked."""

    def __init__(
        self,
        source: str,
        base_url: str,
        client: httpx.Client,
        authorization: Secret,
        attachment_hosts: AttachmentHosts,
        window: AccountWindow,
    ) -> None:
        self._source = source
        self._base = base_url
        self._client = client
        self._authorization = authorization
        self._hosts = attachment_hosts
        self._window = window

    def __repr__(self) -> str:
        return f"ZendeskApi({self._source!r}, {self._base!r})"

    @property
    def base_url(self) -> str:
        return self._base

    def send(
        self,
        method: str,
        path: str,
        step: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        content: BinaryIO | bytes | None = None,
        content_type: str | None = None,
        gone: str | None = None,
        ok: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """One API call. `step` says what it was for in any error. A 2xx, or a status in `ok`, is returned;
        `gone` (what is missing, e.g. "attachment 5") makes a 404 AttachmentGone; any other answer raises."""
        if not path.startswith("/api/v2/"):
            raise ValueError("only the account's /api/v2 is ever called with credentials")
        headers = {"Accept": "application/json", "Authorization": self._authorization.reveal()}
        if content_type:
            headers["Content-Type"] = content_type
        where = f"{self._source}: {step}"
        # A read that meets the account's limit (other integrations share it) waits out the short Retry-After
        # here and goes again, instead of failing a whole sweep page; a long one goes up to the core.
        for attempt in range(1, READ_TRIES + 1):
            self._window.before_call(where)
            try:
                response = self._client.request(
                    method, self._base + path, params=params, json=json, content=content, headers=headers
                )
            except httpx.TimeoutException as exc:
                self._window.after_answer(None)
                raise SourceError(f"{where}: {type(exc).__name__} from {origin(self._base)}", transient=True) from None
            except httpx.TransportError as exc:
                self._window.after_answer(None)
                raise SourceError(
                    f"{where}: cannot reach {origin(self._base)} ({type(exc).__name__})", transient=True
                ) from None
            self._window.after_answer(response)
            if response.status_code != 429 or method != "GET" or attempt == READ_TRIES:
                break
        if 200 <= response.status_code < 300 or response.status_code in ok:
            return response
        raise failure(response, where, gone=gone)

    def json(self, response: httpx.Response, step: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceError(
                f"{self._source}: {step}: Zendesk's answer is not a JSON object (HTTP {response.status_code})"
            )
        return body

    def fetch(self, url: str, what: str, max_bytes: int, out: BinaryIO) -> int:
        """Stream an attachment's bytes into `out` from `url` (its content_url); AttachmentTooLarge past
        `max_bytes`. Zendesk keeps end users' uploads private: a content_url on the account's own host is
        asked with responder's API token, and answers with a redirect to a short-lived download link. Only that
        host ever sees the token: a content_url elsewhere, and the redirect's target, are asked with no
        Authorization and no cookie. One redirect is followed, to an allowed host other than the account's own
        (a redirect back to the account is a sign-in page, not the file)."""
        where = f"{self._source}: download {what}"
        self._check_host(url, where)
        with self._get(url, where, signed_in=origin(url) == origin(self._base)) as response:
            if response.status_code not in _REDIRECTS:
                return self._stream(response, where, what, max_bytes, out)
            target = urljoin(url, response.headers.get("location", ""))
        self._check_host(target, where)
        if origin(target) == origin(self._base):
            raise SourceError(
                f"{where}: the download link sends back to the account ({origin(target)}), a sign-in page, not the "
                "file: check that responder's Zendesk user may see this ticket"
            )
        with self._get(target, where) as response:
            if response.status_code in _REDIRECTS:
                raise SourceError(
                    f"{where}: a second redirect (to {origin(response.headers.get('location', ''))}): not followed"
                )
            return self._stream(response, where, what, max_bytes, out)

    def _check_host(self, url: str, where: str) -> None:
        if not self._hosts.allows(url):
            raise SourceError(
                f"{where}: the file is hosted at {origin(url)}, which is not in attachment_hosts: not fetched"
            )

    @contextmanager
    def _get(self, url: str, where: str, *, signed_in: bool = False) -> Iterator[httpx.Response]:
        # A fresh header set: responder's Authorization only when `signed_in` (the account's own host, checked
        # by the caller); the client keeps no cookies.
        headers = {"Accept": "*/*"}
        if signed_in:
            headers["Authorization"] = self._authorization.reveal()
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                yield response
        except httpx.TimeoutException as exc:
            raise SourceError(f"{where}: {type(exc).__name__} from {origin(url)}", transient=True) from None
        except httpx.TransportError as exc:
            raise SourceError(f"{where}: cannot reach {origin(url)} ({type(exc).__name__})", transient=True) from None

    def _stream(self, response: httpx.Response, where: str, what: str, max_bytes: int, out: BinaryIO) -> int:
        if response.status_code in (404, 410):
            raise AttachmentGone(
                f"{where}: {what} no longer exists (HTTP {response.status_code} at {origin(str(response.url))})"
            )
        if response.status_code != 200:
            response.read()  # an error answer is small; its text is never shown, only its error word
            raise failure(response, f"{where} from {origin(str(response.url))}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise AttachmentTooLarge(f"{where}: {what} is {declared} bytes, over the {max_bytes}-byte limit")
        count = 0
        try:
            for chunk in response.iter_bytes(_CHUNK):
                count += len(chunk)
                if count > max_bytes:
                    raise AttachmentTooLarge(f"{where}: {what} is over the {max_bytes}-byte limit: not fetched further")
                out.write(chunk)
        except httpx.TimeoutException as exc:
            raise SourceError(f"{where}: {type(exc).__name__} while reading", transient=True) from None
        except httpx.TransportError as exc:
            raise SourceError(f"{where}: the download broke off ({type(exc).__name__})", transient=True) from None
        return count


def failure(response: httpx.Response, where: str, *, gone: str | None = None) -> SourceError:
    """What a non-2xx answer means. Messages hold the status, Zendesk's error code word and what was being
    done; never a URL path, a header value or the body's text."""
    code = response.status_code
    error = _error_code(response)
    said = f"HTTP {code}" + (f" {error}" if error else "")
    if code == 404 and gone is not None:
        return AttachmentGone(f"{where}: {gone} no longer exists ({said})")
    if code in _TRANSIENT or code >= 500:
        return SourceError(
            f"{where}: Zendesk is busy or failing ({said})", transient=True, retry_after=retry_after(response)
        )
    if code == 401:
        return SourceError(f"{where}: Zendesk refused responder's credentials ({said}): check email and api_token")
    if code == 403:
        return SourceError(
            f"{where}: responder's Zendesk user is not allowed to do this ({said}): see docs/sources/zendesk.md"
        )
    if code in _REDIRECTS:
        target = origin(response.headers.get("location", ""))
        return SourceError(
            f"{where}: Zendesk answered with a redirect to {target} ({said}): not followed; check base_url"
        )
    return SourceError(f"{where}: Zendesk refused ({said})")


def _error_code(response: httpx.Response) -> str:
    """Zendesk's `error` word (RecordNotFound, RecordInvalid, …), when it is one: never free text."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error.isalnum() and len(error) <= 40 else ""
