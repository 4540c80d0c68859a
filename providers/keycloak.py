"""Keycloak: ends leaked user sessions, ends all of a user's sessions, revokes a user's offline tokens, and revokes
tokens of responder's own OAuth client (RFC 7009), through the admin REST API under `{base_url}/admin/realms/{realm}`
with a service-account token fetched by client credentials.

What a finding becomes (see docs/providers/keycloak.md). Only what the configured realm issued is acted on: a
token or cookie of another realm (or another Keycloak) could not be ended with this realm's admin rights.
- `KEYCLOAK_IDENTITY` cookie and Keycloak JWTs carrying a session id (`sid`, older `session_state`): end that one
  session (`DELETE /sessions/{sid}`). The value is needed for that (the session id is read from it at execute time).
- `KEYCLOAK_SESSION` in its old clear form `realm/user-id/session-id`: the same, for that session.
- `KEYCLOAK_SESSION` in its current form (SHA-256 of the session id): the user named by the artifact's other tokens;
  the session whose id hashes to the cookie is found in the user's session list and ended.
- `AUTH_SESSION_ID`: all sessions of the user named by the artifact's other tokens (it names nobody itself).
- offline tokens (`typ` Offline): the user's consent and offline tokens for the token's client are revoked.
- access/refresh/offline tokens issued to responder's own client (`client_id`): RFC 7009 revocation.
- a token without a session id that names its user: all of the user's sessions (`POST /users/{id}/logout`,
  which also moves the user's not-before, so older refresh and offline tokens are refused).

Every admin call goes through `_send` (token, one renewal on 401). No retries or sleeps here: the engine retries.
No secret ever appears in an Outcome, a log line or an exception text."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, unquote, urlsplit

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
    subject_from_claims,
    subject_from_related,
)
from responder.secret import Secret, read_secret

PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 users: beyond that something is wrong (a loop), not a big realm
OFFLINE_GRANT = "Offline Token"  # the `additionalGrants[].key` Keycloak lists for a client holding offline tokens

# Client roles of `realm-management` (or of `<realm>-realm` in master). view-users is a composite that includes
# query-users and query-groups.
MANAGE_USERS = "manage-users"
VIEW_USERS = "view-users"
QUERY_USERS = "query-users"
QUERY_GROUPS = "query-groups"

IDENTITY_COOKIE = "KEYCLOAK_IDENTITY"
SESSION_COOKIE = "KEYCLOAK_SESSION"
AUTH_SESSION_COOKIE = "AUTH_SESSION_ID"

_HINTS = {"bearer": "access_token", "refresh": "refresh_token", "offline": "refresh_token"}
_KIND_HINTS = {Kind.ACCESS_TOKEN: "access_token", Kind.REFRESH_TOKEN: "refresh_token"}
_TOKEN_KINDS = frozenset({Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.JWT})
_USER_WIDE_KINDS = frozenset({Kind.SESSION_COOKIE, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN})
_REALM_PATH = re.compile(r"(?:/.*)?/realms/([^/]+)/?")
_SESSION_HASH = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, unpadded
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CHECK_TOKEN = Secret("responder-provider-check")  # introspecting a made-up token proves client auth only


class KeycloakSettings(PluginSettings):
    plugin: Literal["keycloak"]
    base_url: str = PydanticField(
        description="Keycloak's root URL (with /auth for Keycloak 16 and older), not a realm URL"
    )
    realm: str = PydanticField(description="the realm acted on")
    admin_realm: str | None = PydanticField(
        default=None, description="where admin_client_id lives: the realm itself (default, least privilege) or master"
    )
    admin_client_id: str = PydanticField(description="responder's confidential admin client with service-account roles")
    admin_client_secret: SecretStr | None = PydanticField(
        default=None,
        description="admin_client_id's secret (exactly one of this, _file, _env); keep it out of this file",
    )
    admin_client_secret_file: Path | None = PydanticField(
        default=None, description="file holding admin_client_id's secret"
    )
    admin_client_secret_env: str | None = PydanticField(
        default=None, description="environment variable holding admin_client_id's secret"
    )
    client_id: str | None = PydanticField(
        default=None, description="optional: an OAuth client of realm whose leaked tokens are revoked (RFC 7009)"
    )
    client_secret: SecretStr | None = PydanticField(
        default=None, description="client_id's secret; without one it is a public client"
    )
    client_secret_file: Path | None = PydanticField(default=None, description="file holding client_id's secret")
    client_secret_env: str | None = PydanticField(
        default=None, description="environment variable holding client_id's secret"
    )

    @field_validator("base_url")
    @classmethod
    def _root_url(cls, value: str) -> str:
        parts = service_url(
            value,
            "base_url must be the http(s) URL Keycloak is served at, e.g. https://sso.example.com "
            "(with /auth for Keycloak 16 and older)",
        )
        path = parts.path.rstrip("/")
        if "/realms/" in path + "/" or path.endswith("/admin"):
            raise ValueError("base_url is Keycloak's root URL (with /auth if used), not a realm or admin URL")
        return value.rstrip("/")

    @field_validator("realm", "admin_realm")
    @classmethod
    def _realm_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "/" in value):
            raise ValueError("a realm name (as in /realms/<name>/), not a URL")
        return value

    @model_validator(mode="after")
    def _secret_needs_client(self) -> KeycloakSettings:
        if self.client_id is None and (self.client_secret or self.client_secret_file or self.client_secret_env):
            raise ValueError("client_secret is for the OAuth client named by client_id: set client_id too")
        return self


class _Stop(Exception):
    """Ends an action early with this outcome (a refused admin token, a failed look-up, an unexpected answer)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


