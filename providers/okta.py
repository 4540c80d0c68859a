"""Okta: ends leaked Okta sessions, a leaked SSWS API token and OAuth tokens through the org's APIs under the
configured `base_url` (an `*.okta.com` org or a custom domain alike), with responder's own SSWS API token.

What a finding becomes (see docs/providers/okta.md):
- Classic Engine `sid` cookie: its value is the session id. `end_session`: `DELETE /api/v1/sessions/{id}`.
- Identity Engine `idx` cookie (opaque): `end_all_sessions` of its user, found with the cookie itself
  (`GET /api/v1/users/me`, a read) or, failing that, from the artifact's other Okta tokens (`uid` / `sub`).
  `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` also revokes the user's OAuth tokens.
- SSWS API token: `delete_api_token`. Okta offers no read that maps a token value to its id, so the token
  revokes itself (`DELETE /api/v1/api-tokens/current`, the one call the leaked value is used for that is
  not a read), after `GET /api/v1/users/me` with it has named its owner.
- OAuth tokens of the configured client: `revoke_token` (RFC 7009) at the issuing authorization server,
  with introspection (RFC 7662) first. Tokens of other clients, when they name their user: that user's
  `end_all_sessions` (which revokes their tokens too).
- Panic (`panic_verbs`): `end_all_sessions`, exactly one call per user; its verification cannot be had
  from Okta (there is no list of a user's sessions) and costs no call.

Every call goes through `_send` (API) or `_oauth` (authorization servers). No retries or sleeps here: the
engine retries, and the injected client paces on X-Rate-Limit-*. No secret ever appears in an Outcome, a log
line or an exception text raised here."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field as PydanticField
from pydantic import SecretStr, field_validator, model_validator

from providers._oauth import ClientCredentials
from providers._settings import PluginSettings, service_url, validate_settings
from responder.errors import ConfigError, DirectoryError
from responder.http import READ_ONLY, outcome_for_status
from responder.interfaces import CheckResult
from responder.model import (
    ActionRequest,
    Field,
    Finding,
    Kind,
    Outcome,
    OutcomeStatus,
    Subject,
    Target,
    Verb,
)
from responder.secret import Secret, read_secret

SESSION_ID_COOKIE = "sid"  # Classic Engine: the value is the session id
IDX_COOKIE = "idx"  # Identity Engine: opaque
PAGE_SIZE = 200  # Okta's recommended page size for users and group members
MAX_PAGES = 5000  # 1,000,000 objects: beyond that something is wrong (a loop), not a big directory
ORG_SERVER = "org"  # `authorization_server` value naming the org authorization server (/oauth2/v1)

# Users in these states hold no session: STAGED users were never activated, and deactivation (DEPROVISIONED)
# ends a user's sessions. SUSPENDED and LOCKED_OUT users are kept: one call is cheap, a live session is not.
NO_SESSION_STATUSES = frozenset({"STAGED", "DEPROVISIONED"})

# What a 403 means is missing, per call (OAuth scope for a service app; the admin role for an SSWS token).
READ_USERS = "okta.users.read (an admin role that may view the user)"
READ_GROUPS = "okta.groups.read (an admin role that may view the group)"
READ_SESSIONS = "okta.sessions.read (an admin role that may view the user's sessions)"
MANAGE_SESSIONS = "okta.sessions.manage (an admin role that may clear the user's sessions)"
CLEAR_SESSIONS = (
    "okta.users.manage (an admin role that may clear this user's sessions: Super, Org, Group or Help Desk "
    "administrator, or a custom role with okta.users.lifecycle.clearSessions over the user)"
)

_OKTA_ID = re.compile(r"[0-9A-Za-z]{20}")  # user 00u…, group 00g…, app/client 0oa…
_API_TOKEN = re.compile(r"00[0-9A-Za-z_-]{40}")  # SSWS token shape (secret scanners; not in Okta's docs)
_SERVER_ID = re.compile(r"[0-9A-Za-z]{1,64}")  # custom authorization server id, e.g. "default", "aus…"
_SERVER_PATH = re.compile(r"/oauth2/([0-9A-Za-z]{1,64})/?")
_CHECK_TOKEN = Secret("responder-provider-check")  # introspecting a made-up token proves client auth only
_READ_COOKIE = "(none: the cookie is its own credential)"
_REVOKE_CURRENT = "/api/v1/api-tokens/current"  # revokes the API token that authenticates the call


class OktaSettings(PluginSettings):
    plugin: Literal["okta"]
    base_url: str = PydanticField(
        description="the org's root URL (https://acme.okta.com or a custom domain), without /api/v1"
    )
    token: SecretStr | None = PydanticField(
        default=None,
        description="responder's SSWS API token (exactly one of token, _file, _env); keep it out of this file",
    )
    token_file: Path | None = PydanticField(default=None, description="file holding responder's SSWS API token")
    token_env: str | None = PydanticField(
        default=None, description="environment variable holding responder's SSWS API token"
    )
    client_id: str | None = PydanticField(
        default=None,
        description="optional: the OAuth app whose own leaked tokens responder may revoke by value",
    )
    client_secret: SecretStr | None = PydanticField(
        default=None, description="client_id's secret; without one the app is a public client"
    )
    client_secret_file: Path | None = PydanticField(default=None, description="file holding client_id's secret")
    client_secret_env: str | None = PydanticField(
        default=None, description="environment variable holding client_id's secret"
    )
    authorization_server: str | None = PydanticField(
        default=None,
        description="authorization server (default, aus… or org) where client_id's opaque tokens are revoked",
    )
    forget_devices: bool | None = PydanticField(
        default=None, description="also forget remembered factors when ending sessions; unset: Okta's default applies"
    )

    @field_validator("base_url")
    @classmethod
    def _org_url(cls, value: str) -> str:
        parts = service_url(value, "base_url must be the Okta org's URL, e.g. https://acme.okta.com or a custom domain")
        if parts.path.strip("/"):
            raise ValueError("base_url is the org's root URL, without /api/v1 or /oauth2/…")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("authorization_server")
    @classmethod
    def _server_id(cls, value: str | None) -> str | None:
        if value is not None and value != ORG_SERVER and not _SERVER_ID.fullmatch(value):
            raise ValueError(f"give a custom authorization server's id (e.g. default, aus…), or {ORG_SERVER!r}")
        return value

    @model_validator(mode="after")
    def _secret_needs_client(self) -> OktaSettings:
        if self.client_id is None and (self.client_secret or self.client_secret_file or self.client_secret_env):
            raise ValueError("client_secret is for the OAuth client named by client_id: set client_id too")
        if self.authorization_server is not None and self.client_id is None:
            raise ValueError("authorization_server is where client_id's tokens are revoked: set client_id too")
        return self


@dataclass(frozen=True, slots=True)
class _User:
    id: str
    login: str
    status: str

    @classmethod
    def from_api(cls, item: object) -> _User | None:
        if not isinstance(item, dict):
            return None
        user_id, profile = item.get("id"), item.get("profile")
        if not isinstance(user_id, str) or not user_id or not isinstance(profile, dict):
            return None
        login = profile.get("login") or profile.get("email") or ""
        status = item.get("status")
        return cls(user_id, str(login), status if isinstance(status, str) else "")

    def subject(self, provider: str) -> Subject:
        return Subject(provider, self.id, self.login)


@dataclass(frozen=True, slots=True)
class _Leaked:
    """How the leaked value authenticates a read: as an SSWS API token, or as a session cookie."""

    value: Secret
    cookie: str | None = None  # the cookie name; None: an API token

    def headers(self) -> dict[str, str]:
        if self.cookie is None:
            return {"Authorization": f"SSWS {self.value.reveal()}"}
        return {"Cookie": f"{self.cookie}={self.value.reveal()}"}


class _Stop(Exception):
    """Ends an action early with this outcome (a failed look-up, an unexpected answer)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class OktaProvider:
    plugin: ClassVar[str] = "okta"
    settings_model: ClassVar[type[PluginSettings]] = OktaSettings
    panic_verbs: ClassVar[tuple[str, ...]] = (Verb.END_ALL_SESSIONS.value,)

    def __init__(self, settings: OktaSettings, client: httpx.Client) -> None:
        self.name = settings.name
        self._base = settings.base_url
        base = urlsplit(settings.base_url)
        self._origin = (base.scheme, base.netloc.lower())
        self._hosts = frozenset(h.lower() for h in settings.hosts) | {(base.hostname or "").lower()}
        where = f"providers.{settings.name}"
        token = read_secret(f"{where}.token", settings.token, settings.token_file, settings.token_env)
        if token is None:
            raise ConfigError(f"{where}: set token_file or token_env to responder's Okta API token (SSWS)")
        # Operators often copy the whole header value; the prefix is added per request.
        raw = token.reveal()
        self._token = Secret(raw[5:].strip()) if raw[:5].lower() == "ssws " else token
        secret = read_secret(
            f"{where}.client_secret", settings.client_secret, settings.client_secret_file, settings.client_secret_env
        )
        self._client = ClientCredentials(settings.client_id, secret) if settings.client_id else None
        self._server = settings.authorization_server
        self._forget_devices = settings.forget_devices
        # httpx keeps Set-Cookie answers and replays them: a refreshed `idx` of a victim's session would then
        # ride along on every later call. Nothing responder sends relies on a cookie jar.
        client.cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._http = client

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> OktaProvider:
        return cls(validate_settings(OktaSettings, dict(table)), client)

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        value = finding.value.reveal()
        if finding.kind is Kind.SESSION_COOKIE:
            return self._plan_cookie(finding, related)
        if finding.kind is Kind.API_KEY:
            is_ssws = "ssws" in finding.label.lower() or _API_TOKEN.fullmatch(value) is not None
            return (Target(Verb.DELETE_API_TOKEN, uses_credential=True),) if is_ssws else ()
        if finding.kind not in (Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.JWT):
            return ()
        if value.count(".") == 2:
            return self._plan_jwt(_jwt_claims(value), related)
        if finding.kind is not Kind.REFRESH_TOKEN:
            return ()  # Okta's access tokens are JWTs; an opaque bearer here is not Okta's to revoke
        # An opaque refresh token names neither its client nor its authorization server: revocable by value
        # only where responder's client and server are configured and no other token of the artifact says
        # it came from another client or server (Okta answers 200 to a revocation it ignores).
        subject = self._related_subject(related)
        if self._client is not None and self._server is not None and self._related_agree(related):
            return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=subject),)
        # Ending its user's sessions (oauthTokens=true) ends it; without a subject the planner records the
        # finding as needs_subject, for a person to name the user.
        return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),)

    def _plan_cookie(self, finding: Finding, related: Sequence[Finding]) -> tuple[Target, ...]:
        names = {loc.name for loc in finding.locations if loc.field in (Field.COOKIE, Field.SET_COOKIE)}
        subject = self._related_subject(related)
        if SESSION_ID_COOKIE in names:
            return (Target(Verb.END_SESSION, uses_credential=True, subject=subject),)
        if IDX_COOKIE in names:
            # The cookie itself names its user (GET /api/v1/users/me, a read), so it is kept for the action.
            return (Target(Verb.END_ALL_SESSIONS, uses_credential=True, subject=subject),)
        return ()  # JSESSIONID, X-Okta-Session-Id and the like: no API maps them to a session

    def _plan_jwt(self, claims: Mapping[str, Any], related: Sequence[Finding]) -> tuple[Target, ...]:
        if self._server_path(claims.get("iss")) is None:
            return ()
        subject = self._subject_of(claims) or self._related_subject(related)
        if self._client is not None and claims.get("cid") == self._client.client_id:
            return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=subject),)
        if subject is None:
            return ()  # e.g. another client's client-credentials token: names no user
        # Okta lets a client revoke only its own tokens; the user's tokens all go with their sessions.
        return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),)

    def _subject_of(self, claims: Mapping[str, Any]) -> Subject | None:
        """The Okta user a token names: an access token's `uid`, an ID token's `sub` (a user id, `00u…`).
        An access token's `sub` is the login, and a client-credentials token's `sub` is the client id."""
        for claim in ("uid", "sub"):
            value = claims.get(claim)
            if isinstance(value, str) and value.startswith("00u") and _OKTA_ID.fullmatch(value):
                return Subject(self.name, value)
        return None

    def _related_subject(self, related: Sequence[Finding]) -> Subject | None:
        """The one user the artifact's other Okta tokens of this org name; None when none or several."""
        users = {
            subject.user_id
            for other in related
            if other.kind in (Kind.ID_TOKEN, Kind.ACCESS_TOKEN, Kind.JWT)
            and other.value.reveal().count(".") == 2
            and (claims := _jwt_claims(other.value.reveal()))
            and self._server_path(claims.get("iss")) is not None
            and (subject := self._subject_of(claims)) is not None
        }
        return Subject(self.name, users.pop()) if len(users) == 1 else None

    def _related_agree(self, related: Sequence[Finding]) -> bool:
        """No access token of the artifact was issued to another client or by another server than the
        configured ones (the refresh token usually came in the same token response)."""
        wanted = self._server_base(self._server or ORG_SERVER)
        for other in related:
            if other.kind not in (Kind.ACCESS_TOKEN, Kind.JWT) or other.value.reveal().count(".") != 2:
                continue
            claims = _jwt_claims(other.value.reveal())
            server = self._server_path(claims.get("iss"))
            if server is None or "cid" not in claims:
                continue
            if server != wanted or (self._client is not None and claims["cid"] != self._client.client_id):
                return False
        return True

    def _server_path(self, issuer: object) -> str | None:
        """`/oauth2/v1` or `/oauth2/{id}/v1` for an issuer of this org (its host in `hosts`/`base_url`), else
        None. The issuer only selects: the call always goes to base_url."""
        if not isinstance(issuer, str):
            return None
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in self._hosts:
            return None
        if parts.path.strip("/") == "":
            return self._server_base(ORG_SERVER)
        match = _SERVER_PATH.fullmatch(parts.path)
        return self._server_base(match[1]) if match else None

    @staticmethod
    def _server_base(server: str) -> str:
        return "/oauth2/v1" if server == ORG_SERVER else f"/oauth2/{server}/v1"

    # ---- I/O: the one chokepoint for the API -------------------------------------------------------

    def _send(
        self, method: str, target: str, params: Mapping[str, str | int] | None = None, *, leaked: _Leaked | None = None
    ) -> httpx.Response:
        """`{base_url}{target}` (or a next-page URL already checked to be on base_url) with responder's
        `Authorization: SSWS`. With `leaked`, authenticated by the leaked value instead: a read, or the
        token's revocation of itself."""
        if not target.startswith("/") and not self._same_origin(target):
            raise ValueError("only base_url is ever called")
        if leaked is not None and method != "GET" and not (leaked.cookie is None and target == _REVOKE_CURRENT):
            raise ValueError("the leaked credential is only used for reads and to revoke itself")
        headers = {"Accept": "application/json"}
        headers.update(leaked.headers() if leaked else {"Authorization": f"SSWS {self._token.reveal()}"})
        url = self._base + target if target.startswith("/") else target
        return self._http.request(method, url, params=params, headers=headers)

    def _same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc.lower()) == self._origin

    def _pages(
        self, path: str, params: Mapping[str, str | int], step: str, permission: str
    ) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list, following `Link: <…>; rel="next"` on base_url only."""
        target: str = path
        query: Mapping[str, str | int] | None = params
        for _ in range(MAX_PAGES):
            response = self._send("GET", target, query)
            if response.status_code != 200:
                raise _Stop(self._failure(response, step, permission))
            items = _json(response, step)
            if not isinstance(items, list):
                raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not a list"))
            yield from (item for item in items if isinstance(item, dict))
            following = response.links.get("next", {}).get("url")
            if not following or not items:
                return
            if not self._same_origin(following):
                shown = urlsplit(following)
                raise _Stop(
                    Outcome(
                        OutcomeStatus.FAILED_PERMANENT,
                        f"{step}: the next-page link points to {shown.scheme}://{shown.netloc}, not to {self._base}: "
                        "not followed",
                    )
                )
            target, query = following, None
        raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: more than {MAX_PAGES} pages"))

    def _failure(
        self, response: httpx.Response, step: str, permission: str, *, gone: bool = False, missing: str = ""
    ) -> Outcome:
        """One meaning per status: Okta's 404 (E0000007) on the object itself is already invalid (only with
        `gone`), otherwise `missing`; 429/5xx transient (retry_after from Retry-After / X-Rate-Limit-Reset);
        401 a refused token; 403 a missing permission, named. Okta's errorCode is kept, its text is not."""
        okta_404 = response.status_code == 404 and _error_code(response) != ""
        outcome = outcome_for_status(response, target_gone=frozenset({404}) if gone and okta_404 else frozenset())
        code, error, status = response.status_code, _error_code(response), _status(response)
        if outcome.status is not OutcomeStatus.FAILED_PERMANENT:
            gone_note = "" if outcome.status is OutcomeStatus.FAILED_TRANSIENT else ": already gone"
            detail = f"{step}: {status}{gone_note}"
        elif code == 401:
            detail = f"{step}: {status}: responder's API token was refused (invalid, expired or revoked)"
        elif code == 403:
            detail = f"{step}: {status}: responder lacks the permission {permission}"
        elif code == 404 and okta_404 and missing:
            detail = f"{step}: {status}: {missing}"
        elif code in (404, 405) or not error:
            detail = f"{step}: {status}: not Okta's answer (is base_url the Okta org's URL?)"
        else:
            detail = f"{step}: {status}"
        return Outcome(outcome.status, detail, outcome.provider_request_id, outcome.retry_after)

    # ---- look-ups with the leaked value --------------------------------------------------------------

    def _cookie_owner(self, name: str, cookie: Secret) -> _User | None:
        """Whose session cookie this is: `GET /api/v1/users/me` with only the cookie (Okta's getUser: "me" is
        the user of the API token or session cookie). None when the cookie signs no one in any more."""
        response = self._send("GET", "/api/v1/users/me", leaked=_Leaked(cookie, name))
        if response.status_code in (401, 403, 404):
            return None
        if response.status_code != 200:
            raise _Stop(self._failure(response, "find the cookie's user", _READ_COOKIE))
        return self._user_answer(response, "find the cookie's user")

    def _token_owner(self, token: Secret) -> _User:
        """Whose API token this is: `GET /api/v1/users/me` with it answers the admin who created it."""
        response = self._send("GET", "/api/v1/users/me", leaked=_Leaked(token))
        if response.status_code == 401:
            raise _Stop(
                Outcome(
                    OutcomeStatus.ALREADY_INVALID,
                    "the leaked API token no longer authenticates (" + _status(response) + ")",
                    _request_id(response),
                )
            )
        if response.status_code == 403:
            raise _Stop(
                Outcome(
                    OutcomeStatus.FAILED_PERMANENT,
                    "the leaked API token is refused from responder's network (HTTP 403; a network restriction on "
                    "the token?): revoke it in the Admin Console, Security > API > Tokens",
                    _request_id(response),
                )
            )
        if response.status_code != 200:
            raise _Stop(self._failure(response, "find the token's owner", "(none: any valid token may)"))
        return self._user_answer(response, "find the token's owner")

    def _user_answer(self, response: httpx.Response, step: str) -> _User:
        user = _User.from_api(_json(response, step))
        if user is None:
            raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer names no Okta user"))
        return user

    def _session(self, session_id: Secret) -> tuple[httpx.Response, Subject | None]:
        """`GET /api/v1/sessions/{id}`: the answer and, when found, the session's user."""
        response = self._send("GET", _session_path(session_id))
        if response.status_code != 200:
            return response, None
        body = _object(response, "read the session")
        user_id, login = body.get("userId"), body.get("login")
        if not isinstance(user_id, str) or not user_id:
            return response, None
        return response, Subject(self.name, user_id, login if isinstance(login, str) else "")

    # ---- execute -----------------------------------------------------------------------------------

    def execute(self, request: ActionRequest) -> Outcome:
        handlers: dict[str, Callable[[ActionRequest], Outcome]] = {
            Verb.END_ALL_SESSIONS: self._end_all_sessions,
            Verb.END_SESSION: self._end_session,
            Verb.DELETE_API_TOKEN: self._delete_api_token,
            Verb.REVOKE_TOKEN: self._revoke_token,
        }
        handler = handlers.get(request.verb)
        if handler is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, f"the okta plugin cannot {request.verb}")
        try:
            return handler(request)
        except _Stop as stop:
            return stop.outcome

    def _end_all_sessions(self, request: ActionRequest) -> Outcome:
        """One `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` when the user is known (a panic); for an
        `idx` cookie, first the cookie's own user (the other tokens of the artifact are only evidence)."""
        subject, note = request.subject, ""
        cookie = _session_cookie(request)
        if cookie is not None:
            owner = self._cookie_owner(IDX_COOKIE, cookie)
            if owner is not None:
                if subject is not None and subject.user_id != owner.id:
                    note = " (the cookie's own user; the artifact's other tokens named another)"
                subject = owner.subject(self.name)
            elif subject is None:
                return Outcome(
                    OutcomeStatus.ALREADY_INVALID,
                    "the idx cookie signs no one in at Okta any more (ended or expired; a session bound to the "
                    "browser's network answers the same)",
                )
        if subject is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, f"{request.verb} needs the user's Okta id; none given")
        return self._end_user_sessions(subject, note)

    def _end_user_sessions(self, subject: Subject, note: str = "") -> Outcome:
        params: dict[str, str | int] = {"oauthTokens": "true"}
        if self._forget_devices is not None:
            params["forgetDevices"] = "true" if self._forget_devices else "false"
        response = self._send("DELETE", f"/api/v1/users/{quote(subject.user_id, safe='')}/sessions", params)
        if response.is_success:
            detail = "ended every Okta session of the user and revoked their OAuth tokens" + note
            return Outcome(OutcomeStatus.REVOKED, detail, _request_id(response), subject=subject)
        missing = f"no Okta user has the id {subject.user_id} (deleted, or a user of another org)"
        return replace(self._failure(response, "end sessions", CLEAR_SESSIONS, missing=missing), subject=subject)

    def _end_session(self, request: ActionRequest) -> Outcome:
        """Classic `sid`: read the session (its user), then delete it by id. Okta's 404 means it ended, or that
        the org runs Identity Engine, where sessions are not addressed by id: the cookie itself tells which."""
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "end session: the session id is not available")
        response, subject = self._session(request.credential)
        subject = subject or request.subject
        if response.status_code == 404 and _error_code(response):
            return self._end_unaddressable(request.credential, subject, _request_id(response))
        if response.status_code == 401 or response.status_code == 429 or response.status_code >= 500:
            return replace(self._failure(response, "read the session", READ_SESSIONS), subject=subject)
        # 403 on the read (no okta.sessions.read) does not stop the delete, which needs its own permission.
        deleted = self._send("DELETE", _session_path(request.credential))
        if deleted.is_success:
            whose = subject.login or subject.user_id if subject else "an unknown user"
            return Outcome(
                OutcomeStatus.REVOKED, f"ended the session of {whose}", _request_id(deleted), subject=subject
            )
        return replace(self._failure(deleted, "end session", MANAGE_SESSIONS, gone=True), subject=subject)

    def _end_unaddressable(self, sid: Secret, subject: Subject | None, request_id: str) -> Outcome:
        owner = self._cookie_owner(SESSION_ID_COOKIE, sid)
        if owner is None:
            return Outcome(
                OutcomeStatus.ALREADY_INVALID, "the session no longer exists at Okta", request_id, subject=subject
            )
        # Still signs in, yet unknown by id (Identity Engine): only all of the user's sessions can be ended.
        return self._end_user_sessions(
            owner.subject(self.name),
            " (the sid cookie still signed in, but Okta knows no session by its id: Identity Engine)",
        )

    def _delete_api_token(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "delete API token: the leaked value is not available")
        owner = self._token_owner(request.credential)
        subject = owner.subject(self.name)
        response = self._send("DELETE", _REVOKE_CURRENT, leaked=_Leaked(request.credential))
        rid = _request_id(response)
        if response.is_success:
            detail = f"revoked the API token created by {owner.login or owner.id} (the token revoked itself)"
            return Outcome(OutcomeStatus.REVOKED, detail, rid, subject=subject)
        if response.status_code == 401:
            return Outcome(
                OutcomeStatus.ALREADY_INVALID, "the leaked API token no longer authenticates", rid, subject=subject
            )
        if response.status_code == 403:
            detail = "Okta refused the token's revocation of itself (HTTP 403): revoke it in the Admin Console"
            return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, rid, subject=subject)
        return replace(self._failure(response, "revoke API token", "(none)"), subject=subject)

    def _revoke_token(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "revoke token: the leaked value is not available")
        if self._client is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, "RFC 7009 revocation needs client_id (+ client_secret)")
        server, problem = self._server_for(request.credential)
        if server is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, problem, subject=request.subject)
        hint = _hint(request.credential)
        subject = request.subject
        answer = self._oauth(f"{server}/introspect", request.credential, hint, read_only=True)
        if answer.status_code != 200:
            return replace(self._oauth_failure(answer, "introspection"), subject=subject)
        claims = _object(answer, "introspection")
        if claims.get("active") is not True:
            return Outcome(
                OutcomeStatus.ALREADY_INVALID,
                "introspection: inactive (revoked, expired, or not this client's)",
                _request_id(answer),
                subject=subject,
            )
        subject = self._introspected_subject(claims) or subject
        response = self._oauth(f"{server}/revoke", request.credential, hint)
        if response.status_code != 200:
            return replace(self._oauth_failure(response, "revocation"), subject=subject)
        detail = f"revoked at {server}/revoke"
        if hint == "access_token":
            detail += " (resource servers that check the JWT themselves accept it until it expires)"
        return Outcome(OutcomeStatus.REVOKED, detail, _request_id(response), subject=subject)

    def _server_for(self, token: Secret) -> tuple[str | None, str]:
        """The authorization server that issued a token of responder's client: a JWT's `iss`, else the
        configured `authorization_server`. Returns (path, "") or (None, why not)."""
        assert self._client is not None  # callers check
        if token.reveal().count(".") != 2:
            if self._server is None:
                return None, "an opaque token names no authorization server: set authorization_server"
            return self._server_base(self._server), ""
        claims = _jwt_claims(token.reveal())
        server = self._server_path(claims.get("iss"))
        if server is None:
            return None, "the token's issuer is not this Okta org"
        client = claims.get("cid")
        if isinstance(client, str) and client != self._client.client_id:
            return None, f"issued to client {client}; Okta lets a client revoke only its own tokens"
        return server, ""

    def _introspected_subject(self, claims: Mapping[str, Any]) -> Subject | None:
        uid = claims.get("uid")  # only for an end user's access token; a refresh token's `sub` is the login
        if not isinstance(uid, str) or not uid:
            return None
        login = claims.get("username")
        return Subject(self.name, uid, login if isinstance(login, str) else "")

    def _oauth(self, path: str, token: Secret, hint: str, *, read_only: bool = False) -> httpx.Response:
        """RFC 7009 / RFC 7662 at `{base_url}{path}`, authenticated as the configured client
        (client_secret_basic; a public client sends client_id in the form)."""
        assert self._client is not None  # callers check
        form, auth = self._client.apply({"token": token.reveal(), "token_type_hint": hint})
        return self._http.post(
            self._base + path,
            data=form,
            auth=auth or httpx.USE_CLIENT_DEFAULT,
            headers={"Accept": "application/json"},
            extensions=READ_ONLY if read_only else None,
        )

    def _oauth_failure(self, response: httpx.Response, step: str) -> Outcome:
        """No 404 reading here: RFC 7009/7662 never mean "gone"."""
        outcome = outcome_for_status(response, target_gone=frozenset())
        error = _oauth_error(response)
        detail = f"{step}: {outcome.detail}" + (f" ({error})" if error else "")
        if response.status_code == 401 and self._client is not None:
            detail = f"{step}: HTTP 401: client credentials refused for client {self._client.client_id!r}"
        elif response.status_code in (404, 405):
            detail = f"{step}: HTTP {response.status_code}: no such authorization server at base_url"
        return replace(outcome, detail=detail)

    # ---- verify, resolve, check --------------------------------------------------------------------

    def verify(self, request: ActionRequest) -> bool | None:
        """Is it dead now? A panic's `end_all_sessions` (no cookie) makes no call: Okta cannot list a
        user's sessions, and repeating the DELETE would prove nothing."""
        credential = request.credential
        if credential is None:
            return None
        try:
            if request.verb == Verb.END_ALL_SESSIONS:
                cookie = _session_cookie(request)
                return None if cookie is None else self._cookie_owner(IDX_COOKIE, cookie) is None
            if request.verb == Verb.END_SESSION:
                response, _ = self._session(credential)
                if response.status_code == 404 and _error_code(response):  # ended, or Identity Engine
                    return self._cookie_owner(SESSION_ID_COOKIE, credential) is None
                return False if response.status_code == 200 else None
            if request.verb == Verb.DELETE_API_TOKEN:
                response = self._send("GET", "/api/v1/users/me", leaked=_Leaked(credential))
                return _dead_if(response, dead=401, live=200)
            if request.verb == Verb.REVOKE_TOKEN:
                return self._verify_revoked(credential)
        except _Stop:
            return None
        return None

    def _verify_revoked(self, token: Secret) -> bool | None:
        if self._client is None or _hint(token) == "access_token":
            return None  # a JWT access token stays valid for resource servers that check it themselves
        server, _ = self._server_for(token)
        if server is None:
            return None
        answer = self._oauth(f"{server}/introspect", token, "refresh_token", read_only=True)
        if answer.status_code != 200:
            return None
        active = _object(answer, "introspection").get("active")
        return None if not isinstance(active, bool) else not active

    def resolve(self, request: ActionRequest) -> Subject | None:
        """Who it is, by reads only (runs under the dry-run guard). A subject already known costs no call."""
        if request.subject is not None or request.credential is None:
            return request.subject
        credential = request.credential
        try:
            if request.verb == Verb.END_ALL_SESSIONS:
                cookie = _session_cookie(request)
                owner = self._cookie_owner(IDX_COOKIE, cookie) if cookie is not None else None
                return owner.subject(self.name) if owner else None
            if request.verb == Verb.END_SESSION:
                response, subject = self._session(credential)
                if response.status_code == 404 and _error_code(response):
                    owner = self._cookie_owner(SESSION_ID_COOKIE, credential)
                    return owner.subject(self.name) if owner else None
                return subject
            if request.verb == Verb.DELETE_API_TOKEN:
                return self._token_owner(credential).subject(self.name)
            if request.verb == Verb.REVOKE_TOKEN and self._client is not None:
                server, _ = self._server_for(credential)
                if server is None:
                    return None
                answer = self._oauth(f"{server}/introspect", credential, _hint(credential), read_only=True)
                if answer.status_code == 200:
                    claims = _object(answer, "introspection")
                    return self._introspected_subject(claims) if claims.get("active") is True else None
        except _Stop:
            pass
        return None

    def check(self) -> CheckResult:
        me = f"{self._base}/api/v1/users/me"
        try:
            response = self._send("GET", "/api/v1/users/me")
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {me}: {type(exc).__name__} (wrong base_url?)")
        code = response.status_code
        if code == 401:
            return CheckResult(False, "responder's API token was refused (HTTP 401): invalid, expired or revoked")
        if code == 403:
            return CheckResult(False, "responder's API token is refused from here (HTTP 403): network restriction?")
        if code != 200:
            return CheckResult(False, f"GET {me} answered HTTP {code}: wrong base_url?")
        try:
            admin = self._user_answer(response, "users/me")
        except _Stop:
            return CheckResult(False, f"GET {me} did not answer as Okta does: wrong base_url?")
        missing, problems = [], []
        for path, permission in (("/api/v1/users", READ_USERS), ("/api/v1/groups", READ_GROUPS)):
            try:
                probe = self._send("GET", path, {"limit": 1})
            except httpx.HTTPError as exc:
                problems.append(f"GET {path}: {type(exc).__name__}")
                continue
            if probe.status_code == 403:
                missing.append(permission)
            elif probe.status_code != 200:
                problems.append(f"GET {path} answered HTTP {probe.status_code}")
        problems += self._check_client()
        if missing:
            problems.insert(0, f"missing permission {'; '.join(missing)}")
        who = admin.login or admin.id
        if problems:
            return CheckResult(False, f"authenticated as {who}, but: {'; '.join(problems)}")
        client = ""
        if self._client is not None:
            client = (
                f"; OAuth client {self._client.client_id!r} accepted at {self._server_base(self._server or ORG_SERVER)}"
            )
        return CheckResult(
            True,
            f"authenticated as {who}; may read users and groups{client} (clearing sessions cannot be tried "
            "harmlessly: the admin role decides it, see the docs)",
        )

    def _check_client(self) -> list[str]:
        if self._client is None:
            return []
        path = self._server_base(self._server or ORG_SERVER) + "/introspect"
        try:
            response = self._oauth(path, _CHECK_TOKEN, "access_token", read_only=True)
        except httpx.HTTPError as exc:
            return [f"introspection endpoint unreachable: {type(exc).__name__}"]
        if response.status_code == 401:
            return [f"client credentials refused for OAuth client {self._client.client_id!r}"]
        if response.status_code != 200:
            return [f"POST {path} answered HTTP {response.status_code}"]
        return []

    def close(self) -> None:
        self._http.close()

    # ---- directory (panic) -------------------------------------------------------------------------

    def find_user(self, query: str) -> Subject | None:
        """By id or login (`GET /api/v1/users/{id-or-login}`), then by email (`search=profile.email eq`).
        A login with `/` cannot be fetched by path (Okta's getUser) and is searched for instead."""
        query = query.strip()
        if not query:
            raise DirectoryError(f"{self.name}: an empty user query")
        try:
            if "/" not in query:
                response = self._send("GET", f"/api/v1/users/{quote(query, safe='')}")
                if response.status_code == 200:
                    return self._user_answer(response, "find user").subject(self.name)
                if response.status_code != 404 or not _error_code(response):
                    raise _Stop(self._failure(response, f"find user {query!r}", READ_USERS))
            if "@" not in query and "/" not in query:
                return None
            field = "profile.login" if "/" in query else "profile.email"
            return self._only_user(query, f'{field} eq "{_search_literal(query)}"')
        except _Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _only_user(self, query: str, search: str) -> Subject | None:
        found = {
            user.id: user
            for item in self._pages("/api/v1/users", {"search": search}, f"search user {query!r}", READ_USERS)
            if (user := _User.from_api(item)) is not None
        }
        if len(found) > 1:
            ids = ", ".join(sorted(found))
            raise DirectoryError(f"{self.name}: {len(found)} Okta users match {query!r} ({ids}): give the user's id")
        return next(iter(found.values())).subject(self.name) if found else None

    def group_members(self, group: str) -> Iterator[Subject]:
        """Every member of the group with this exact name (or id) who can hold a session."""
        try:
            group_id = self._group_id(group.strip())
            path = f"/api/v1/groups/{quote(group_id, safe='')}/users"
            yield from self._subjects(
                self._pages(path, {"limit": PAGE_SIZE}, f"list members of {group!r}", READ_GROUPS)
            )
        except _Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _group_id(self, group: str) -> str:
        if not group:
            raise DirectoryError(f"{self.name}: an empty group name")
        if group.startswith("00g") and _OKTA_ID.fullmatch(group):
            response = self._send("GET", f"/api/v1/groups/{group}")
            if response.status_code == 200:
                return group
            if response.status_code != 404 or not _error_code(response):
                raise _Stop(self._failure(response, f"read group {group!r}", READ_GROUPS))
        # `search` pages and matches the whole name (case-insensitively); `q` is a prefix match capped at 300
        # results without paging, so an exact name could be cut off.
        search: dict[str, str | int] = {"search": f'profile.name eq "{_search_literal(group)}"', "limit": PAGE_SIZE}
        groups = [
            (str(item["id"]), str((item.get("profile") or {}).get("name", "")), str(item.get("type", "")))
            for item in self._pages("/api/v1/groups", search, f"find group {group!r}", READ_GROUPS)
            if isinstance(item.get("id"), str)
        ]
        exact = [g for g in groups if g[1] == group] or [g for g in groups if g[1].casefold() == group.casefold()]
        if not exact:
            raise DirectoryError(f"{self.name}: no Okta group is named {group!r}")
        if len(exact) > 1:
            listed = ", ".join(f"{gid} ({kind})" for gid, _, kind in exact)
            raise DirectoryError(f"{self.name}: {len(exact)} Okta groups are named {group!r}: {listed}; give the id")
        return exact[0][0]

    def all_users(self) -> Iterator[Subject]:
        """Every user who can hold a session. The plain list already omits DEPROVISIONED users."""
        try:
            yield from self._subjects(self._pages("/api/v1/users", {"limit": PAGE_SIZE}, "list users", READ_USERS))
        except _Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: httpx.HTTPError) -> DirectoryError:
        return DirectoryError(f"{self.name}: cannot reach {self._base}: {type(exc).__name__}")

    def _subjects(self, items: Iterator[dict[str, Any]]) -> Iterator[Subject]:
        for item in items:
            user = _User.from_api(item)
            if user is not None and user.status not in NO_SESSION_STATUSES:
                yield user.subject(self.name)


