"""Auth0: ends a user's Auth0 sessions and refresh tokens through the Management API (`{base_url}/api/v2`), with
an M2M token responder gets by client credentials, and revokes refresh tokens by value at `{base_url}/oauth/revoke`.

What a finding becomes (see docs/providers/auth0.md):
- `auth0` / `auth0_compat` cookie (opaque): the user comes from the artifact's other tokens of this tenant (an ID
  token's `sub`); end all of that user's sessions and revoke their refresh tokens. No single user: needs_subject.
- ID token with `sid` (the Auth0 session id): revoke exactly that session and its refresh tokens.
- JWT access token of a user: Auth0 cannot revoke it (it lives until `exp`); end the user's sessions and refresh
  tokens so no new one is minted. Client-credentials tokens (`sub` = `<client>@clients`) name no user: nothing.
- refresh token (opaque): revoked by value as the configured application; without one, the user's refresh tokens.

Every Management API call goes through `_send`, which adds the cached M2M token and fetches a fresh one once when
Auth0 answers 401. No retries or sleeps here: the engine retries; the HTTP client paces on X-RateLimit-*. No secret
ever appears in an Outcome, a log line or an exception text."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from providers._oauth import ClientCredentials
from providers._settings import PluginSettings, service_url, validate_settings
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
    subject_from_related,
)
from responder.secret import Secret, read_secret

SESSION_COOKIES = frozenset({"auth0", "auth0_compat"})
PAGE_SIZE = 100  # the largest per_page / take the Management API accepts
MAX_PAGES = 1000
SEARCH_LIMIT = 1000  # GET /users pages through the first 1000 results only, and reports a total of at most 1000
TOKEN_MARGIN = 60.0  # seconds before its expiry a cached M2M token is replaced
USER_FIELDS = "user_id,email,username,name,blocked"

READ_USERS = "read:users"
READ_SESSIONS = "read:sessions"
DELETE_SESSIONS = "delete:sessions"
READ_REFRESH = "read:refresh_tokens"
DELETE_REFRESH = "delete:refresh_tokens"
READ_ROLES = "read:roles"
REQUIRED_SCOPES = (READ_USERS, READ_SESSIONS, DELETE_SESSIONS, READ_REFRESH, DELETE_REFRESH)

_USER_TOKEN_KINDS = frozenset({Kind.ID_TOKEN, Kind.ACCESS_TOKEN, Kind.JWT})
_CHECK_VALUE = Secret("responder-provider-check")  # made up: revoking or looking it up changes nothing
_PLAN_NOTE = "session and refresh-token management need an Auth0 Enterprise plan"


class Auth0Settings(PluginSettings):
    plugin: Literal["auth0"]
    base_url: str = Field(
        description="the tenant's https URL (https://acme.eu.auth0.com or a custom domain), without /api/v2"
    )
    audience: str | None = Field(
        default=None,
        description="Management API identifier; default base_url + /api/v2/ (set it when base_url is a custom domain)",
    )
    client_id: str = Field(description="responder's machine-to-machine application for the Management API")
    client_secret: SecretStr | None = Field(
        default=None,
        description="client_id's secret (exactly one of client_secret, _file, _env); keep it out of this file",
    )
    client_secret_file: Path | None = Field(default=None, description="file holding client_id's secret")
    client_secret_env: str | None = Field(default=None, description="environment variable holding client_id's secret")
    revoke_client_id: str | None = Field(
        default=None, description="optional: the application whose refresh tokens are revoked by value"
    )
    revoke_client_secret: SecretStr | None = Field(
        default=None, description="revoke_client_id's secret; without one it is a public client"
    )
    revoke_client_secret_file: Path | None = Field(default=None, description="file holding revoke_client_id's secret")
    revoke_client_secret_env: str | None = Field(
        default=None, description="environment variable holding revoke_client_id's secret"
    )

    @field_validator("base_url")
    @classmethod
    def _root_url(cls, value: str) -> str:
        parts = service_url(
            value, "base_url must be the tenant's https URL, e.g. https://acme.eu.auth0.com", schemes=("https",)
        )
        if parts.path.strip("/"):
            raise ValueError("base_url is the tenant's root URL, without /api/v2 or any other path")
        return value.rstrip("/")

    @field_validator("audience")
    @classmethod
    def _management_audience(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("https://") and value.endswith("/api/v2/")):
            raise ValueError("audience is the Management API identifier, https://<tenant>.auth0.com/api/v2/")
        return value

    @model_validator(mode="after")
    def _secret_needs_client(self) -> Auth0Settings:
        secret = self.revoke_client_secret or self.revoke_client_secret_file or self.revoke_client_secret_env
        if secret and self.revoke_client_id is None:
            raise ValueError("revoke_client_secret belongs to the application named by revoke_client_id: set it too")
        return self


@dataclass(frozen=True, slots=True)
class _M2MToken:
    value: Secret
    expires_at: float  # on the provider's monotonic clock
    scopes: frozenset[str] | None  # None: the answer did not list them


@dataclass(frozen=True, slots=True)
class _UserWide:
    """One user-wide verb: the collection under /users/{id}/ it lists and deletes, and the scopes it needs."""

    path: str
    key: str  # the list in the paginated answer
    read: str
    delete: str
    noun: str


_USER_WIDE = {
    Verb.END_ALL_SESSIONS.value: _UserWide("sessions", "sessions", READ_SESSIONS, DELETE_SESSIONS, "session"),
    Verb.REVOKE_REFRESH_TOKENS.value: _UserWide(
        "refresh-tokens", "tokens", READ_REFRESH, DELETE_REFRESH, "refresh token"
    ),
}


class _Stop(Exception):
    """Ends an action early with this outcome (a failed look-up, an unexpected answer)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


