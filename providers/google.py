"""Google Workspace: signs users out, deletes their third-party OAuth grants and revokes leaked Google OAuth tokens,
through the Admin SDK Directory API (`{base_url}` = https://admin.googleapis.com/admin/directory/v1) with a
service account acting for an admin (domain-wide delegation), and Google's OAuth endpoints
(`{oauth_url}` = https://oauth2.googleapis.com: `/tokeninfo`, `/revoke`).

What a finding becomes (see docs/providers/google.md):
- Google account cookies (SID, __Secure-1PSID, ...) are opaque: the user comes from a Google-issued JWT of the same
  artifact (an ID token's `sub` is the user's id); then `end_all_sessions` (users.signOut) and
  `revoke_refresh_tokens` (every third-party grant of the user). Without such evidence: needs_subject.
- an access token `ya29.…`: one `revoke_token` action: tokeninfo names the user and the client, then the user is
  signed out and that client's tokens of the user are deleted (or, when the Directory cannot, the token is revoked
  at Google). One action, because once the token is dead nobody can tell whose it was.
- a refresh token `1//…`: `revoke_token` at Google's revocation endpoint (it names no user).
- ID tokens and other JWTs: nothing (they cannot be revoked).

Only users of the configured customer (and `domain`, when set) are acted on. Every Directory call goes through
`_send`. No retries or sleeps here: the engine retries. No secret appears in an Outcome, a log line or an
exception text; Google's error texts are read to classify, never repeated."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator, model_validator

from providers._google_auth import (
    DWD_CONSOLE,
    GOOGLE_TOKEN_URI,
    DelegatedCredentials,
    ServiceAccountKey,
    TokenRefused,
    checked_url,
)
from providers._settings import PluginSettings, validate_settings
from responder.errors import ConfigError, DirectoryError
from responder.http import READ_ONLY, outcome_for_status, retry_after_seconds
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
    subject_from_related,
)
from responder.secret import Secret, read_secret

DIRECTORY_URL = "https://admin.googleapis.com/admin/directory/v1"
OAUTH_URL = "https://oauth2.googleapis.com"
SCOPE_USERS = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SCOPE_SECURITY = "https://www.googleapis.com/auth/admin.directory.user.security"
SCOPE_MEMBERS = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
SCOPES = (SCOPE_USERS, SCOPE_SECURITY, SCOPE_MEMBERS)
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
USER_FIELDS = "id,primaryEmail,suspended,customerId"
USERS_PAGE = 500  # users.list maximum
MEMBERS_PAGE = 200  # members.list maximum
MAX_PAGES = 1000

# Admin console privileges the impersonated admin needs, named in 403 messages (see docs/providers/google.md).
PRIV_READ_USERS = "Users → Read"
PRIV_SECURITY = "Users → Update → Manage user security"
PRIV_READ_GROUPS = "Groups → Read"

# Google error reasons (`error.errors[].reason`, or google.rpc.ErrorInfo `reason`) that mean "slow down".
_RATE_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "RATE_LIMIT_EXCEEDED"})
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_REASON = re.compile(r"^[A-Za-z_]{1,64}$")
# Google's signed-in-account cookies (policies.google.com/technologies/cookies); NID, AEC & co. are not sessions.
_SESSION_COOKIE = re.compile(
    r"(?:__Secure-[13]P)?(?:SID|SIDTS|SIDCC|SIDRTS|APISID)|HSID|SSID|SAPISID|LSID"
    r"|__Host-(?:1P|3P)?LSID|__Host-GAPS|(?:__Secure-)?OSID"
)
_EVIDENCE = frozenset({Kind.ID_TOKEN, Kind.JWT, Kind.ACCESS_TOKEN})


class GoogleSettings(PluginSettings):
    plugin: Literal["google"]
    base_url: str = Field(default=DIRECTORY_URL, description="the Admin SDK Directory API root")
    oauth_url: str = Field(default=OAUTH_URL, description="where tokeninfo and revoke are")
    token_uri: str | None = Field(
        default=None,
        description="token endpoint; default: the key file's token_uri, else https://oauth2.googleapis.com/token",
    )
    key_file: Path | None = Field(
        default=None,
        description="the service account's JSON key (domain-wide delegation); exactly one of key_file, key_env",
    )
    key_env: str | None = Field(default=None, description="environment variable holding that JSON key")
    subject: str | None = Field(
        default=None, description="email of the admin the service account acts as (or admin_email, not both)"
    )
    admin_email: str | None = Field(default=None, description="the same as subject, under the name Google's docs use")
    customer: str = Field(
        default="my_customer",
        description="my_customer or the Workspace customer ID; users of another customer are refused",
    )
    domain: str | None = Field(
        default=None, description="optional: act only on users whose primary email is in this domain"
    )
    allow_non_google_hosts: bool = Field(
        default=False, description="lift the googleapis.com host rule (https still required): tests and emulators only"
    )

    @field_validator("issuer")
    @classmethod
    def _google_issuer(cls, value: str | None) -> str | None:
        # Only ever used to attribute Google-issued JWTs to this instance; nothing is fetched from it.
        if value is not None and value.rstrip("/") not in GOOGLE_ISSUERS:
            raise ValueError("issuer may only be https://accounts.google.com (Google's ID-token issuer)")
        return value

    @field_validator("customer")
    @classmethod
    def _customer_id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", value):
            raise ValueError("customer is my_customer or the Workspace customer ID (e.g. C01abc234)")
        return value

    @field_validator("domain")
    @classmethod
    def _bare_domain(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+", value.lower()):
            raise ValueError("domain is a bare domain name, e.g. example.com")
        return value.lower() if value else None

    @model_validator(mode="after")
    def _one_subject(self) -> GoogleSettings:
        given = [value for value in (self.subject, self.admin_email) if value]
        if len(given) != 1:
            raise ValueError("set subject (or admin_email): the admin the service account acts as, not both")
        if "@" not in given[0]:
            raise ValueError("subject is the email address of the admin the service account acts as")
        return self


@dataclass(frozen=True, slots=True)
class _User:
    id: str
    email: str
    suspended: bool
    customer_id: str

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> _User | None:
        user_id, email = item.get("id"), item.get("primaryEmail")
        if not isinstance(user_id, str) or not user_id or not isinstance(email, str):
            return None
        customer = item.get("customerId")
        return cls(user_id, email, item.get("suspended") is True, customer if isinstance(customer, str) else "")

    def subject(self, provider: str) -> Subject:
        return Subject(provider, self.id, self.email)


@dataclass(frozen=True, slots=True)
class _TokenInfo:
    """What Google's tokeninfo says about a live access token: whose it is and which client holds it."""

    sub: str  # the Google account id, which is the Directory user id (observed, see docs)
    email: str  # only when the token has the email scope
    client_id: str


