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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote

import httpx

from responder.errors import ConfigError, DirectoryError
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


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    login: str
    active: bool = True

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "active": self.active}


DIRECTORY_PAGE = 50


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
        self.users: dict[str, DirectoryUser] = {}
        self.groups: dict[str, list[str]] = {}
        self.logouts: dict[str, int] = {}
        self.requests = 0
        self.mutating_requests = 0  # anything but a GET or an introspection
        self.rejected_429 = 0
        self.latency = 0.0  # seconds each revoke or logout takes to answer (a slow IdP), set by tests
        self._failures: deque[tuple[int, float | None, str | None]] = deque()
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

    def add_user(self, user_id: str, login: str = "", *, groups: tuple[str, ...] = (), active: bool = True) -> None:
        """A user in the fake directory (for panic by login, email, group or everyone)."""
        with self._lock:
            self.users[user_id] = DirectoryUser(user_id, login or user_id, active)
            for group in groups:
                self.groups.setdefault(group, []).append(user_id)

    def state(self, token: str) -> TokenState:
        return self.tokens[token_key(token)]

    def fail_next(
        self, count: int, status: int = 503, retry_after: float | None = None, *, method: str | None = None
    ) -> None:
        """The next `count` requests (of `method` only, when given) fail with `status`."""
        with self._lock:
            self._failures.extend([(status, retry_after, method)] * count)

    # ---- request handling --------------------------------------------------------------------------

    def _directory(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """GET /users?after=ID (pages of DIRECTORY_PAGE), GET /users/{id, login}, GET /groups/{name}/members."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["users"]:
            ordered = sorted(self.users)
            after = query.get("after", "")
            page = [self.users[u] for u in ordered if u > after][:DIRECTORY_PAGE]
            more = bool(page) and page[-1].id != ordered[-1]
            return 200, {}, {"users": [u.public() for u in page], "next": page[-1].id if more else None}
        if len(parts) == 2 and parts[0] == "users":
            found = self.users.get(parts[1]) or next((u for u in self.users.values() if u.login == parts[1]), None)
            return (200, {}, found.public()) if found else (404, {}, {"error": "no such user"})
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "members":
            if parts[1] not in self.groups:
                return 404, {}, {"error": "no such group"}
            return 200, {}, {"members": [self.users[u].public() for u in self.groups[parts[1]] if u in self.users]}
        return 404, {}, {"error": "no such endpoint"}

    def _respond(
        self, method: str, path: str, form: dict[str, str], query: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        query = query or {}
        with self._lock:
            self.requests += 1
            if method != "GET" and path != "/introspect":
                self.mutating_requests += 1
            limited = self._rate_limited()
            if limited is not None:
                self.rejected_429 += 1
                return 429, limited, {"error": "rate limited"}
            if self._failures and self._failures[0][2] in (None, method):
                status, retry_after, _ = self._failures.popleft()
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
            if method == "GET" and (path.startswith(("/users", "/groups/"))) and not path.endswith("/sessions"):
                return self._directory(path, query)
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
                path, _, query = self.path.partition("?")
                if idp.latency and self.command != "GET" and path != "/introspect":
                    time.sleep(idp.latency)  # outside the lock: slow calls overlap, as at a real IdP
                status, headers, body = idp._respond(
                    self.command, path, form, {k: v[0] for k, v in parse_qs(query).items()}
                )
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
    panic_verbs: ClassVar[tuple[str, ...]] = (Verb.END_ALL_SESSIONS.value,)

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

    # ---- directory (panic scopes) -------------------------------------------------------------------

    def find_user(self, query: str) -> Subject | None:
        response = self._client.get(f"/users/{quote(query, safe='')}")
        if response.status_code == 404:
            return None
        return self._subject(self._directory_answer(response, "find user"))

    def group_members(self, group: str) -> Iterator[Subject]:
        response = self._client.get(f"/groups/{quote(group, safe='')}/members")
        if response.status_code == 404:
            raise DirectoryError(f"{self.name}: no group named {group!r}")
        members = self._directory_answer(response, "list group members").get("members", [])
        yield from (self._subject(m) for m in members if m.get("active"))

    def all_users(self) -> Iterator[Subject]:
        after = ""
        while True:
            body = self._directory_answer(self._client.get("/users", params={"after": after}), "list users")
            yield from (self._subject(u) for u in body.get("users", []) if u.get("active"))
            if not body.get("next"):
                return
            after = str(body["next"])

    def _directory_answer(self, response: httpx.Response, step: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise DirectoryError(f"{self.name}: {step}: HTTP {response.status_code}")
        body = response.json()
        return body if isinstance(body, dict) else {}

    def _subject(self, user: Mapping[str, Any]) -> Subject:
        return Subject(self.name, str(user["id"]), str(user.get("login", "")))

    def close(self) -> None:
        self._client.close()