def _permanent(detail: str, response: httpx.Response | None = None) -> _Stop:
    return _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, detail, _request_id(response)))


class Auth0Provider:
    plugin: ClassVar[str] = "auth0"
    settings_model: ClassVar[type[PluginSettings]] = Auth0Settings
    panic_verbs: ClassVar[tuple[str, ...]] = (Verb.END_ALL_SESSIONS.value, Verb.REVOKE_REFRESH_TOKENS.value)

    def __init__(self, settings: Auth0Settings, client: httpx.Client) -> None:
        self.name = settings.name
        self._base = settings.base_url
        self._api = settings.base_url + "/api/v2"
        # With a custom domain as base_url the Management API audience stays the canonical tenant domain.
        self._audience = settings.audience or settings.base_url + "/api/v2/"
        where = f"providers.{settings.name}"
        secret = read_secret(
            f"{where}.client_secret", settings.client_secret, settings.client_secret_file, settings.client_secret_env
        )
        if secret is None:
            raise ConfigError(f"{where}: set client_secret_file or client_secret_env (responder's M2M application)")
        self._m2m = ClientCredentials(settings.client_id, secret)
        revoke_secret = read_secret(
            f"{where}.revoke_client_secret",
            settings.revoke_client_secret,
            settings.revoke_client_secret_file,
            settings.revoke_client_secret_env,
        )
        self._revoker = (
            ClientCredentials(settings.revoke_client_id, revoke_secret) if settings.revoke_client_id else None
        )
        issuer_hosts = (urlsplit(url).netloc for url in (settings.base_url, settings.issuer or ""))
        self._hosts = frozenset(h.lower() for h in (*issuer_hosts, *settings.hosts) if h)
        self._http = client
        self._lock = threading.Lock()
        self._token: _M2MToken | None = None
        self._clock = time.monotonic

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> Auth0Provider:
        return cls(validate_settings(Auth0Settings, dict(table)), client)

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        if finding.kind is Kind.SESSION_COOKIE:
            # `auth0` is opaque; device and MFA cookies (did, auth0-mf) and app-side SDK cookies are not sessions
            # of this tenant that the Management API can end.
            if not any(location.name in SESSION_COOKIES for location in finding.locations):
                return ()
            return _user_wide(self._related_user(related))
        if finding.kind is Kind.REFRESH_TOKEN:  # Auth0's refresh tokens are opaque: the user comes from elsewhere
            if finding.claims and not self._issued_here(finding.claims.get("iss", "")):
                return ()  # a JWT refresh token is another issuer's
            if self._revoker is not None:
                return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=self._related_user(related)),)
            return (Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=self._related_user(related)),)
        if finding.kind not in _USER_TOKEN_KINDS:
            return ()
        if not finding.claims:
            # An opaque access token (Auth0 issues them for /userinfo only) names nobody itself.
            return _user_wide(self._related_user(related)) if finding.kind is Kind.ACCESS_TOKEN else ()
        if not self._issued_here(finding.claims.get("iss", "")) or _is_client_token(finding.claims):
            return ()  # another issuer's token, or a client-credentials token: no user to act on
        subject = subject_from_claims(self.name, finding.claims)
        if finding.kind is Kind.ID_TOKEN:
            # The ID token's `sid` is the Auth0 session: that one session ends, read from the token at execution.
            return (Target(Verb.END_SESSION, uses_credential=True, subject=subject),) if _usable(finding, "sid") else ()
        return _user_wide(subject or self._related_user(related))

    def _issued_here(self, issuer: str) -> bool:
        """Auth0 issuers are `https://<domain>/`: the tenant domain, or a custom domain named in issuer / hosts."""
        parts = urlsplit(issuer)
        return parts.scheme == "https" and parts.netloc.lower() in self._hosts and parts.path in ("", "/")

    def _related_user(self, related: Sequence[Finding]) -> Subject | None:
        """The one user this tenant's tokens in the same artifact name (never a client, never a guess)."""
        evidence = [
            finding
            for finding in related
            if finding.kind in _USER_TOKEN_KINDS
            and self._issued_here(finding.claims.get("iss", ""))
            and not _is_client_token(finding.claims)
        ]
        return subject_from_related(self.name, evidence)

    # ---- I/O: the M2M token and the one chokepoint for the Management API ---------------------------

    def _m2m_token(self, refused: _M2MToken | None = None) -> _M2MToken:
        """The cached M2M token, fetched when missing, close to expiry, or just refused. One fetch at a time:
        threads that find the cache empty wait for it instead of each asking Auth0."""
        with self._lock:
            current = self._token
            if current is not None and current is not refused and self._clock() < current.expires_at:
                return current
            self._token = self._fetch_token()
            return self._token

    def _fetch_token(self) -> _M2MToken:
        """Client credentials at `{base_url}/oauth/token` (JSON body, client_secret_post, as Auth0's SDKs send it).
        Marked read-only: it changes nothing at Auth0, and dry runs need it for their look-ups."""
        secret = self._m2m.secret.reveal() if self._m2m.secret else ""
        body = {
            "grant_type": "client_credentials",
            "client_id": self._m2m.client_id,
            "client_secret": secret,
            "audience": self._audience,
        }
        response = self._http.post(self._base + "/oauth/token", json=body, extensions=READ_ONLY)
        step = "get a Management API token"
        client = repr(self._m2m.client_id)
        if response.status_code == 401:
            raise _permanent(f"{step}: HTTP 401: client credentials refused for application {client}", response)
        if response.status_code == 403:
            raise _permanent(
                f"{step}: HTTP 403: application {client} may not get tokens for {self._audience} (authorize it for "
                "the Auth0 Management API, or set audience to the canonical tenant domain's /api/v2/)",
                response,
            )
        if response.status_code != 200:
            outcome = outcome_for_status(response, target_gone=frozenset())
            hint = "" if outcome.status is OutcomeStatus.FAILED_TRANSIENT else " (is base_url the tenant's domain?)"
            raise _Stop(replace(outcome, detail=f"{step}: {outcome.detail}{hint}"))
        answer = _json(response, step)
        value, lifetime = answer.get("access_token"), answer.get("expires_in", 86400)
        if not isinstance(value, str) or not value or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise _permanent(f"{step}: the answer is not Auth0's token response (wrong base_url?)", response)
        scope = answer.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else None
        margin = min(TOKEN_MARGIN, lifetime / 2)
        return _M2MToken(Secret(value), self._clock() + lifetime - margin, scopes)

    def _send(self, method: str, path: str, params: Mapping[str, str | int] | None = None) -> httpx.Response:
        """`{base_url}/api/v2{path}` with the M2M token. A 401 means the token was revoked or rotated early:
        one fresh token, one more try (the refused call changed nothing)."""
        token = self._m2m_token()
        response = self._request(method, path, params, token)
        if response.status_code == 401:
            response = self._request(method, path, params, self._m2m_token(refused=token))
        return response

    def _request(
        self, method: str, path: str, params: Mapping[str, str | int] | None, token: _M2MToken
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token.value.reveal()}", "Accept": "application/json"}
        return self._http.request(method, self._api + path, params=params, headers=headers)

    def _failure(
        self, response: httpx.Response, step: str, scope: str, *, gone: bool = False, plan_gated: bool = False
    ) -> Outcome:
        """One meaning per status: 404 on the object itself already invalid (only with `gone`), 429/5xx transient
        (with the reset time), 401/403 permanent and named: a refused token, a missing scope, or a tenant whose plan
        lacks the endpoint. Auth0's message is read to tell those apart, never repeated."""
        outcome = outcome_for_status(response, target_gone=frozenset({404}) if gone else frozenset())
        code = response.status_code
        if outcome.status is not OutcomeStatus.FAILED_PERMANENT:
            detail = f"{step}: {outcome.detail}"
        elif code == 401:
            detail = f"{step}: HTTP 401: Auth0 refused a freshly issued Management API token (wrong audience?)"
        elif code == 403 and (_scope_refused(response) or not plan_gated):
            detail = f"{step}: HTTP 403: responder's application lacks the scope {scope}"
        elif code == 403:
            detail = f"{step}: HTTP 403: the tenant does not offer this endpoint ({_PLAN_NOTE}); needs {scope}"
        else:
            detail = f"{step}: {outcome.detail}"
        return replace(outcome, detail=detail)

    # ---- look-ups ----------------------------------------------------------------------------------

    def _session_owner(self, sid: str, step: str) -> str:
        """`GET /sessions/{id}` → the session's user_id; 404 (ended, expired, another tenant's) already invalid."""
        response = self._send("GET", f"/sessions/{quote(sid, safe='')}")
        if response.status_code == 404:
            detail = "the session named by the ID token's sid is gone (ended, expired, or not this tenant's)"
            raise _Stop(Outcome(OutcomeStatus.ALREADY_INVALID, detail, _request_id(response)))
        if response.status_code != 200:
            raise _Stop(self._failure(response, step, READ_SESSIONS, plan_gated=True))
        owner = _json(response, step).get("user_id")
        if not isinstance(owner, str) or not owner:
            raise _permanent(f"{step}: the answer names no user", response)
        return owner

    def _user(self, user_id: str, step: str) -> Subject | None:
        """`GET /users/{id}` → the user with a login (email, else username or name); None when there is none."""
        response = self._send("GET", f"/users/{quote(user_id, safe='')}", _fields())
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _Stop(self._failure(response, step, READ_USERS))
        return self._subject(_json(response, step), step)

    def _subject(self, item: Mapping[str, Any], step: str) -> Subject:
        user_id = item.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise _permanent(f"{step}: a user in the answer has no user_id")
        login = next((item[k] for k in ("email", "username", "name") if isinstance(item.get(k), str) and item[k]), "")
        return Subject(self.name, user_id, login)

    def _any_left(self, user_id: str, kind: _UserWide, step: str) -> bool:
        """Whether the user still has one of `kind` (`GET /users/{id}/<kind>?take=1`). 404: no such user."""
        response = self._send("GET", f"/users/{quote(user_id, safe='')}/{kind.path}", {"take": 1})
        if response.status_code == 404:
            raise _permanent(
                f"user not found: Auth0 has no user {user_id} (deleted, or a token from another tenant)", response
            )
        if response.status_code != 200:
            raise _Stop(self._failure(response, step, kind.read, plan_gated=True))
        items = _json(response, step).get(kind.key)
        if not isinstance(items, list):
            raise _permanent(f"{step}: the answer has no {kind.key} list", response)
        return bool(items)

    # ---- execute -----------------------------------------------------------------------------------

    def execute(self, request: ActionRequest) -> Outcome:
        try:
            if request.verb == Verb.END_SESSION:
                return self._end_session(request)
            if request.verb in _USER_WIDE:
                return self._end_user_wide(request, _USER_WIDE[request.verb])
            if request.verb == Verb.REVOKE_TOKEN:
                return self._revoke_token(request)
        except _Stop as stop:
            return replace(stop.outcome, subject=stop.outcome.subject or request.subject)
        return Outcome(OutcomeStatus.UNSUPPORTED, f"the auth0 plugin cannot {request.verb}")

    def _end_session(self, request: ActionRequest) -> Outcome:
        """`POST /sessions/{id}/revoke`: the session and every refresh token issued in it (202, asynchronous).
        The owner is read first: a token naming one user and a session of another is not acted on."""
        sid = _sid(request)
        owner = self._session_owner(sid, "find session")
        expected = request.subject.user_id if request.subject else owner
        if owner != expected:
            raise _permanent("the ID token's session belongs to another user than the token names: not touched")
        subject = request.subject or Subject(self.name, owner)
        response = self._send("POST", f"/sessions/{quote(sid, safe='')}/revoke")
        if response.is_success:
            detail = "revoked the ID token's session and its refresh tokens (Auth0 ends them asynchronously)"
            return Outcome(OutcomeStatus.REVOKED, detail, _request_id(response), subject=subject)
        if response.status_code == 404:
            # Gone since the look, or (were the endpoint missing) still there: only a second look tells.
            try:
                self._session_owner(sid, "find session again")
            except _Stop as stop:
                return replace(stop.outcome, subject=subject)
            detail = "revoke session: HTTP 404 although the session exists (no such endpoint?)"
            return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, _request_id(response), subject=subject)
        failed = self._failure(response, "revoke session", f"{DELETE_SESSIONS} and {DELETE_REFRESH}", plan_gated=True)
        return replace(failed, subject=subject)

    def _end_user_wide(self, request: ActionRequest, kind: _UserWide) -> Outcome:
        """`DELETE /users/{id}/sessions` or `/refresh-tokens` (202, asynchronous). A look first tells "none
        left" (already invalid) from "ended now", and an unknown user from an empty one."""
        if request.subject is None:
            raise _permanent(f"{request.verb} needs the user's id; none given")
        user_id = request.subject.user_id
        if not self._any_left(user_id, kind, f"list {kind.noun}s"):
            return Outcome(OutcomeStatus.ALREADY_INVALID, f"the user had no {kind.noun} left", subject=request.subject)
        response = self._send("DELETE", f"/users/{quote(user_id, safe='')}/{kind.path}")
        if response.is_success:
            detail = f"Auth0 accepted ending every {kind.noun} of the user (it ends them asynchronously)"
            return Outcome(OutcomeStatus.REVOKED, detail, _request_id(response), subject=request.subject)
        # 404 now: the user was deleted since the look, and their sessions or tokens with them.
        failed = self._failure(response, f"delete {kind.noun}s", kind.delete, gone=True, plan_gated=True)
        return replace(failed, subject=request.subject)

    def _revoke_token(self, request: ActionRequest) -> Outcome:
        """`POST /oauth/revoke` as the configured application. Auth0 revokes refresh tokens only, and only the
        ones issued to that application; it answers 200 for a token it does not know."""
        if request.credential is None:
            raise _permanent("revoke token: the leaked value is not available")
        if self._revoker is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, "revocation by value needs revoke_client_id")
        response = self._revoke(self._revoker, request.credential)
        client = repr(self._revoker.client_id)
        if response.status_code == 401:
            raise _permanent(f"revocation: HTTP 401: client credentials refused for application {client}", response)
        outcome = outcome_for_status(response, target_gone=frozenset())
        if outcome.status is OutcomeStatus.REVOKED:
            detail = (
                f"revocation accepted for application {client} (Auth0 answers the same for a token it does not know)"
            )
        elif response.status_code == 400:
            detail = f"revocation: HTTP 400: Auth0 refused it (a token of another application than {client}?)"
        else:
            detail = f"revocation: {outcome.detail}"
        return replace(outcome, detail=detail, subject=request.subject)

    def _revoke(self, client: ClientCredentials, token: Secret, *, read_only: bool = False) -> httpx.Response:
        body = {"client_id": client.client_id, "token": token.reveal()}
        if client.secret is not None:
            body["client_secret"] = client.secret.reveal()
        return self._http.post(self._base + "/oauth/revoke", json=body, extensions=READ_ONLY if read_only else None)

    # ---- verify, resolve, check --------------------------------------------------------------------

    def verify(self, request: ActionRequest) -> bool | None:
        """True once Auth0 no longer has the session or any session / refresh token of the user. Deletion is
        asynchronous (202, eventually consistent): one still listed right after cannot tell pending from failed."""
        try:
            if request.verb == Verb.END_SESSION:
                self._session_owner(_sid(request), "verify session")
                return None
            if request.verb in _USER_WIDE and request.subject is not None:
                kind = _USER_WIDE[request.verb]
                return None if self._any_left(request.subject.user_id, kind, f"verify {kind.noun}s") else True
        except _Stop as stop:
            return True if stop.outcome.status is OutcomeStatus.ALREADY_INVALID else None
        return None  # a revoked refresh token: Auth0 offers no introspection to ask

    def resolve(self, request: ActionRequest) -> Subject | None:
        """Who it is, with reads only (runs under the dry-run guard): the ID token session's owner, or the user
        by id, with their email as login."""
        try:
            user_id = request.subject.user_id if request.subject else None
            if request.verb == Verb.END_SESSION and request.credential is not None:
                user_id = self._session_owner(_sid(request), "find session")
            if user_id is not None:
                return self._user(user_id, "find user") or Subject(self.name, user_id)
        except _Stop:
            pass
        return request.subject

    def check(self) -> CheckResult:
        token_url = f"{self._base}/oauth/token"
        try:
            token = self._m2m_token()
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {token_url}: {type(exc).__name__} (wrong base_url?)")
        except _Stop as stop:
            return CheckResult(False, stop.outcome.detail)
        granted = token.scopes if token.scopes is not None else frozenset((*REQUIRED_SCOPES, READ_ROLES))
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        problems = [f"missing scope {', '.join(missing)}"] if missing else []
        users, probe_problems = self._check_reads(probe_sessions=READ_SESSIONS in granted)
        problems += probe_problems + self._check_revoker()
        client = f"application {self._m2m.client_id!r}"
        if problems:
            return CheckResult(False, f"{client} got a Management API token, but: {'; '.join(problems)}")
        detail = f"{client} may end sessions and refresh tokens; {users} user(s)"
        if users >= SEARCH_LIMIT:
            detail += f" (panic on all users is refused: Auth0 lists at most {SEARCH_LIMIT}; panic by role)"
        if READ_ROLES not in granted:
            detail += f"; panic by role needs {READ_ROLES}"
        if self._revoker is not None:
            detail += f"; refresh tokens are revoked as application {self._revoker.client_id!r}"
        return CheckResult(True, detail)

    def _check_reads(self, *, probe_sessions: bool) -> tuple[int, list[str]]:
        """Two harmless reads: the user count (read:users), and a made-up session id, whose 404 proves the
        session endpoints exist for this tenant (a 403 that is not about scope means the plan lacks them)."""
        problems: list[str] = []
        users = 0
        try:
            params: dict[str, str | int] = {"per_page": 1, "include_totals": "true", **_fields("user_id")}
            response = self._send("GET", "/users", params)
            if response.status_code == 200:
                total = _json(response, "count users").get("total")
                users = total if isinstance(total, int) else 0
            else:
                problems.append(self._failure(response, "GET /api/v2/users", READ_USERS).detail)
            probe = self._send("GET", f"/sessions/{_CHECK_VALUE.reveal()}") if probe_sessions else None
            if probe is not None and probe.status_code not in (200, 404):
                problems.append(
                    self._failure(probe, "GET /api/v2/sessions/{id}", READ_SESSIONS, plan_gated=True).detail
                )
        except httpx.HTTPError as exc:
            problems.append(f"Management API unreachable: {type(exc).__name__}")
        except _Stop as stop:
            problems.append(stop.outcome.detail)
        return users, problems

    def _check_revoker(self) -> list[str]:
        """Revoking a made-up value proves the revoking application's credentials (401 if refused) and revokes
        nothing, so it is allowed in the read-only check."""
        if self._revoker is None:
            return []
        try:
            response = self._revoke(self._revoker, _CHECK_VALUE, read_only=True)
        except httpx.HTTPError as exc:
            return [f"{self._base}/oauth/revoke unreachable: {type(exc).__name__}"]
        if response.status_code == 401:
            return [f"client credentials refused for application {self._revoker.client_id!r}"]
        if response.status_code != 200:
            return [f"{self._base}/oauth/revoke answered HTTP {response.status_code}"]
        return []

    def close(self) -> None:
        self._http.close()

    # ---- directory (panic) -------------------------------------------------------------------------

    def find_user(self, query: str) -> Subject | None:
        """By user id (`connection|id`, always with a `|`), by email (`GET /users-by-email`), else by username."""
        query = query.strip()
        if not query:
            raise DirectoryError(f"{self.name}: an empty user query names nobody")
        try:
            if "|" in query:
                return self._user(query, "find user")
            if "@" in query:
                return self._user_by_email(query)
            return self._one(self._search(f'username:"{_lucene_phrase(query)}"'), f"username {query!r}")
        except _Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None

    def _user_by_email(self, email: str) -> Subject | None:
        """Auth0 stores an Auth0-database user's email in lower case and searches case-sensitively."""
        for candidate in dict.fromkeys((email, email.lower())):
            params: dict[str, str | int] = {"email": candidate, **_fields()}
            response = self._send("GET", "/users-by-email", params)
            if response.status_code != 200:
                raise _Stop(self._failure(response, "find user by email", READ_USERS))
            found = _json_list(response, "find user by email")
            if found:
                return self._one([self._subject(item, "find user by email") for item in found], f"email {email!r}")
        return None

    def _search(self, lucene: str) -> list[Subject]:
        params: dict[str, str | int] = {"q": lucene, "search_engine": "v3", "per_page": 2, **_fields()}
        response = self._send("GET", "/users", params)
        if response.status_code != 200:
            raise _Stop(self._failure(response, "search users", READ_USERS))
        return [self._subject(item, "search users") for item in _json_list(response, "search users")]

    def _one(self, found: list[Subject], what: str) -> Subject | None:
        if len(found) > 1:
            ids = ", ".join(sorted(subject.user_id for subject in found))
            raise DirectoryError(f"{self.name}: several Auth0 users have the {what} ({ids}): name one by user_id")
        return found[0] if found else None

    def group_members(self, group: str) -> Iterator[Subject]:
        """Auth0 has no groups: a panic scope names a role (its name or `rol_…` id), and its members are read
        with checkpoint pagination (`GET /roles/{id}/users?take=&from=`), which has no 1000-result limit."""
        try:
            role = self._role_id(group.strip())
            yield from self._role_members(role, group)
        except _Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None

    def _role_id(self, group: str) -> str:
        if group.startswith("rol_"):
            response = self._send("GET", f"/roles/{quote(group, safe='')}")
            if response.status_code == 200:
                return group
            if response.status_code != 404:
                raise _Stop(self._failure(response, "find role", READ_ROLES))
        names: dict[str, str] = {}  # id → name, of the roles whose name contains `group` (any case)
        for page in range(MAX_PAGES):
            response = self._send("GET", "/roles", {"name_filter": group, "per_page": PAGE_SIZE, "page": page})
            if response.status_code != 200:
                raise _Stop(self._failure(response, "find role", READ_ROLES))
            roles = _json_list(response, "find role")
            names.update({r["id"]: r.get("name", "") for r in roles if isinstance(r.get("id"), str)})
            if len(roles) < PAGE_SIZE:
                break
        exact = [i for i, name in names.items() if name == group] or [
            i for i, name in names.items() if str(name).casefold() == group.casefold()
        ]
        if len(exact) > 1:
            raise DirectoryError(f"{self.name}: several Auth0 roles are named {group!r}: name one by its rol_ id")
        if not exact:
            raise DirectoryError(
                f"{self.name}: Auth0 has no groups, and no role is named {group!r}: name a role (or its rol_ id)"
            )
        return exact[0]

    def _role_members(self, role: str, group: str) -> Iterator[Subject]:
        cursor: str | None = None
        used: set[str] = set()
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"take": PAGE_SIZE}
            if cursor is not None:
                params["from"] = cursor  # an opaque cursor, only ever sent back to base_url as a parameter
            response = self._send("GET", f"/roles/{quote(role, safe='')}/users", params)
            if response.status_code == 404:
                raise DirectoryError(f"{self.name}: the role {group!r} no longer exists")
            if response.status_code != 200:
                raise _Stop(self._failure(response, "list role members", f"{READ_USERS} and {READ_ROLES}"))
            body = _json_any(response, "list role members")
            page = body if isinstance(body, list) else body.get("users")
            if not isinstance(page, list):
                raise _permanent("list role members: the answer has no users list", response)
            yield from (self._subject(item, "list role members") for item in page if isinstance(item, dict))
            following = body.get("next") if isinstance(body, dict) else None
            if not isinstance(following, str) or not following:
                return
            if following in used:
                raise DirectoryError(f"{self.name}: Auth0 sent the same page cursor twice for role {group!r}")
            used.add(following)
            cursor = following
        raise DirectoryError(f"{self.name}: role {group!r} has more than {MAX_PAGES} pages of members")

    def all_users(self) -> Iterator[Subject]:
        """Every user not blocked. Auth0's user list reaches the first 1000 users only (its total stops at 1000
        too), and a panic that silently missed users would be worse than none: above that it is refused."""
        try:
            yield from self._every_user()
        except _Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None

    def _every_user(self) -> Iterator[Subject]:
        seen = 0
        for page in range(SEARCH_LIMIT // PAGE_SIZE):
            params: dict[str, str | int] = {"page": page, "per_page": PAGE_SIZE, "include_totals": "true", **_fields()}
            response = self._send("GET", "/users", params)
            if response.status_code != 200:
                raise _Stop(self._failure(response, "list users", READ_USERS))
            body = _json(response, "list users")
            total, users = body.get("total"), body.get("users")
            if not isinstance(total, int) or not isinstance(users, list):
                raise _permanent("list users: the answer has no total or users list", response)
            if total >= SEARCH_LIMIT:
                raise DirectoryError(
                    f"{self.name}: Auth0 lists at most {SEARCH_LIMIT} users and this tenant has at least "
                    f"{total}: a panic on all users would miss some; panic by role (--group) or by user instead"
                )
            for item in users:
                if isinstance(item, dict) and item.get("blocked") is not True:
                    yield self._subject(item, "list users")
            seen += len(users)
            if not users or seen >= total:
                return


# ---- helpers -----------------------------------------------------------------------------------------


def _user_wide(subject: Subject | None) -> tuple[Target, ...]:
    if subject is None:  # a user-wide action would end it, but nothing names the user: needs_subject
        return (Target(Verb.END_ALL_SESSIONS, uses_credential=False),)
    return (
        Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),
        Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=subject),
    )