def _stop(status: OutcomeStatus, detail: str) -> _Stop:
    return _Stop(Outcome(status, detail))


@dataclass(frozen=True, slots=True)
class _User:
    id: str
    username: str
    email: str
    enabled: bool

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> _User | None:
        user_id, username = item.get("id"), item.get("username")
        if not isinstance(user_id, str) or not user_id or not isinstance(username, str):
            return None
        email = item.get("email")
        return cls(user_id, username, email if isinstance(email, str) else "", item.get("enabled") is not False)

    def subject(self, provider: str) -> Subject:
        return Subject(provider, self.id, self.username or self.email)


class _AdminToken:
    """responder's admin access token, fetched by client credentials at the admin realm's token endpoint, cached
    until shortly before it expires. Shared by the engine's threads: one fetch at a time, and a 401 renews the
    token once (not once per thread: a thread renewing a token another thread already replaced takes the new one)."""

    def __init__(
        self, http: httpx.Client, url: str, client: ClientCredentials, realm: str, clock: Callable[[], float]
    ) -> None:
        self._http = http
        self._url = url
        self._client = client
        self._realm = realm
        self.clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._good_until = 0.0

    def get(self) -> Secret:
        with self._lock:
            if self._token is None or self.clock() >= self._good_until:
                self._fetch()
            assert self._token is not None
            return self._token

    def renew(self, refused: Secret) -> Secret:
        with self._lock:
            if self._token is None or self._token == refused:
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        self._token = None
        form, auth = self._client.apply({"grant_type": "client_credentials"})
        # A token request changes nothing at Keycloak: marked read-only, so dry runs can still resolve users.
        response = self._http.post(self._url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT, extensions=READ_ONLY)
        if response.status_code != 200:
            raise _Stop(self._refused(response))
        body = _json(response, "admin token")
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise _stop(OutcomeStatus.FAILED_PERMANENT, "admin token: the answer holds no access_token")
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 60.0
        # Renewed a little early (at most 30 s, a quarter of a short lifetime) so no call carries a dying token.
        self._good_until = self.clock() + seconds - min(30.0, seconds / 4)
        self._token = Secret(token)

    def _refused(self, response: httpx.Response) -> Outcome:
        code, error = response.status_code, _error_code(response)
        who = f"admin client {self._client.client_id!r} of realm {self._realm!r}"
        if code == 401 or error == "invalid_client":
            detail = f"admin token: HTTP {code}: Keycloak refused the credentials of {who}"
        elif error == "unauthorized_client":
            detail = f"admin token: HTTP {code}: {who} may not use client credentials (enable its service account)"
        elif code == 404:
            detail = f"admin token: HTTP 404: no realm {self._realm!r} (wrong base_url, /auth prefix or admin_realm?)"
        else:
            outcome = outcome_for_status(response, target_gone=frozenset())
            return replace(outcome, detail=f"admin token: {outcome.detail}")
        return Outcome(OutcomeStatus.FAILED_PERMANENT, detail)

    def roles(self, client: str) -> set[str] | None:
        """The client roles of `client` the current token carries (composites expanded by Keycloak), or None when
        the token lists none (the `roles` scope is not mapped into it)."""
        with self._lock:
            token = self._token
        access = _jwt_payload(token.reveal()).get("resource_access") if token else None
        if not isinstance(access, dict):
            return None
        entry = access.get(client)
        roles = entry.get("roles") if isinstance(entry, dict) else None
        return {role for role in roles if isinstance(role, str)} if isinstance(roles, list) else set()


