"""Test doubles for responder's own tests and for plugin authors: a local fake identity provider that speaks
HTTP and counts what it is asked, and the `fake` provider plugin that talks to it.

The plugin is registered through the real entry-point group (`responder.providers`, name `fake`), so the
engine's tests exercise the same loading path as a real IdP plugin. Point it at a FakeIdP only."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx

from responder.errors import ConfigError
from responder.http import READ_ONLY, outcome_for_status
from responder.interfaces import CheckResult
from responder.model import (
    ActionRequest,
    Finding,
    Kind,
    Outcome,
    OutcomeStatus,
    Subject,
    Target,
    Verb,
    subject_from_claims,
)

_REVOCABLE = frozenset({Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.SESSION_COOKIE, Kind.API_KEY, Kind.JWT})


def token_key(token: str) -> str:
    """How the fake IdP files a token: by digest, so its own state never holds the value either."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class TokenState:
    subject: str = ""
    revoke_calls: int = 0
    revocations: int = 0
    revoked: bool = False


class FakeIdP:
    """An identity provider on 127.0.0.1 with just enough API: revoke (RFC 7009-like, but 404 for an unknown
    or already revoked token so a repeat is visible), introspect, and end-all-sessions per user.

    `fail_next(n, status, retry_after)` makes the next n requests fail; `requests_per_second` enforces a rate
    limit with 429 and X-Rate-Limit-* headers."""

    def __init__(self, requests_per_second: float | None = None) -> None:
        self.tokens: dict[str, TokenState] = {}
        self.logouts: dict[str, int] = {}
        self.requests = 0
        self.mutating_requests = 0  # anything but a GET or an introspection
        self.rejected_429 = 0
        self._failures: deque[tuple[int, float | None]] = deque()
        self._lock = threading.Lock()
        self._rate = requests_per_second
        self._window_start = time.monotonic()
        self._window_count = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-idp", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeIdP:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(self, token: str, subject: str = "") -> None:
        with self._lock:
            self.tokens[token_key(token)] = TokenState(subject=subject)

    def state(self, token: str) -> TokenState:
        return self.tokens[token_key(token)]

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    # ---- request handling --------------------------------------------------------------------------

    def _respond(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if method != "GET" and path != "/introspect":
                self.mutating_requests += 1
            limited = self._rate_limited()
            if limited is not None:
                self.rejected_429 += 1
                return 429, limited, {"error": "rate limited"}
            if self._failures:
                status, retry_after = self._failures.popleft()
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                return status, headers, {"error": "injected failure"}
            if method == "POST" and path == "/revoke":
                state = self.tokens.get(token_key(form.get("token", "")))
                if state is None:
                    return 404, {}, {"error": "unknown token"}
                state.revoke_calls += 1
                if state.revoked:
                    return 404, {}, {"error": "token already revoked"}
                state.revoked = True
                state.revocations += 1
                return 200, {"X-Request-Id": f"req-{self.requests}"}, {"revoked": True, "sub": state.subject}
            if method == "POST" and path == "/introspect":
                state = self.tokens.get(token_key(form.get("token", "")))
                if state is None or state.revoked:
                    return 200, {}, {"active": False}
                return 200, {}, {"active": True, "sub": state.subject}
            if method == "GET" and path == "/whoami":
                return 200, {}, {"client": "responder"}
            if path.startswith("/users/") and path.endswith("/sessions"):
                user = path.split("/")[2]
                if method == "DELETE":
                    self.logouts[user] = self.logouts.get(user, 0) + 1
                    return 204, {}, {}
                return 200, {}, {"sessions": 0 if user in self.logouts else 1}
            return 404, {}, {"error": "no such endpoint"}

    def _rate_limited(self) -> dict[str, str] | None:
        if not self._rate:
            return None
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        limit = max(1, int(self._rate))
        self._window_count += 1
        reset = int(time.time() + (1.0 - (now - self._window_start))) + 1
        if self._window_count > limit:
            return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)}
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                status, headers, body = idp._respond(self.command, self.path, form)
                payload = json.dumps(body).encode() if status != 204 else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the request line could hold a value in a badly written client

        return Handler


class FakeProvider:
    """The `fake` provider plugin: revokes tokens and ends users' sessions at a FakeIdP."""

    plugin: ClassVar[str] = "fake"

    def __init__(self, name: str, client: httpx.Client) -> None:
        self.name = name
        self._client = client

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> FakeProvider:
        if not table.get("base_url"):
            raise ConfigError(f"providers.{table['name']}: the fake plugin needs base_url (a FakeIdP's URL)")
        return cls(str(table["name"]), client)

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        if finding.kind not in _REVOCABLE:
            return ()
        subject = subject_from_claims(self.name, finding.claims)
        return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=subject),)

    def execute(self, request: ActionRequest) -> Outcome:
        if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
            response = self._client.post("/revoke", data={"token": request.credential.reveal()})
            outcome = outcome_for_status(response)
            sub = response.json().get("sub") if response.status_code == 200 else None
            if sub:
                return Outcome(
                    outcome.status, outcome.detail, outcome.provider_request_id, subject=Subject(self.name, sub)
                )
            return outcome
        if request.verb == Verb.END_ALL_SESSIONS and request.subject is not None:
            return outcome_for_status(self._client.delete(f"/users/{request.subject.user_id}/sessions"))
        return Outcome(OutcomeStatus.UNSUPPORTED, f"the fake IdP cannot {request.verb}")

    def resolve(self, request: ActionRequest) -> Subject | None:
        if request.credential is None:
            return request.subject
        response = self._client.post("/introspect", data={"token": request.credential.reveal()}, extensions=READ_ONLY)
        sub = response.json().get("sub") if response.status_code == 200 else None
        return Subject(self.name, sub) if sub else None

    def check(self) -> CheckResult:
        try:
            response = self._client.get("/whoami")
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {self._client.base_url}: {type(exc).__name__}")
        if response.status_code != 200:
            return CheckResult(False, f"GET /whoami answered HTTP {response.status_code}")
        return CheckResult(True, f"reached the fake IdP at {self._client.base_url}")

    def verify(self, request: ActionRequest) -> bool | None:
        if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
            response = self._client.post(
                "/introspect", data={"token": request.credential.reveal()}, extensions=READ_ONLY
            )
            return None if response.status_code != 200 else not response.json().get("active", True)
        if request.verb == Verb.END_ALL_SESSIONS and request.subject is not None:
            response = self._client.get(f"/users/{request.subject.user_id}/sessions")
            return None if response.status_code != 200 else response.json().get("sessions") == 0
        return None

    def close(self) -> None:
        self._client.close()