def _is_client_token(claims: Mapping[str, str]) -> bool:
    """Client-credentials tokens carry `sub` = `<client_id>@clients`: an application, not a user."""
    return claims.get("sub", "").endswith("@clients")


def _usable(finding: Finding, claim: str) -> bool:
    value = finding.claims.get(claim, "")
    return bool(value) and not value.startswith(("fingerprint:", "sha256:"))


def _sid(request: ActionRequest) -> str:
    """The Auth0 session id: the `sid` claim of the ID token that is the action's credential (read, not
    verified: it only selects which session of the configured tenant to look up)."""
    if request.credential is None:
        raise _permanent("end session: the ID token is not available")
    parts = request.credential.reveal().split(".")
    claims: Any = {}
    if len(parts) == 3:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, binascii.Error):
            claims = {}
    sid = claims.get("sid") if isinstance(claims, dict) else None
    if not isinstance(sid, str) or not sid:
        raise _permanent("end session: the ID token carries no sid")
    return sid


def _fields(fields: str = USER_FIELDS) -> dict[str, str | int]:
    """Only what responder needs: a user's identities could carry IdP tokens (with read:user_idp_tokens)."""
    return {"fields": fields, "include_fields": "true"}


def _lucene_phrase(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _json_any(response: httpx.Response, step: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _permanent(f"{step}: the answer is not Auth0's JSON (wrong base_url?)", response) from None


def _json(response: httpx.Response, step: str) -> dict[str, Any]:
    body = _json_any(response, step)
    if not isinstance(body, dict):
        raise _permanent(f"{step}: the answer is not Auth0's JSON (wrong base_url?)", response)
    return body


def _json_list(response: httpx.Response, step: str) -> list[dict[str, Any]]:
    body = _json_any(response, step)
    if not isinstance(body, list):
        raise _permanent(f"{step}: the answer is not a list (wrong base_url?)", response)
    return [item for item in body if isinstance(item, dict)]


def _scope_refused(response: httpx.Response) -> bool:
    """Auth0 answers 403 `insufficient_scope` ("Insufficient scope, expected any of: …") for a missing scope, and
    other 403s for features the tenant lacks."""
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    return body.get("errorCode") == "insufficient_scope" or "scope" in str(body.get("message", "")).lower()


def _request_id(response: httpx.Response | None) -> str:
    if response is None:
        return ""
    return str(response.headers.get("x-request-id", ""))