class KeycloakProvider:
    plugin: ClassVar[str] = "keycloak"
    settings_model: ClassVar[type[PluginSettings]] = KeycloakSettings
    panic_verbs: ClassVar[tuple[str, ...]] = (Verb.END_ALL_SESSIONS.value,)

    def __init__(self, settings: KeycloakSettings, client: httpx.Client) -> None:
        self.name = settings.name
        self._base = settings.base_url
        self._realm = settings.realm
        self._admin_realm = settings.admin_realm or settings.realm
        self._admin = f"{self._base}/admin/realms/{quote(self._realm, safe='')}"
        self._oidc = f"{self._base}/realms/{quote(self._realm, safe='')}/protocol/openid-connect"
        self._issuer = settings.issuer.rstrip("/") if settings.issuer else None
        self._hosts = {urlsplit(self._base).netloc.lower(), *(h.lower() for h in settings.hosts)}
        where = f"providers.{settings.name}"
        admin_secret = read_secret(
            f"{where}.admin_client_secret",
            settings.admin_client_secret,
            settings.admin_client_secret_file,
            settings.admin_client_secret_env,
        )
        if admin_secret is None:
            raise ConfigError(
                f"{where}: set admin_client_secret_file or admin_client_secret_env to the secret of "
                f"{settings.admin_client_id!r} (a confidential client with a service account)"
            )
        self.admin_client_id = settings.admin_client_id
        token_url = f"{self._base}/realms/{quote(self._admin_realm, safe='')}/protocol/openid-connect/token"
        credentials = ClientCredentials(settings.admin_client_id, admin_secret)
        self._tokens = _AdminToken(client, token_url, credentials, self._admin_realm, time.monotonic)
        secret = read_secret(
            f"{where}.client_secret", settings.client_secret, settings.client_secret_file, settings.client_secret_env
        )
        self._client = ClientCredentials(settings.client_id, secret) if settings.client_id else None
        self._http = client

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> KeycloakProvider:
        return cls(validate_settings(KeycloakSettings, dict(table)), client)

    @property
    def _roles_client(self) -> str:
        """Where the realm-management roles live: in the realm itself, or as `<realm>-realm` in master."""
        return "realm-management" if self._admin_realm == self._realm else f"{self._realm}-realm"

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        value = finding.value.reveal()
        payload = _jwt_payload(value)
        if payload:
            return self._plan_jwt(finding, payload, related)
        if finding.kind is Kind.SESSION_COOKIE:
            return self._plan_cookie(finding, value, related)
        return ()  # Keycloak's tokens are all JWTs: an opaque value is not one of this realm's

    def _plan_jwt(self, finding: Finding, payload: Mapping[str, Any], related: Sequence[Finding]) -> tuple[Target, ...]:
        if not self._issued_here(payload.get("iss")):
            return ()  # another realm's admin would be needed; this one cannot act
        typ = str(payload.get("typ") or finding.claims.get("typ") or "").lower()
        if finding.kind is Kind.ID_TOKEN or typ in ("id", "logout"):
            return ()  # not bearer credentials (Keycloak refuses to revoke ID tokens)
        subject = self._subject_of(finding, payload)
        if subject is None and finding.kind is Kind.SESSION_COOKIE:
            subject = self._related_subject(related)
        if (
            self._client is not None
            and finding.kind in _TOKEN_KINDS
            and typ != "serialized-id"
            and payload.get("azp") == self._client.client_id
        ):
            return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=subject),)
        if typ == "offline":
            # An offline token outlives every session: its client's offline sessions must be revoked.
            if subject is None:
                return (Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False),)
            return (Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=True, subject=subject),)
        if _session_id_of(payload):
            # The session id is read from the value when acting: ActionRequest carries no other place for it.
            return (Target(Verb.END_SESSION, uses_credential=True, subject=subject),)
        if subject is not None and finding.kind in _USER_WIDE_KINDS:
            return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),)
        return ()

    def _plan_cookie(self, finding: Finding, value: str, related: Sequence[Finding]) -> tuple[Target, ...]:
        names = {
            location.name.removesuffix("_LEGACY")
            for location in finding.locations
            if location.field in (Field.COOKIE, Field.SET_COOKIE)
        }
        legacy = _legacy_session(value)
        if legacy is not None and SESSION_COOKIE in names:
            realm, user_id, _session = legacy
            if realm != self._realm:
                return ()
            return (Target(Verb.END_SESSION, uses_credential=True, subject=Subject(self.name, user_id)),)
        subject = self._related_subject(related)
        if SESSION_COOKIE in names and _SESSION_HASH.fullmatch(value):
            if subject is None:
                return (Target(Verb.END_ALL_SESSIONS, uses_credential=False),)  # needs_subject
            return (Target(Verb.END_SESSION, uses_credential=True, subject=subject),)
        if names & {AUTH_SESSION_COOKIE, SESSION_COOKIE, IDENTITY_COOKIE}:
            # Names no user and no session we could look up: the whole user, if the artifact says who it is.
            return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),)
        return ()  # some other session-like cookie on Keycloak's host: nothing Keycloak can end

    def _subject_of(self, finding: Finding, payload: Mapping[str, Any]) -> Subject | None:
        """`sub` as the finding recorded it (masked when it equals a credential), else as the token carries it."""
        if "sub" in finding.claims:
            return subject_from_claims(self.name, finding.claims)
        sub = payload.get("sub")
        return Subject(self.name, sub) if isinstance(sub, str) and sub else None

    def _related_subject(self, related: Sequence[Finding]) -> Subject | None:
        """The one user this realm's other tokens in the artifact name; other realms' tokens say nothing here."""
        mine = [f for f in related if self._issued_here(f.claims.get("iss"))]
        return subject_from_related(self.name, mine)

    def _issued_here(self, issuer: object) -> bool:
        """Keycloak's issuer is `{frontend URL}/realms/{realm}`. The realm must be the configured one and the host
        base_url's or one of `hosts` (or the issuer exactly `issuer`, when configured)."""
        if not isinstance(issuer, str) or not issuer:
            return False
        if self._issuer is not None:
            return issuer.rstrip("/") == self._issuer
        parts = urlsplit(issuer)
        match = _REALM_PATH.fullmatch(parts.path)
        if match is None:
            return False
        return unquote(match[1]) == self._realm and parts.netloc.lower() in self._hosts

    # ---- I/O: the one chokepoint for the admin API -------------------------------------------------

    def _send(self, method: str, path: str, params: Mapping[str, str | int] | None = None) -> httpx.Response:
        """`{base_url}/admin/realms/{realm}{path}` with responder's admin token; a 401 renews the token once."""
        token = self._tokens.get()
        response = self._admin_call(method, path, params, token)
        if response.status_code == 401:
            response = self._admin_call(method, path, params, self._tokens.renew(token))
        return response

    def _admin_call(
        self, method: str, path: str, params: Mapping[str, str | int] | None, token: Secret
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}
        return self._http.request(method, self._admin + path, params=params, headers=headers)

    def _failure(self, response: httpx.Response, step: str, role: str, *, gone: bool = False) -> Outcome:
        """One meaning per status: 404 naming the object itself is already invalid (only with `gone`); 429/5xx
        transient; 401 (after a renewal) and 403 permanent, naming the realm or the missing role."""
        code = response.status_code
        outcome = outcome_for_status(response, target_gone=frozenset())
        if outcome.status is OutcomeStatus.FAILED_TRANSIENT:
            return replace(outcome, detail=f"{step}: {outcome.detail}")
        if code == 401:
            detail = (
                f"{step}: HTTP 401: Keycloak refused responder's admin token although freshly issued (admin_realm "
                f"{self._admin_realm!r} must be 'master' or {self._realm!r})"
            )
        elif code == 403:
            detail = (
                f"{step}: HTTP 403: the service account of {self.admin_client_id!r} lacks the role {role} "
                f"(client {self._roles_client})"
            )
        elif code == 404:
            missing = _missing(response)
            if missing == "object" and gone:
                return Outcome(OutcomeStatus.ALREADY_INVALID, f"{step}: HTTP 404: no longer exists at Keycloak")
            if missing == "realm":
                detail = f"{step}: HTTP 404: Keycloak has no realm {self._realm!r}"
            elif missing == "object":
                detail = f"{step}: HTTP 404: not found at Keycloak"
            else:
                detail = f"{step}: HTTP 404: no such endpoint (is base_url Keycloak's root URL, with /auth if used?)"
        else:
            detail = f"{step}: {outcome.detail}"
        return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, outcome.provider_request_id)

    def _read(
        self, path: str, step: str, role: str, params: Mapping[str, str | int] | None = None, *, gone: bool = False
    ) -> Any:
        """A GET whose JSON answer is returned; anything but 200 stops the action with its meaning (with `gone`,
        a 404 naming the user means there is nothing left to end)."""
        response = self._send("GET", path, params)
        if response.status_code != 200:
            raise _Stop(self._failure(response, step, role, gone=gone))
        return _json_any(response, step)

    def _pages(self, path: str, params: Mapping[str, str | int], step: str, role: str) -> Iterator[dict[str, Any]]:
        """Every item of a `first`/`max` paged list. Keycloak sends no next links: the offsets are counted here,
        so nothing but base_url is ever called. A server that ignores `first` would loop: caught."""
        seen: set[str] = set()
        first = 0
        for _ in range(MAX_PAGES):
            items = self._read(path, step, role, {**params, "first": first, "max": PAGE_SIZE})
            if not isinstance(items, list):
                raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not a list")
            fresh = [i for i in items if isinstance(i, dict) and str(i.get("id")) not in seen]
            if items and not fresh:
                raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: Keycloak answered the same page twice")
            seen.update(str(i.get("id")) for i in fresh)
            yield from fresh
            if len(items) < PAGE_SIZE:
                return
            first += PAGE_SIZE
        raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: more than {MAX_PAGES} pages")

    # ---- look-ups ----------------------------------------------------------------------------------

    def _user(self, user_id: str, step: str = "find user") -> _User | None:
        """The user with this id; None when Keycloak has no such user in the realm."""
        response = self._send("GET", f"/users/{quote(user_id, safe='')}")
        if response.status_code == 404 and _missing(response) != "realm":
            return None  # "User not found", or an id Keycloak's router refuses (a `/` in it): no such user
        if response.status_code != 200:
            raise _Stop(self._failure(response, step, VIEW_USERS))
        return _User.from_api(_json(response, step))

    def _sessions(self, user_id: str, step: str, *, gone: bool = False) -> list[dict[str, Any]]:
        """The user's (online) sessions, as UserSessionRepresentation items."""
        items = self._read(f"/users/{quote(user_id, safe='')}/sessions", step, VIEW_USERS, gone=gone)
        if not isinstance(items, list):
            raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not a list")
        return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]

    def _offline_clients(self, user_id: str, step: str, *, gone: bool = False) -> list[str]:
        """clientIds for which the user holds offline tokens, from the consents list (Keycloak lists there every
        client with a consent or an offline token; the latter carry the grant "Offline Token")."""
        items = self._read(f"/users/{quote(user_id, safe='')}/consents", step, VIEW_USERS, gone=gone)
        if not isinstance(items, list):
            raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not a list")
        clients = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("clientId"), str):
                continue
            grants = item.get("additionalGrants")
            # An entry without the field (a version that does not say) may hold one: revoking is the safe side.
            if not isinstance(grants, list) or any(
                isinstance(g, dict) and g.get("key") == OFFLINE_GRANT for g in grants
            ):
                clients.append(item["clientId"])
        return clients

    def _session_id(self, credential: Secret, subject: Subject | None, step: str) -> tuple[str, Subject | None]:
        """The id of the session the leaked value belongs to, and the user when learned on the way."""
        value = credential.reveal()
        payload = _jwt_payload(value)
        if payload:
            if payload.get("iss") and not self._issued_here(payload.get("iss")):
                raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the token is not of realm {self._realm!r}")
            session = _session_id_of(payload)
            if session is None:
                raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the token names no session")
            return session, subject
        legacy = _legacy_session(value)
        if legacy is not None:
            return legacy[2], subject
        if not _SESSION_HASH.fullmatch(value):
            raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the leaked value names no Keycloak session")
        if subject is None:
            raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: a hashed KEYCLOAK_SESSION needs the user's id")
        # The current KEYCLOAK_SESSION is base64url(SHA-256(session id)): the user's sessions are hashed and compared.
        for item in self._sessions(subject.user_id, f"{step}: list the user's sessions", gone=True):
            if hmac.compare_digest(_session_hash(item["id"]), value):
                login = item.get("username")
                learned = replace(subject, login=login) if isinstance(login, str) and login else subject
                return item["id"], learned
        raise _Stop(
            Outcome(
                OutcomeStatus.ALREADY_INVALID,
                f"{step}: none of the user's live sessions has this KEYCLOAK_SESSION (ended already)",
                subject=subject,
            )
        )

    # ---- execute -----------------------------------------------------------------------------------

    def execute(self, request: ActionRequest) -> Outcome:
        try:
            if request.verb == Verb.END_SESSION:
                return self._end_session(request)
            if request.verb == Verb.END_ALL_SESSIONS:
                return self._end_all_sessions(self._need_subject(request))
            if request.verb == Verb.REVOKE_REFRESH_TOKENS:
                return self._revoke_offline_tokens(request, self._need_subject(request))
            if request.verb == Verb.REVOKE_TOKEN:
                return self._revoke_token(request)
        except _Stop as stop:
            return replace(stop.outcome, subject=stop.outcome.subject or request.subject)
        return Outcome(OutcomeStatus.UNSUPPORTED, f"the keycloak plugin cannot {request.verb}")

    def _need_subject(self, request: ActionRequest) -> Subject:
        if request.subject is None:
            raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{request.verb} needs the user's id; none given")
        return request.subject

    def _end_session(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "end session: the leaked value is not available")
        session, subject = self._session_id(request.credential, request.subject, "end session")
        response = self._send("DELETE", f"/sessions/{quote(session, safe='')}")
        if response.is_success:
            detail = "ended the user session the leaked value belongs to"
            return Outcome(OutcomeStatus.REVOKED, detail, subject=subject)
        return replace(self._failure(response, "end session", MANAGE_USERS, gone=True), subject=subject)

    def _end_all_sessions(self, subject: Subject) -> Outcome:
        response = self._send("POST", f"/users/{quote(subject.user_id, safe='')}/logout")
        if response.is_success:
            detail = (
                "ended every session of the user; their not-before is now, so older refresh and offline tokens "
                "are refused"
            )
            return Outcome(OutcomeStatus.REVOKED, detail, subject=subject)
        outcome = self._failure(response, "log the user out", MANAGE_USERS, gone=True)
        if outcome.status is OutcomeStatus.ALREADY_INVALID:
            detail = f"no user {subject.user_id} in realm {self._realm!r}: no session of theirs can be left"
            outcome = replace(outcome, detail=detail)
        return replace(outcome, subject=subject)

    def _revoke_offline_tokens(self, request: ActionRequest, subject: Subject) -> Outcome:
        """DELETE /users/{id}/consents/{clientId} revokes the consent and the offline tokens of that client (Keycloak
        removes the offline client sessions). With the leaked offline token at hand, only its client's."""
        only = _client_of(request.credential)
        listed = self._offline_clients(subject.user_id, "list offline tokens", gone=True)
        clients = [c for c in listed if only in (None, c)]
        revoked = 0
        for number, client in enumerate(clients):
            path = f"/users/{quote(subject.user_id, safe='')}/consents/{quote(client, safe='')}"
            response = self._send("DELETE", path)
            if response.status_code == 404 and _missing(response) == "object":
                continue  # revoked meanwhile (or the client is gone, and its tokens with it)
            if not response.is_success:
                failed = self._failure(response, f"revoke offline tokens {number + 1} of {len(clients)}", MANAGE_USERS)
                return replace(failed, detail=f"{failed.detail} ({revoked} revoked before)", subject=subject)
            revoked += 1
        which = f" of client {only!r}" if only else ""
        if revoked == 0:
            return Outcome(OutcomeStatus.ALREADY_INVALID, f"the user holds no offline token{which}", subject=subject)
        detail = f"revoked the offline tokens and consent of {revoked} client(s){which}"
        return Outcome(OutcomeStatus.REVOKED, detail, subject=subject)

    def _revoke_token(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "revoke token: the leaked value is not available")
        if self._client is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, "RFC 7009 revocation needs client_id (+ client_secret)")
        response = self._oauth("/revoke", request.credential, self._hint(request))
        client = self._client.client_id
        error = _error_code(response)
        if response.status_code == 401 or error == "invalid_client":
            detail = f"revocation: HTTP {response.status_code}: client credentials refused for client {client!r}"
            return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, subject=request.subject)
        if error == "unsupported_token_type":
            detail = f"revocation: HTTP {response.status_code}: Keycloak cannot revoke this kind of token"
            return Outcome(OutcomeStatus.UNSUPPORTED, detail, subject=request.subject)
        if response.status_code == 400:
            detail = f"revocation: HTTP 400 ({error or 'no error code'}): the token was not issued to {client!r}"
            return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, subject=request.subject)
        outcome = outcome_for_status(response, target_gone=frozenset())
        detail = f"revocation: {outcome.detail}"
        if outcome.status is OutcomeStatus.REVOKED:
            detail += " (Keycloak answers the same for a token it does not know)"
        return replace(outcome, detail=detail, subject=request.subject)

    def _hint(self, request: ActionRequest) -> str | None:
        if request.kind in _KIND_HINTS:
            return _KIND_HINTS[request.kind]
        typ = _jwt_payload(request.credential.reveal()).get("typ") if request.credential else None
        return _HINTS.get(str(typ).lower()) if typ else None

    def _oauth(self, path: str, token: Secret, hint: str | None = None, *, read_only: bool = False) -> httpx.Response:
        """RFC 7009 / RFC 7662 at the realm's openid-connect endpoints, authenticated as responder's own client."""
        assert self._client is not None
        form = {"token": token.reveal()}
        if hint:
            form["token_type_hint"] = hint
        form, auth = self._client.apply(form)
        return self._http.post(
            self._oidc + path,
            data=form,
            auth=auth or httpx.USE_CLIENT_DEFAULT,
            extensions=READ_ONLY if read_only else None,
        )

    def _introspect(self, token: Secret, request: ActionRequest) -> dict[str, Any] | None:
        if self._client is None:
            return None
        response = self._oauth("/token/introspect", token, self._hint(request), read_only=True)
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
            if request.verb == Verb.END_SESSION and request.credential is not None and request.subject is not None:
                return self._session_gone(request.credential, request.subject)
            if request.verb == Verb.END_ALL_SESSIONS and request.subject is not None:
                return not self._sessions(request.subject.user_id, "verify sessions")
            if request.verb == Verb.REVOKE_REFRESH_TOKENS and request.subject is not None:
                only = _client_of(request.credential)
                clients = self._offline_clients(request.subject.user_id, "verify offline tokens")
                return not [c for c in clients if only in (None, c)]
        except _Stop:
            return None
        if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
            claims = self._introspect(request.credential, request)
            if claims is None or not isinstance(claims.get("active"), bool):
                return None
            return not claims["active"]
        return None

    def _session_gone(self, credential: Secret, subject: Subject) -> bool:
        value = credential.reveal()
        live = [item["id"] for item in self._sessions(subject.user_id, "verify session")]
        if _SESSION_HASH.fullmatch(value) and not _jwt_payload(value):
            return not any(hmac.compare_digest(_session_hash(session), value) for session in live)
        session, _ = self._session_id(credential, subject, "verify session")
        return session not in live

    def resolve(self, request: ActionRequest) -> Subject | None:
        """Who it is, read-only (runs under the dry-run guard): the user by id, or an own client's token's
        subject by introspection."""
        try:
            if request.subject is not None:
                user = self._user(request.subject.user_id)
                return user.subject(self.name) if user else request.subject
            if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
                claims = self._introspect(request.credential, request) or {}
                sub = claims.get("sub")
                if claims.get("active") is True and isinstance(sub, str) and sub:
                    login = claims.get("username") or claims.get("preferred_username") or claims.get("email") or ""
                    return Subject(self.name, sub, str(login))
        except _Stop:
            pass
        return request.subject

    def check(self) -> CheckResult:
        where = f"{self._base}/realms/{self._admin_realm}"
        try:
            self._tokens.get()
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {where}: {type(exc).__name__} (wrong base_url?)")
        except _Stop as stop:
            return CheckResult(False, stop.outcome.detail)
        who = f"admin client {self.admin_client_id!r} authenticated at realm {self._admin_realm!r}"
        problems: list[str] = []
        for path, role in (("/users", QUERY_USERS), ("/groups", QUERY_GROUPS)):
            try:
                response = self._send("GET", path, {"first": 0, "max": 1, "briefRepresentation": "true"})
            except httpx.HTTPError as exc:
                problems.append(f"GET {self._admin}{path}: {type(exc).__name__}")
                continue
            except _Stop as stop:
                problems.append(stop.outcome.detail)
                continue
            if response.status_code == 403:
                problems.append(f"missing role {role} (or {VIEW_USERS}) of client {self._roles_client}")
            elif response.status_code != 200:
                problems.append(self._failure(response, f"GET {path}", role).detail)
            elif not isinstance(_json_or_none(response), list):
                problems.append(f"GET {self._admin}{path} did not answer as Keycloak does: wrong base_url?")
        roles = self._tokens.roles(self._roles_client)
        note = ""
        if roles is None:
            note = f"; cannot tell whether {MANAGE_USERS} is granted (the admin token lists no roles)"
        elif MANAGE_USERS not in roles:
            problems.append(f"missing role {MANAGE_USERS} of client {self._roles_client} (needed to end sessions)")
        problems += self._check_client()
        if problems:
            return CheckResult(False, f"{who}, but: {'; '.join(problems)}")
        held = "" if roles is None else f" and holds {MANAGE_USERS}"
        client = f"; OAuth client {self._client.client_id!r} accepted" if self._client else ""
        return CheckResult(True, f"{who}; may read users and groups of realm {self._realm!r}{held}{note}{client}")

    def _check_client(self) -> list[str]:
        if self._client is None:
            return []
        try:
            response = self._oauth("/token/introspect", _CHECK_TOKEN, read_only=True)
        except httpx.HTTPError as exc:
            return [f"introspection endpoint unreachable: {type(exc).__name__}"]
        if response.status_code == 401 or _error_code(response) == "invalid_client":
            return [f"client credentials refused for OAuth client {self._client.client_id!r}"]
        if response.status_code != 200:
            return [f"introspection answered HTTP {response.status_code}"]
        return []

    # ---- directory (panic scopes) ------------------------------------------------------------------

    def find_user(self, query: str) -> Subject | None:
        """By id, then exact username, then exact email. Several users with that email: refused, never a guess."""
        with self._directory("find user"):
            if "@" not in query:
                user = self._user(query)
                if user is not None:
                    return user.subject(self.name)
            for field in ("username", "email") if "@" in query else ("username",):
                found = self._read("/users", "find user", QUERY_USERS, {field: query, "exact": "true"})
                users = [u for u in map(_User.from_api, found if isinstance(found, list) else []) if u is not None]
                matches = [u for u in users if getattr(u, field).lower() == query.lower()]
                if len(matches) > 1:
                    raise DirectoryError(f"{self.name}: {len(matches)} users have the {field} {query!r}; give the id")
                if matches:
                    return matches[0].subject(self.name)
        return None

    def group_members(self, group: str) -> Iterator[Subject]:
        """The direct members of the group named `group` (or with that id, or that path `/parent/child`);
        disabled users are skipped. Members of sub-groups are not included: name those groups too."""
        with self._directory("list group members"):
            group_id = self._group_id(group)
            path = f"/groups/{quote(group_id, safe='')}/members"
            for item in self._pages(path, {"briefRepresentation": "true"}, "list group members", VIEW_USERS):
                user = _User.from_api(item)
                if user is not None and user.enabled:
                    yield user.subject(self.name)

    def _group_id(self, group: str) -> str:
        if _UUID.fullmatch(group):  # Keycloak's group ids; a name that merely looks like one is searched next
            response = self._send("GET", f"/groups/{group}")
            if response.status_code == 200:
                found = _json(response, "find group")
                if isinstance(found.get("id"), str):
                    return str(found["id"])
            elif response.status_code != 404:
                raise _Stop(self._failure(response, "find group", QUERY_GROUPS))
        name = group.rstrip("/").rsplit("/", 1)[-1] if group.startswith("/") else group
        params = {"search": name, "exact": "true", "briefRepresentation": "true"}
        tree = list(self._pages("/groups", params, "find group", QUERY_GROUPS))
        matches = [
            g for g in _walk(tree) if (g.get("path") == group if group.startswith("/") else g.get("name") == group)
        ]
        if not matches:
            raise DirectoryError(f"{self.name}: no group named {group!r} in realm {self._realm!r}")
        if len(matches) > 1:
            paths = ", ".join(sorted(str(g.get("path")) for g in matches))
            raise DirectoryError(f"{self.name}: several groups are named {group!r} ({paths}); give the path")
        return str(matches[0]["id"])

    def all_users(self) -> Iterator[Subject]:
        """Every enabled user of the realm, 100 at a time."""
        with self._directory("list users"):
            for item in self._pages("/users", {"briefRepresentation": "true"}, "list users", QUERY_USERS):
                user = _User.from_api(item)
                if user is not None and user.enabled:
                    yield user.subject(self.name)

    def _directory(self, step: str) -> _DirectoryErrors:
        return _DirectoryErrors(self.name, step, self._base)

    def close(self) -> None:
        self._http.close()


