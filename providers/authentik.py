"""authentik: ends a user's sessions, deletes their refresh tokens, deletes a leaked API token, and revokes OAuth
tokens (RFC 7009) through authentik's admin API under `{base_url}/api/v3`, with responder's own API token.

What a finding becomes (see docs/providers/authentik.md):
- `authentik_session` cookie (an HS256 JWT whose `sub` is the user's `uid`): end all of the user's sessions,
  and delete the user's refresh tokens (deleting a session does not delete them).
- an opaque bearer token (no dots) seen on authentik: the API token with that key is found and deleted.
- a JWT access/refresh token issued under `/application/o/`: RFC 7009 revocation with responder's OAuth client
  when one is configured; otherwise, when the token names its user (`sub`), the user's sessions (they own the
  access tokens) or refresh tokens.
- proxy-outpost cookies, account-switching cookies, `authentik_csrf` and the like: nothing (no way to map them).

Every admin-API call goes through `_send`. No retries or sleeps here: the engine retries. No secret ever
appears in an Outcome, a log line or an exception text."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from providers._oauth import ClientCredentials
from providers._settings import PluginSettings, service_url, validate_settings
from responder.errors import ConfigError
from responder.http import READ_ONLY, outcome_for_status
from responder.interfaces import CheckResult
from responder.model import ActionRequest, Finding, Kind, Outcome, OutcomeStatus, Subject, Target, Verb
from responder.secret import Secret, read_secret

SESSION_COOKIE = "authentik_session"
PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 objects: beyond that something is wrong (a loop), not a big directory

VIEW_USER = "authentik_core.view_user"
VIEW_SESSION = "authentik_core.view_authenticatedsession"
DELETE_SESSION = "authentik_core.delete_authenticatedsession"
VIEW_TOKEN = "authentik_core.view_token"  # noqa: S105 - permission names, not secrets
DELETE_TOKEN = "authentik_core.delete_token"  # noqa: S105
VIEW_TOKEN_KEY = "authentik_core.view_token_key"  # noqa: S105
VIEW_REFRESH = "authentik_providers_oauth2.view_refreshtoken"
DELETE_REFRESH = "authentik_providers_oauth2.delete_refreshtoken"

_HINTS = {Kind.ACCESS_TOKEN: "access_token", Kind.REFRESH_TOKEN: "refresh_token"}
_OAUTH_KINDS = frozenset({Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.JWT})
_OPAQUE_API_KINDS = frozenset({Kind.ACCESS_TOKEN, Kind.API_KEY})
_CHECK_TOKEN = Secret("responder-provider-check")  # introspecting a made-up token proves client auth only
# (list path, the permission a 403 there means is missing), read by check()
_PERMISSION_PROBES = (
    ("/core/users/", VIEW_USER),
    ("/core/authenticated_sessions/", VIEW_SESSION),
    ("/oauth2/refresh_tokens/", VIEW_REFRESH),
    ("/core/tokens/", VIEW_TOKEN),
)


class AuthentikSettings(PluginSettings):
    plugin: Literal["authentik"]
    base_url: str = Field(description="the URL authentik is served at, without /api/v3")
    token: SecretStr | None = Field(
        default=None,
        description="responder's API token (exactly one of token, token_file, token_env); keep it out of this file",
    )
    token_file: Path | None = Field(default=None, description="file holding responder's API token")
    token_env: str | None = Field(default=None, description="environment variable holding responder's API token")
    client_id: str | None = Field(
        default=None, description="optional: an OAuth client for RFC 7009 revocation and RFC 7662 introspection"
    )
    client_secret: SecretStr | None = Field(
        default=None, description="client_id's secret; without one the client is public"
    )
    client_secret_file: Path | None = Field(default=None, description="file holding client_id's secret")
    client_secret_env: str | None = Field(default=None, description="environment variable holding client_id's secret")

    @field_validator("base_url")
    @classmethod
    def _root_url(cls, value: str) -> str:
        parts = service_url(
            value, "base_url must be the http(s) URL authentik is served at, e.g. https://auth.example.com"
        )
        if parts.path.rstrip("/").endswith("/api/v3"):
            raise ValueError("base_url is authentik's root URL, without /api/v3")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _secret_needs_client(self) -> AuthentikSettings:
        if self.client_id is None and (self.client_secret or self.client_secret_file or self.client_secret_env):
            raise ValueError("client_secret is for the OAuth client named by client_id: set client_id too")
        return self


@dataclass(frozen=True, slots=True)
class _User:
    pk: int
    uid: str
    username: str
    email: str

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> _User | None:
        pk, uid, username = item.get("pk"), item.get("uid"), item.get("username")
        if not isinstance(pk, int) or not isinstance(uid, str) or not isinstance(username, str):
            return None
        email = item.get("email")
        return cls(pk, uid, username, email if isinstance(email, str) else "")

    def subject(self, provider: str) -> Subject:
        return Subject(provider, self.uid, self.username or self.email)


class _Stop(Exception):
    """Ends an action early with this outcome (a failed look-up, an unexpected answer)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class AuthentikProvider:
    plugin: ClassVar[str] = "authentik"
    settings_model: ClassVar[type[PluginSettings]] = AuthentikSettings

    def __init__(self, settings: AuthentikSettings, client: httpx.Client) -> None:
        self.name = settings.name
        self._base = settings.base_url
        self._api = settings.base_url + "/api/v3"
        where = f"providers.{settings.name}"
        token = read_secret(f"{where}.token", settings.token, settings.token_file, settings.token_env)
        if token is None:
            raise ConfigError(f"{where}: set token_file or token_env to responder's authentik API token")
        self._token = token
        secret = read_secret(
            f"{where}.client_secret", settings.client_secret, settings.client_secret_file, settings.client_secret_env
        )
        self._client = ClientCredentials(settings.client_id, secret) if settings.client_id else None
        self._http = client
        self._users: dict[str, _User] = {}  # uid → user, filled by every user list read
        self._lock = threading.Lock()
        self._has_bulk_delete: bool | None = None  # None: not tried yet (authentik < 2026.2 lacks it)

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> AuthentikProvider:
        return cls(validate_settings(AuthentikSettings, dict(table)), client)

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        sub = _usable_sub(finding.claims.get("sub"))
        subject = Subject(self.name, sub) if sub else None
        if finding.kind is Kind.SESSION_COOKIE:
            # Only authentik_session names its user. Proxy-outpost sessions are kept server-side by the outpost
            # and cannot be mapped to a user; account-switching cookies and unsigned legacy values neither.
            if not any(location.name == SESSION_COOKIE for location in finding.locations) or subject is None:
                return ()
            return (
                Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),
                Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=subject),
            )
        opaque = "." not in finding.value.reveal()
        if opaque and finding.kind in _OPAQUE_API_KINDS:
            # authentik's OAuth access tokens are JWTs: an opaque bearer is an API token (intent=api).
            return (Target(Verb.DELETE_API_TOKEN, uses_credential=True),)
        if finding.kind not in _OAUTH_KINDS:
            return ()
        # An opaque refresh token (authentik's are 128 alphanumerics) is revocable by value but names no user.
        oauth = finding.kind is Kind.REFRESH_TOKEN if opaque else self._issued_here(finding.claims.get("iss", ""))
        if not oauth:
            return ()
        if self._client is not None:
            return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=subject),)
        if subject is None:
            return ()
        # No OAuth client: act on the user. Deleting the sessions deletes the access tokens bound to them;
        # refresh tokens outlive sessions and are deleted by their own verb.
        verb = Verb.REVOKE_REFRESH_TOKENS if finding.kind is Kind.REFRESH_TOKEN else Verb.END_ALL_SESSIONS
        return (Target(verb, uses_credential=False, subject=subject),)

    def _issued_here(self, issuer: str) -> bool:
        """Per-provider issuers are `<authentik>/application/o/<slug>/`; the global issuer mode uses the root."""
        parts = urlsplit(issuer)
        if parts.path.startswith("/application/o/"):
            return True
        return bool(parts.netloc) and issuer.rstrip("/") == self._base

    # ---- I/O: the one chokepoint for the admin API -------------------------------------------------

    def _send(
        self, method: str, path: str, params: Mapping[str, str | int] | None = None, *, leaked: Secret | None = None
    ) -> httpx.Response:
        """`{base_url}/api/v3{path}` with `Authorization: Bearer <responder's token>`. With `leaked`, a GET
        authenticated with the leaked token itself, to learn whose it is (read-only, never anything else)."""
        if leaked is not None and method != "GET":
            raise ValueError("the leaked credential is only ever used for a read")
        token = (leaked or self._token).reveal()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return self._http.request(method, self._api + path, params=params, headers=headers)

    def _pages(
        self, path: str, params: Mapping[str, str | int], step: str, permission: str
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list. authentik's `pagination.next` is 0 on the last page."""
        page = 1
        for _ in range(MAX_PAGES):
            response = self._send("GET", path, {**params, "page": page, "page_size": PAGE_SIZE})
            if response.status_code != 200:
                raise _Stop(self._failure(response, step, permission))
            body = _json(response, step)
            results = body.get("results")
            if not isinstance(results, list):
                raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer has no results list"))
            yield from (item for item in results if isinstance(item, dict))
            following = (body.get("pagination") or {}).get("next")
            if not isinstance(following, int | float) or following <= page:
                return
            page = int(following)
        raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: more than {MAX_PAGES} pages"))

    def _failure(self, response: httpx.Response, step: str, permission: str, *, gone: bool = False) -> Outcome:
        """One meaning per status: 404 on the object itself is already invalid (only with `gone`), 429/5xx
        transient (with Retry-After), 401/403 permanent and named: a refused token or a missing permission."""
        outcome = outcome_for_status(response, target_gone=frozenset({404}) if gone else frozenset())
        code = response.status_code
        if outcome.status is not OutcomeStatus.FAILED_PERMANENT:
            detail = f"{step}: {outcome.detail}"
        elif code == 401 or (code == 403 and _token_refused(response)):
            detail = f"{step}: HTTP {code}: responder's API token was refused (invalid or expired)"
        elif code == 403:
            detail = f"{step}: HTTP 403: responder lacks the permission {permission}"
        elif code in (404, 405):
            detail = f"{step}: HTTP {code}: no such endpoint (is base_url authentik's root URL?)"
        else:
            detail = f"{step}: {outcome.detail}"
        return Outcome(outcome.status, detail, outcome.provider_request_id, outcome.retry_after)

    # ---- look-ups ----------------------------------------------------------------------------------

    def _user_by_uid(self, uid: str) -> _User:
        """authentik has no uid filter (an unknown filter is ignored), so the user list is read and compared."""
        with self._lock:
            cached = self._users.get(uid)
        if cached is not None:
            return cached
        params = {"include_groups": "false", "include_roles": "false"}
        for item in self._pages("/core/users/", params, "find user", VIEW_USER):
            user = _User.from_api(item)
            if user is None:
                continue
            with self._lock:
                self._users[user.uid] = user
            if user.uid == uid:
                return user
        raise _Stop(
            Outcome(
                OutcomeStatus.FAILED_PERMANENT,
                f"user not found: no authentik user has uid {uid} (deleted, another authentik instance, or a "
                "token whose provider's sub_mode is not the default hashed user id)",
            )
        )

    def _subject_user(self, request: ActionRequest) -> _User:
        if request.subject is None:
            raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{request.verb} needs the user's uid; none given"))
        return self._user_by_uid(request.subject.user_id)

    def _owner_of(self, leaked: Secret) -> _User:
        """Whose API token this is: `GET /core/users/me/` authenticated with the token itself."""
        response = self._send("GET", "/core/users/me/", leaked=leaked)
        if response.status_code in (401, 403):
            raise _Stop(
                Outcome(
                    OutcomeStatus.ALREADY_INVALID,
                    f"the leaked token does not authenticate any more (HTTP {response.status_code})",
                    _request_id(response),
                )
            )
        if response.status_code != 200:
            raise _Stop(self._failure(response, "find the token's owner", "(none: any valid token may)"))
        user = _User.from_api(_json(response, "find the token's owner").get("user") or {})
        if user is None:
            raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, "find the token's owner: the answer names no user"))
        return user

    def _sessions(self, user: _User, step: str) -> list[str]:
        """The uuids of the user's sessions. The answer is filtered by user pk too: should the username filter
        ever be ignored, other users' sessions must not be touched."""
        items = self._pages("/core/authenticated_sessions/", {"user__username": user.username}, step, VIEW_SESSION)
        return [
            str(item["uuid"]) for item in items if item.get("user") == user.pk and isinstance(item.get("uuid"), str)
        ]

    def _refresh_tokens(self, user: _User, step: str, *, include_expired: bool = True) -> list[int]:
        """The ids of the user's refresh tokens that are not revoked yet (filtered by owner here too)."""
        ids = []
        for item in self._pages("/oauth2/refresh_tokens/", {"user": user.pk}, step, VIEW_REFRESH):
            owner = item.get("user")
            if not isinstance(owner, dict) or owner.get("pk") != user.pk or not isinstance(item.get("pk"), int):
                continue
            if item.get("revoked") is True or (not include_expired and item.get("is_expired") is True):
                continue
            ids.append(item["pk"])
        return ids

    # ---- execute -----------------------------------------------------------------------------------

    def execute(self, request: ActionRequest) -> Outcome:
        try:
            if request.verb == Verb.END_ALL_SESSIONS:
                return self._end_all_sessions(request)
            if request.verb == Verb.REVOKE_REFRESH_TOKENS:
                return self._revoke_refresh_tokens(request)
            if request.verb == Verb.DELETE_API_TOKEN:
                return self._delete_api_token(request)
            if request.verb == Verb.REVOKE_TOKEN:
                return self._revoke_token(request)
        except _Stop as stop:
            return replace(stop.outcome, subject=stop.outcome.subject or request.subject)
        return Outcome(OutcomeStatus.UNSUPPORTED, f"the authentik plugin cannot {request.verb}")

    def _end_all_sessions(self, request: ActionRequest) -> Outcome:
        user = self._subject_user(request)
        try:
            outcome = self._bulk_delete(user)
            if outcome is None:
                outcome = self._delete_one_by_one(user)
        except _Stop as stop:
            outcome = stop.outcome
        return replace(outcome, subject=user.subject(self.name))

    def _bulk_delete(self, user: _User) -> Outcome | None:
        """authentik ≥ 2026.2: one call. None when this server lacks it (404/405), so sessions go one by one."""
        if self._has_bulk_delete is False:
            return None
        step = "bulk delete sessions"
        response = self._send("DELETE", "/core/authenticated_sessions/bulk_delete/", {"user_pks": user.pk})
        if response.status_code in (404, 405):
            self._has_bulk_delete = False
            return None
        if response.status_code != 200:
            return self._failure(response, step, DELETE_SESSION)
        self._has_bulk_delete = True
        deleted = _json(response, step).get("deleted")
        if not isinstance(deleted, int):
            return Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer has no deleted count")
        if deleted == 0:
            return Outcome(OutcomeStatus.ALREADY_INVALID, "no session of the user was left", _request_id(response))
        return Outcome(OutcomeStatus.REVOKED, f"ended {deleted} session(s) of the user", _request_id(response))

    def _delete_one_by_one(self, user: _User) -> Outcome:
        uuids = self._sessions(user, "list sessions")
        paths = [f"/core/authenticated_sessions/{quote(uuid, safe='')}/" for uuid in uuids]
        deleted, failed = self._delete_each(paths, "delete session", DELETE_SESSION, "ended")
        if failed is not None:
            return failed
        if deleted == 0:
            return Outcome(OutcomeStatus.ALREADY_INVALID, "no session of the user was left")
        return Outcome(OutcomeStatus.REVOKED, f"ended {deleted} session(s) of the user, one by one")

    def _delete_each(self, paths: list[str], step: str, permission: str, done: str) -> tuple[int, Outcome | None]:
        """DELETE each object; 404 means it went meanwhile (the user, an expiry, an earlier attempt). Returns
        how many were deleted and, if one failed, that failure (naming how many went before it)."""
        deleted = 0
        for number, path in enumerate(paths):
            response = self._send("DELETE", path)
            if response.status_code == 404:
                continue
            if not response.is_success:
                failed = self._failure(response, f"{step} {number + 1} of {len(paths)}", permission)
                return deleted, replace(failed, detail=f"{failed.detail} ({deleted} {done} before)")
            deleted += 1
        return deleted, None

    def _revoke_refresh_tokens(self, request: ActionRequest) -> Outcome:
        user = self._subject_user(request)
        try:
            outcome = self._delete_refresh_tokens(user)
        except _Stop as stop:
            outcome = stop.outcome
        return replace(outcome, subject=user.subject(self.name))

    def _delete_refresh_tokens(self, user: _User) -> Outcome:
        ids = self._refresh_tokens(user, "list refresh tokens")
        paths = [f"/oauth2/refresh_tokens/{token_id}/" for token_id in ids]
        deleted, failed = self._delete_each(paths, "delete refresh token", DELETE_REFRESH, "deleted")
        if failed is not None:
            return failed
        if deleted == 0:
            return Outcome(OutcomeStatus.ALREADY_INVALID, "the user had no live refresh token")
        return Outcome(OutcomeStatus.REVOKED, f"deleted {deleted} refresh token(s) of the user")

    def _delete_api_token(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "delete API token: the leaked value is not available")
        user = self._owner_of(request.credential)
        subject = user.subject(self.name)
        try:
            identifier = self._identifier_of(request.credential, user)
        except _Stop as stop:
            return replace(stop.outcome, subject=subject)
        if identifier is None:
            return Outcome(
                OutcomeStatus.FAILED_PERMANENT,
                f"the leaked token authenticates as {user.username}, but none of their API tokens has its key",
                subject=subject,
            )
        response = self._send("DELETE", f"/core/tokens/{quote(identifier, safe='')}/")
        if response.is_success:
            detail = f"deleted API token {identifier!r} of {user.username}"
            return Outcome(OutcomeStatus.REVOKED, detail, _request_id(response), subject=subject)
        return replace(self._failure(response, "delete API token", DELETE_TOKEN, gone=True), subject=subject)

    def _identifier_of(self, leaked: Secret, user: _User) -> str | None:
        """The user's intent=api token whose key is the leaked value. Reading a key needs the sensitive
        authentik_core.view_token_key permission, and authentik records a `secret_view` event per key read."""
        params = {"user__username": user.username, "intent": "api"}
        candidates: list[str] = [
            item["identifier"]
            for item in self._pages("/core/tokens/", params, "list API tokens", VIEW_TOKEN)
            if isinstance(item.get("identifier"), str) and item.get("user", user.pk) == user.pk
        ]
        wanted = leaked.reveal().encode()
        for identifier in candidates:
            response = self._send("GET", f"/core/tokens/{quote(identifier, safe='')}/view_key/")
            if response.status_code == 404:
                continue  # deleted or expired meanwhile
            if response.status_code != 200:
                raise _Stop(self._failure(response, "read API token key", VIEW_TOKEN_KEY))
            key = _json(response, "read API token key").get("key")
            if isinstance(key, str) and hmac.compare_digest(key.encode(), wanted):
                return identifier
        return None

    def _revoke_token(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "revoke token: the leaked value is not available")
        if self._client is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, "RFC 7009 revocation needs client_id (+ client_secret)")
        hint = _HINTS.get(request.kind or Kind.JWT)
        response = self._oauth(self._client, "/application/o/revoke/", request.credential, hint)
        if response.status_code == 401:
            detail = f"revocation: HTTP 401: client credentials refused for client {self._client.client_id!r}"
            return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, _request_id(response), subject=request.subject)
        outcome = outcome_for_status(response, target_gone=frozenset())
        detail = f"revocation: {outcome.detail}"
        if outcome.status is OutcomeStatus.REVOKED:
            detail += " (authentik answers the same for a token it does not know)"
        return replace(outcome, detail=detail, subject=request.subject)

    def _oauth(
        self, client: ClientCredentials, path: str, token: Secret, hint: str | None = None, *, read_only: bool = False
    ) -> httpx.Response:
        """RFC 7009 / RFC 7662 at `{base_url}{path}` (outside /api/v3), authenticated as responder's OAuth client."""
        form = {"token": token.reveal()}
        if hint:
            form["token_type_hint"] = hint
        form, auth = client.apply(form)
        return self._http.post(
            self._base + path,
            data=form,
            auth=auth or httpx.USE_CLIENT_DEFAULT,
            extensions=READ_ONLY if read_only else None,
        )

    def _introspect(self, token: Secret, kind: Kind | None) -> dict[str, Any] | None:
        if self._client is None:
            return None
        hint = _HINTS.get(kind or Kind.JWT)
        response = self._oauth(self._client, "/application/o/introspect/", token, hint, read_only=True)
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    # ---- verify, resolve, check --------------------------------------------------------------------

    def verify(self, request: ActionRequest) -> bool | None:
        try:
            if request.verb == Verb.END_ALL_SESSIONS:
                return not self._sessions(self._subject_user(request), "verify sessions")
            if request.verb == Verb.REVOKE_REFRESH_TOKENS:
                user = self._subject_user(request)
                return not self._refresh_tokens(user, "verify refresh tokens", include_expired=False)
        except _Stop:
            return None
        if request.credential is None:
            return None
        if request.verb == Verb.DELETE_API_TOKEN:
            code = self._send("GET", "/core/users/me/", leaked=request.credential).status_code
            return True if code in (401, 403) else False if code == 200 else None
        if request.verb == Verb.REVOKE_TOKEN:
            claims = self._introspect(request.credential, request.kind)
            if claims is None:
                return None
            if claims.get("active") is True:
                return False
            # authentik answers inactive to any client but the issuing one, even for a live token: only the
            # issuer's own confidential client can tell dead from live.
            return True if self._issued_to_us(request.credential) else None
        return None

    def _issued_to_us(self, token: Secret) -> bool:
        if self._client is None or self._client.secret is None:
            return False
        claims = _jwt_claims(token)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        return self._client.client_id in (claims.get("azp"), *audiences)

    def resolve(self, request: ActionRequest) -> Subject | None:
        """Who it is, read-only (runs under the dry-run guard): the session's user by uid, the API token's
        owner by `users/me` with the token, an OAuth token's subject by introspection."""
        try:
            if request.verb == Verb.DELETE_API_TOKEN and request.credential is not None:
                return self._owner_of(request.credential).subject(self.name)
            if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
                claims = self._introspect(request.credential, request.kind) or {}
                sub = claims.get("sub")
                if claims.get("active") is True and isinstance(sub, str) and sub:
                    login = claims.get("preferred_username") or claims.get("email") or ""
                    return Subject(self.name, sub, str(login))
            if request.subject is not None:
                return self._user_by_uid(request.subject.user_id).subject(self.name)
        except _Stop:
            pass
        return request.subject

    def check(self) -> CheckResult:
        me = f"{self._api}/core/users/me/"
        try:
            response = self._send("GET", "/core/users/me/")
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {me}: {type(exc).__name__} (wrong base_url?)")
        if response.status_code in (401, 403):
            return CheckResult(
                False, f"responder's API token was refused (HTTP {response.status_code}): token invalid or expired"
            )
        if response.status_code != 200:
            return CheckResult(False, f"GET {me} answered HTTP {response.status_code}: wrong base_url?")
        try:
            user = _User.from_api(_json(response, "users/me").get("user") or {})
        except _Stop:
            user = None
        if user is None:
            return CheckResult(False, f"GET {me} did not answer as authentik does: wrong base_url?")
        missing, problems = [], []
        for path, permission in _PERMISSION_PROBES:
            try:
                probe = self._send("GET", path, {"page_size": 1})
            except httpx.HTTPError as exc:
                problems.append(f"GET {path}: {type(exc).__name__}")
                continue
            if probe.status_code == 403:
                missing.append(permission)
            elif probe.status_code != 200:
                problems.append(f"GET {path} answered HTTP {probe.status_code}")
        problems += self._check_client()
        if missing:
            problems.insert(0, f"missing permission {', '.join(missing)}")
        if problems:
            return CheckResult(False, f"authenticated as {user.username}, but: {'; '.join(problems)}")
        client = f"; OAuth client {self._client.client_id!r} accepted" if self._client else ""
        return CheckResult(True, f"authenticated as {user.username}; may read users, sessions and tokens{client}")

    def _check_client(self) -> list[str]:
        if self._client is None:
            return []
        try:
            response = self._oauth(self._client, "/application/o/introspect/", _CHECK_TOKEN, read_only=True)
        except httpx.HTTPError as exc:
            return [f"introspection endpoint unreachable: {type(exc).__name__}"]
        if response.status_code == 401:
            return [f"client credentials refused for OAuth client {self._client.client_id!r}"]
        if response.status_code != 200:
            return [f"introspection answered HTTP {response.status_code}"]
        return []

    def close(self) -> None:
        self._http.close()


# ---- helpers -----------------------------------------------------------------------------------------


def _usable_sub(sub: str | None) -> str | None:
    """A user's uid from a JWT `sub`; not the anonymous session's, not a masked value."""
    if not sub or sub == "anonymous" or sub.startswith(("fingerprint:", "sha256:")):
        return None
    return sub


def _json(response: httpx.Response, step: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _Stop(
            Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not authentik's JSON (wrong base_url?)")
        )
    return body


def _token_refused(response: httpx.Response) -> bool:
    """authentik answers 403 both to a bad token ("Token invalid/expired", "credentials were not provided")
    and to a missing permission; only the detail tells them apart. The detail is read, never repeated."""
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        return False
    text = str(detail).lower()
    return "token invalid" in text or "not provided" in text or "invalid token" in text


def _request_id(response: httpx.Response) -> str:
    return str(response.headers.get("x-request-id", ""))


def _jwt_claims(token: Secret) -> dict[str, Any]:
    """A JWT's payload, unverified: used only to tell whose client a token was issued to."""
    parts = token.reveal().split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}