class _Stop(Exception):
    """Ends an action early with this outcome (a failed look-up, an unexpected answer)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class GoogleProvider:
    plugin: ClassVar[str] = "google"
    settings_model: ClassVar[type[PluginSettings]] = GoogleSettings
    # A panic signs each user out and deletes their third-party grants: a stolen session may have been used to
    # grant an attacker's app access, and that grant outlives the sign-out.
    panic_verbs: ClassVar[tuple[str, ...]] = (Verb.END_ALL_SESSIONS.value, Verb.REVOKE_REFRESH_TOKENS.value)

    def __init__(self, settings: GoogleSettings, client: httpx.Client) -> None:
        self.name = settings.name
        where = f"providers.{settings.name}"
        allow = settings.allow_non_google_hosts
        self._base = checked_url(f"{where}.base_url", settings.base_url, allow_any_host=allow)
        self._oauth = checked_url(f"{where}.oauth_url", settings.oauth_url, allow_any_host=allow)
        text = read_secret(f"{where}.key", None, settings.key_file, settings.key_env)
        if text is None:
            raise ConfigError(f"{where}: set key_file or key_env to the service account's JSON key")
        key = ServiceAccountKey.parse(f"{where}.key", text)
        source = "" if settings.token_uri or not key.token_uri else " (from the key file)"
        token_uri = settings.token_uri or key.token_uri or GOOGLE_TOKEN_URI
        token_uri = checked_url(f"{where}.token_uri{source}", token_uri, allow_any_host=allow)
        self._subject = str(settings.subject or settings.admin_email)
        self._credentials = DelegatedCredentials(key, self._subject, SCOPES, token_uri, client)
        self._customer = settings.customer
        self._domain = settings.domain
        self._http = client
        self._users: dict[str, _User] = {}  # id and lower-cased email → user, filled by every user read
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> GoogleProvider:
        return cls(validate_settings(GoogleSettings, dict(table)), client)

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        value = finding.value.reveal()
        if finding.kind is Kind.SESSION_COOKIE:
            if not any(_SESSION_COOKIE.fullmatch(location.name) for location in finding.locations):
                return ()
            # The cookie is opaque; a JWT Google issued in the same artifact may say whose it is. Never a guess.
            evidence = [f for f in related if f.claims.get("iss", "").rstrip("/") in GOOGLE_ISSUERS]
            subject = subject_from_related(self.name, evidence, kinds=_EVIDENCE)
            return (
                Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),
                Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=subject),
            )
        if finding.kind is Kind.ACCESS_TOKEN and value.startswith("ya29."):
            return (Target(Verb.REVOKE_TOKEN, uses_credential=True),)
        if finding.kind is Kind.REFRESH_TOKEN and value.startswith("1//"):
            return (Target(Verb.REVOKE_TOKEN, uses_credential=True),)
        return ()  # ID tokens and other JWTs expire by themselves; Google offers no way to revoke them

    # ---- I/O: the one chokepoint for the Directory API ---------------------------------------------

    def _send(self, method: str, path: str, params: Mapping[str, str | int] | None = None) -> httpx.Response:
        """`{base_url}/{path}` as the delegated admin. A 401 drops that token and tries once with a fresh one."""
        token = self._admin_token()
        response = self._request(method, path, params, token)
        if response.status_code == 401:
            self._credentials.invalidate(token)
            response = self._request(method, path, params, self._admin_token())
        return response

    def _admin_token(self) -> Secret:
        try:
            return self._credentials.token()
        except TokenRefused as refused:
            raise _Stop(refused.outcome) from None

    def _request(self, method: str, path: str, params: Mapping[str, str | int] | None, token: Secret) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}
        return self._http.request(method, f"{self._base}/{path}", params=params, headers=headers)

    def _failure(
        self, response: httpx.Response, step: str, scope: str, privilege: str, *, gone: bool = False
    ) -> Outcome:
        """One meaning per answer: 404 on the object itself already invalid (only with `gone`); 429, 5xx and a
        403 rate-limit reason transient; 401/403 permanent and named (the scope, or the admin's privilege)."""
        code, reasons = response.status_code, _error_reasons(response)
        reason = next((r for r in reasons if r in _RATE_REASONS | _SCOPE_REASONS), reasons[0] if reasons else "")
        if code == 403 and reason in _RATE_REASONS:
            wait = retry_after_seconds(response)
            return Outcome(OutcomeStatus.FAILED_TRANSIENT, f"{step}: HTTP 403 {reason}", retry_after=wait)
        outcome = outcome_for_status(response, target_gone=frozenset({404}) if gone else frozenset())
        if outcome.status is not OutcomeStatus.FAILED_PERMANENT:
            detail = f"{step}: {outcome.detail}"
        elif code == 401:
            detail = f"{step}: HTTP 401: Google refused responder's admin token, also a fresh one"
        elif code == 403 and reason in _SCOPE_REASONS:
            detail = (
                f"{step}: HTTP 403 {reason}: responder's token lacks the scope {scope}: authorize it for client ID "
                f"{self._credentials.key.client_id} ({DWD_CONSOLE})"
            )
        elif code == 403:
            detail = (
                f"{step}: HTTP 403 {reason or 'forbidden'}: the admin {self._subject} lacks the privilege "
                f"{privilege}, or the user or group is outside this Workspace"
            )
        elif code in (404, 405):
            detail = f"{step}: HTTP {code}: not found (or base_url is not the Directory API, {DIRECTORY_URL})"
        else:
            detail = f"{step}: {outcome.detail}" + (f" ({reason})" if reason else "")
        return Outcome(outcome.status, detail, outcome.provider_request_id, outcome.retry_after)

    def _pages(
        self, path: str, params: Mapping[str, str | int], items: str, step: str, scope: str, privilege: str
    ) -> Iterator[dict[str, Any]]:
        """Every item of a Directory list. Pages are chained by an opaque `nextPageToken` that is only ever sent
        back to `{base_url}` as a parameter: no URL from an answer is followed."""
        seen: set[str] = set()
        page_token = ""
        for _ in range(MAX_PAGES):
            response = self._send("GET", path, {**params, **({"pageToken": page_token} if page_token else {})})
            if response.status_code != 200:
                raise _Stop(self._failure(response, step, scope, privilege))
            body = _json(response, step)
            found = body.get(items, [])  # Google leaves the list out of an empty page
            if not isinstance(found, list):
                raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer has no {items} list"))
            yield from (item for item in found if isinstance(item, dict))
            page_token = body.get("nextPageToken") or ""
            if not isinstance(page_token, str) or not page_token:
                return
            if page_token in seen:
                raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: Google repeated a page token"))
            seen.add(page_token)
        raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: more than {MAX_PAGES} pages"))

    # ---- I/O: Google's OAuth endpoints (tokeninfo, revoke) -----------------------------------------

    def _tokeninfo(self, token: Secret) -> _TokenInfo:
        """Whose live access token this is. The token travels as a bearer header, never in a URL or body (as
        Google's own client library asks tokeninfo); the POST changes nothing, so dry runs may send it."""
        headers = {"Authorization": f"Bearer {token.reveal()}", "Content-Type": "application/x-www-form-urlencoded"}
        response = self._http.post(f"{self._oauth}/tokeninfo", headers=headers, extensions=READ_ONLY)
        if response.status_code in (400, 401):
            detail = f"tokeninfo: HTTP {response.status_code}: Google no longer accepts the token (expired or revoked)"
            raise _Stop(Outcome(OutcomeStatus.ALREADY_INVALID, detail))
        if response.status_code != 200:
            raise _Stop(_oauth_failure(response, "tokeninfo"))
        body = _json(response, "tokeninfo")
        client = _text(body, "azp") or _text(body, "aud") or _text(body, "issued_to")
        return _TokenInfo(_text(body, "sub") or _text(body, "user_id"), _text(body, "email"), client)

    def _revoke_at_google(self, token: Secret, step: str) -> Outcome:
        """`POST {oauth_url}/revoke`, the token in the form body. Google revokes the grant it belongs to (an
        access token's refresh token too); no client authentication is involved."""
        response = self._http.post(f"{self._oauth}/revoke", data={"token": token.reveal()})
        if response.is_success:
            return Outcome(OutcomeStatus.REVOKED, f"{step}: Google revoked the token and its grant")
        if response.status_code == 400 and _oauth_error(response) == "invalid_token":
            return Outcome(OutcomeStatus.ALREADY_INVALID, f"{step}: Google no longer knows the token")
        return _oauth_failure(response, step)

    # ---- look-ups ----------------------------------------------------------------------------------

    def _lookup(self, key: str) -> _User | None:
        """The user whose id, primary email or alias is `key`; None when Google has none (404)."""
        with self._lock:
            cached = self._users.get(key.lower())
        if cached is not None:
            return cached
        response = self._send("GET", f"users/{quote(key, safe='')}", {"fields": USER_FIELDS})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _Stop(self._failure(response, "find user", SCOPE_USERS, PRIV_READ_USERS))
        user = _User.from_api(_json(response, "find user"))
        if user is None:
            raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, "find user: the answer names no user"))
        self._remember(user, key)
        return user

    def _remember(self, user: _User, *keys: str) -> None:
        with self._lock:
            for key in (user.id, user.email, *keys):
                self._users[key.lower()] = user

    def _ours(self, *keys: str) -> _User:
        """The user found by the first key that names one, if they belong to the configured customer (and
        domain): responder acts on nobody else."""
        user = next((found for key in keys if key and (found := self._lookup(key)) is not None), None)
        if user is None:
            raise _Stop(
                Outcome(
                    OutcomeStatus.FAILED_PERMANENT,
                    f"user not found: this Workspace has no user {' or '.join(k for k in keys if k)} (deleted, or "
                    "a personal Google account or another organisation's)",
                )
            )
        outside = self._outside(user.email, user.customer_id)
        if outside:
            raise _Stop(Outcome(OutcomeStatus.UNSUPPORTED, f"{user.email} {outside}: not acted on"))
        return user

    def _outside(self, email: str, customer_id: str = "") -> str:
        """Why an account is not this instance's business ("" when it is)."""
        if self._domain and email and not email.lower().endswith("@" + self._domain):
            return f"is outside the configured domain {self._domain}"
        if self._customer != "my_customer" and customer_id and customer_id != self._customer:
            return f"belongs to another customer than {self._customer}"
        return ""

    def _subject_user(self, request: ActionRequest) -> _User:
        if request.subject is None:
            raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{request.verb} needs the user's id; none given"))
        return self._ours(request.subject.user_id)

    def _grants(self, user: _User, step: str) -> list[str]:
        """Client ids of the user's third-party OAuth grants (users.tokens.list is not paginated)."""
        response = self._send("GET", f"users/{quote(user.id, safe='')}/tokens")
        if response.status_code != 200:
            raise _Stop(self._failure(response, step, SCOPE_SECURITY, PRIV_SECURITY))
        items = _json(response, step).get("items", [])
        return [
            item["clientId"]
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and isinstance(item.get("clientId"), str)
            if item.get("userKey", user.id) == user.id  # should a key ever be ignored, other users stay untouched
        ]

    # ---- execute -----------------------------------------------------------------------------------

    def execute(self, request: ActionRequest) -> Outcome:
        try:
            if request.verb == Verb.END_ALL_SESSIONS:
                user = self._subject_user(request)
                return self._as(user, lambda: self._sign_out(user, gone=True))
            if request.verb == Verb.REVOKE_REFRESH_TOKENS:
                user = self._subject_user(request)
                return self._as(user, lambda: self._delete_grants(user))
            if request.verb == Verb.REVOKE_TOKEN:
                return self._revoke_token(request)
        except _Stop as stop:
            return replace(stop.outcome, subject=stop.outcome.subject or request.subject)
        return Outcome(OutcomeStatus.UNSUPPORTED, f"the google plugin cannot {request.verb}")

    def _as(self, user: _User, act: Callable[[], Outcome]) -> Outcome:
        """Run `act` for a known user; whatever it ends with names that user."""
        try:
            outcome = act()
        except _Stop as stop:
            outcome = stop.outcome
        return replace(outcome, subject=user.subject(self.name))

    def _sign_out(self, user: _User, *, gone: bool) -> Outcome:
        response = self._send("POST", f"users/{quote(user.id, safe='')}/signOut")
        if response.is_success:
            # Google answers the same whether or not there was a session: the outcome cannot tell them apart.
            return Outcome(OutcomeStatus.REVOKED, "signed the user out of all web and device sessions")
        return self._failure(response, "sign out", SCOPE_SECURITY, PRIV_SECURITY, gone=gone)

    def _delete_grants(self, user: _User) -> Outcome:
        clients = self._grants(user, "list OAuth grants")
        deleted = 0
        for number, client_id in enumerate(clients):
            outcome = self._delete_grant(user, client_id, f"delete OAuth grant {number + 1} of {len(clients)}")
            if outcome.status is OutcomeStatus.REVOKED:
                deleted += 1
            elif outcome.status is not OutcomeStatus.ALREADY_INVALID:
                return replace(outcome, detail=f"{outcome.detail} ({deleted} deleted before)")
        if deleted == 0:
            return Outcome(OutcomeStatus.ALREADY_INVALID, "the user had no third-party OAuth grant left")
        return Outcome(OutcomeStatus.REVOKED, f"deleted {deleted} third-party OAuth grant(s) of the user")

    def _delete_grant(self, user: _User, client_id: str, step: str) -> Outcome:
        """DELETE users/{user}/tokens/{client}: every token the user issued to that client. 404: none left."""
        path = f"users/{quote(user.id, safe='')}/tokens/{quote(client_id, safe='')}"
        response = self._send("DELETE", path)
        if response.is_success:
            return Outcome(OutcomeStatus.REVOKED, f"{step}: deleted client {client_id}'s tokens of the user")
        return self._failure(response, step, SCOPE_SECURITY, PRIV_SECURITY, gone=True)

    def _revoke_token(self, request: ActionRequest) -> Outcome:
        if request.credential is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "revoke token: the leaked value is not available")
        value = request.credential.reveal()
        if value.startswith("ya29."):
            return self._end_access_token(request.credential)
        if value.startswith("1//"):
            return self._revoke_at_google(request.credential, "revoke refresh token")
        return Outcome(OutcomeStatus.UNSUPPORTED, "revoke token: not a Google OAuth access or refresh token")

    def _end_access_token(self, token: Secret) -> Outcome:
        """Who and which client (tokeninfo), then: sign the user out, delete the client's tokens of the user (the
        Directory way, which needs no live token), and revoke the token itself when the Directory could not."""
        info = self._tokeninfo(token)
        outside = self._outside(info.email)
        if outside:
            return Outcome(OutcomeStatus.UNSUPPORTED, f"the access token's user {outside}: not acted on")
        if not info.sub and not info.email:
            outcome = self._revoke_at_google(token, "revoke access token")
            return replace(outcome, detail=f"{outcome.detail}; Google did not say whose it was: nobody signed out")
        user = self._ours(info.sub, info.email)
        return self._as(user, lambda: self._end_for(user, token, info.client_id))

    def _end_for(self, user: _User, token: Secret, client_id: str) -> Outcome:
        signed_out = self._sign_out(user, gone=False)
        if signed_out.status is OutcomeStatus.FAILED_TRANSIENT:
            return signed_out  # nothing is dead yet: a retry redoes it all, tokeninfo still answers
        killed = self._kill_client_tokens(user, token, client_id)
        if signed_out.status is OutcomeStatus.REVOKED:
            return replace(killed, detail=f"signed the user out; {killed.detail}")
        if killed.status is OutcomeStatus.FAILED_TRANSIENT:
            return killed
        # The token may be dead, but the user's sessions are not: a person must act, so this is no success.
        detail = f"{killed.detail}; but signing the user out failed: {signed_out.detail}"
        return replace(killed, status=OutcomeStatus.FAILED_PERMANENT, detail=detail)

    def _kill_client_tokens(self, user: _User, token: Secret, client_id: str) -> Outcome:
        if client_id:
            deleted = self._delete_grant(user, client_id, "delete the client's tokens")
            if deleted.status in (OutcomeStatus.REVOKED, OutcomeStatus.FAILED_TRANSIENT):
                return deleted
            # 404 (not among the user's third-party grants) or refused: the token can still revoke itself.
            revoked = self._revoke_at_google(token, "revoke access token")
            if deleted.status is OutcomeStatus.FAILED_PERMANENT:
                return replace(revoked, detail=f"{revoked.detail} (the Directory refused: {deleted.detail})")
            return revoked
        return self._revoke_at_google(token, "revoke access token")

    # ---- verify, resolve, check --------------------------------------------------------------------

    def verify(self, request: ActionRequest) -> bool | None:
        try:
            if request.verb == Verb.REVOKE_REFRESH_TOKENS:
                return not self._grants(self._subject_user(request), "verify OAuth grants")
            if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
                if not request.credential.reveal().startswith("ya29."):
                    return None  # a refresh token cannot be checked without its client's secret
                self._tokeninfo(request.credential)
                return False
        except _Stop as stop:
            return True if stop.outcome.status is OutcomeStatus.ALREADY_INVALID else None
        return None  # Google lists no sessions: a sign-out cannot be checked

    def resolve(self, request: ActionRequest) -> Subject | None:
        """Who it is, read-only (runs under the dry-run guard): an access token's user by tokeninfo, any user by
        users.get. Only users of this Workspace are named."""
        try:
            if request.verb == Verb.REVOKE_TOKEN and request.credential is not None:
                if not request.credential.reveal().startswith("ya29."):
                    return request.subject
                info = self._tokeninfo(request.credential)
                if self._outside(info.email):
                    return None
                return self._ours(info.sub, info.email).subject(self.name)
            if request.subject is not None:
                return self._ours(request.subject.user_id).subject(self.name)
        except _Stop:
            pass
        return request.subject

    def check(self) -> CheckResult:
        try:
            self._credentials.token()
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {self._credentials.token_uri}: {type(exc).__name__}")
        except TokenRefused as refused:
            return CheckResult(False, refused.outcome.detail)
        who = f"{self._credentials.key.client_email} acting as {self._subject}"
        probes = (
            (f"users/{quote(self._subject, safe='')}", {"fields": USER_FIELDS}, SCOPE_USERS, PRIV_READ_USERS),
            (f"users/{quote(self._subject, safe='')}/tokens", None, SCOPE_SECURITY, PRIV_SECURITY),
        )
        for path, params, scope, privilege in probes:
            url = f"{self._base}/{path}"
            try:
                response = self._send("GET", path, params)
            except httpx.HTTPError as exc:
                return CheckResult(False, f"token granted to {who}, but cannot reach {url}: {type(exc).__name__}")
            except _Stop as stop:
                return CheckResult(False, stop.outcome.detail)
            if response.status_code != 200:
                detail = self._failure(response, f"GET {url}", scope, privilege).detail
                return CheckResult(False, f"token granted to {who}, but {detail}")
            try:
                _json(response, f"GET {url}")
            except _Stop as stop:
                return CheckResult(False, f"token granted to {who}, but {stop.outcome.detail}")
        return CheckResult(
            True,
            f"token granted to {who} for the scopes {', '.join(s.rsplit('/', 1)[-1] for s in SCOPES)}; "
            "may read users and OAuth grants (the sign-out privilege shows only when acting)",
        )

    def close(self) -> None:
        self._http.close()

    # ---- directory (panic) -------------------------------------------------------------------------

    def find_user(self, query: str) -> Subject | None:
        key = query.strip()
        if not key:
            return None
        if "@" not in key and not key.isdigit() and self._domain:
            key = f"{key}@{self._domain}"  # a login name within the configured domain
        try:
            user = self._lookup(key)
            if user is None:
                return None
            outside = self._outside(user.email, user.customer_id)
            if outside:
                raise DirectoryError(f"{user.email} {outside}")
        except _Stop as stop:
            raise DirectoryError(stop.outcome.detail) from None
        return user.subject(self.name)

    def group_members(self, group: str) -> Iterator[Subject]:
        """Every active user in the group and, once each, in the groups nested in it."""
        pending, expanded, yielded = [group.strip()], set(), set()
        while pending:
            key = pending.pop(0)
            if key.lower() in expanded:
                continue  # Google refuses membership cycles; this guards against them anyway
            expanded.add(key.lower())
            for member in self._members(key):
                kind = member.get("type")
                member_key = _text(member, "id") or _text(member, "email")
                if kind == "CUSTOMER":
                    raise DirectoryError(f"group {key} contains every user of the organisation: panic all users")
                if not member_key:
                    continue
                if kind == "GROUP":
                    pending.append(member_key)
                elif kind == "USER" and member.get("status") != "SUSPENDED" and member_key not in yielded:
                    yielded.add(member_key)
                    yield Subject(self.name, member_key, _text(member, "email"))

    def _members(self, group: str) -> Iterator[dict[str, Any]]:
        path = f"groups/{quote(group, safe='')}/members"
        step = f"list members of group {group}"
        try:
            yield from self._pages(path, {"maxResults": MEMBERS_PAGE}, "members", step, SCOPE_MEMBERS, PRIV_READ_GROUPS)
        except _Stop as stop:
            raise DirectoryError(stop.outcome.detail) from None

    def all_users(self) -> Iterator[Subject]:
        """Every user of the customer (or of `domain`, when set), suspended users skipped."""
        params: dict[str, str | int] = {"maxResults": USERS_PAGE, "fields": f"nextPageToken,users({USER_FIELDS})"}
        params.update({"domain": self._domain} if self._domain else {"customer": self._customer})
        try:
            for item in self._pages("users", params, "users", "list users", SCOPE_USERS, PRIV_READ_USERS):
                user = _User.from_api(item)
                if user is None or user.suspended:
                    continue
                self._remember(user)
                yield user.subject(self.name)
        except _Stop as stop:
            raise DirectoryError(stop.outcome.detail) from None


# ---- helpers -----------------------------------------------------------------------------------------


def _json(response: httpx.Response, step: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer is not Google's JSON (wrong URL?)"))
    return body


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _error_reasons(response: httpx.Response) -> list[str]:
    """The machine-readable reasons of a Google API error (`error.errors[].reason`, google.rpc.ErrorInfo
    `reason`s, then `error.status`). Only identifier-like values are kept: a message is never repeated."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return []
    if not isinstance(error, dict):
        return []
    candidates = [item.get("reason") for item in error.get("errors") or [] if isinstance(item, dict)]
    candidates += [item.get("reason") for item in error.get("details") or [] if isinstance(item, dict)]
    candidates.append(error.get("status"))
    return [value for value in candidates if isinstance(value, str) and _REASON.match(value)]


def _oauth_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return error if isinstance(error, str) and _REASON.match(error) else ""


def _oauth_failure(response: httpx.Response, step: str) -> Outcome:
    outcome = outcome_for_status(response, target_gone=frozenset())
    error = _oauth_error(response)
    detail = f"{step}: {outcome.detail}" + (f" ({error})" if error else "")
    return replace(outcome, detail=detail)