# ---- helpers -----------------------------------------------------------------------------------------


def _session_path(session_id: Secret) -> str:
    return f"/api/v1/sessions/{quote(session_id.reveal(), safe='')}"


def _hint(token: Secret) -> str:
    """Okta's access tokens are JWTs and its refresh tokens are opaque."""
    return "access_token" if token.reveal().count(".") == 2 else "refresh_token"


def _session_cookie(request: ActionRequest) -> Secret | None:
    """The leaked value, when it is a session cookie (only then is it sent as one)."""
    return request.credential if request.kind is Kind.SESSION_COOKIE else None


def _dead_if(response: httpx.Response, *, dead: int, live: int) -> bool | None:
    if response.status_code == live:
        return False
    return True if response.status_code == dead else None


def _json(response: httpx.Response, step: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _Stop(
            Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not Okta's JSON (wrong base_url?)")
        ) from None


def _object(response: httpx.Response, step: str) -> dict[str, Any]:
    body = _json(response, step)
    if not isinstance(body, dict):
        raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not a JSON object"))
    return body


def _status(response: httpx.Response) -> str:
    """ "HTTP 403 E0000006": the status and Okta's error code, when there is one."""
    error = _error_code(response)
    return f"HTTP {response.status_code}" + (f" {error}" if error else "")


def _error_code(response: httpx.Response) -> str:
    """Okta's `errorCode` (E0000007 …) when the answer is Okta's error JSON; "" otherwise. Only the code is
    ever repeated: `errorSummary` can echo what was asked for."""
    try:
        body = response.json()
    except ValueError:
        return ""
    code = body.get("errorCode") if isinstance(body, dict) else None
    return code if isinstance(code, str) and re.fullmatch(r"E\d{7}", code) else ""


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and re.fullmatch(r"[a-z_]{1,64}", error) else ""


def _request_id(response: httpx.Response) -> str:
    return str(response.headers.get("x-okta-request-id", ""))


def _search_literal(value: str) -> str:
    """A string inside an Okta search expression's double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified: read only to route (issuer, client, user), never to authorise."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}