class _DirectoryErrors:
    """Turns a stopped look-up or an unreachable Keycloak into the DirectoryError panic expects."""

    def __init__(self, name: str, step: str, base: str) -> None:
        self._name, self._step, self._base = name, step, base

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, _Stop):
            raise DirectoryError(f"{self._name}: {error.outcome.detail}") from None
        if isinstance(error, httpx.HTTPError):
            reason = type(error).__name__
            raise DirectoryError(f"{self._name}: {self._step}: cannot reach {self._base}: {reason}") from None


# ---- helpers -----------------------------------------------------------------------------------------


def _walk(groups: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every group of a search answer: Keycloak returns the matches inside their parents' `subGroups`."""
    for group in groups:
        if isinstance(group.get("id"), str):
            yield group
        children = group.get("subGroups")
        if isinstance(children, list):
            yield from _walk([c for c in children if isinstance(c, dict)])


def _session_id_of(payload: Mapping[str, Any]) -> str | None:
    """The user-session id a Keycloak JWT carries: `sid` (current), `session_state` (older versions)."""
    for claim in ("sid", "session_state"):
        value = payload.get(claim)
        if isinstance(value, str) and value:
            return value
    return None


def _client_of(credential: Secret | None) -> str | None:
    """The client (`azp`) a leaked token was issued to, when the value is at hand and says."""
    azp = _jwt_payload(credential.reveal()).get("azp") if credential is not None else None
    return azp if isinstance(azp, str) and azp else None


def _legacy_session(value: str) -> tuple[str, str, str] | None:
    """KEYCLOAK_SESSION as older Keycloak wrote it: `realm/user-id/session-id` (now a hash of the session id)."""
    text = unquote(value) if "%2f" in value.lower() else value
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def _session_hash(session_id: str) -> str:
    """What current Keycloak puts into KEYCLOAK_SESSION: unpadded base64url of the SHA-256 of the id (ISO-8859-1)."""
    digest = hashlib.sha256(session_id.encode("latin-1", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _missing(response: httpx.Response) -> str:
    """What a 404 says is missing: "realm", "object" (the user, session, consent or client named in the path) or
    "endpoint" (a wrong URL). Keycloak's error text is read to tell them apart, never repeated."""
    text = _error_text(response)
    if "realm" in text:
        return "realm"
    if "not found" in text and not any(word in text for word in ("resource", "matching", "http 404")):
        return "object"
    return "endpoint"


def _error_text(response: httpx.Response) -> str:
    body = _json_or_none(response)
    if not isinstance(body, dict):
        return ""
    return " ".join(str(body.get(key, "")) for key in ("error", "errorMessage", "error_description")).lower()


def _error_code(response: httpx.Response) -> str:
    """An OAuth error code (`invalid_client`, ...), only when it is one: free text is never carried on."""
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and re.fullmatch(r"[a-z_]{3,40}", error) else ""


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_any(response: httpx.Response, step: str) -> Any:
    body = _json_or_none(response)
    if body is None:
        raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not Keycloak's JSON (wrong base_url?)")
    return body


def _json(response: httpx.Response, step: str) -> dict[str, Any]:
    body = _json_any(response, step)
    if not isinstance(body, dict):
        raise _stop(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not Keycloak's JSON (wrong base_url?)")
    return body


def _jwt_payload(value: str) -> dict[str, Any]:
    """A JWT's payload, unverified: read only to route (issuer, user, session, client), never to decide trust."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].startswith("eyJ"):
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}
