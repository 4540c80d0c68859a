"""Microsoft Entra ID: ends every sign-in session of a user whose credential leaked, with Microsoft Graph
`POST /v1.0/users/{id}/revokeSignInSessions` and responder's own app-only token (client credentials).

Entra has no per-token and no per-session revocation in Graph: every finding that names a user becomes
`end_all_sessions` of that user. It invalidates the user's refresh tokens and browser session cookies (by
resetting `signInSessionsValidFromDateTime`), within a few minutes; access tokens already issued stay valid
until they expire. What a finding becomes (docs/providers/entra.md):
- a JWT (access, ID or unclassified token) of the configured tenant (`tid`) naming a user (`oid`): that user.
  Tokens of another tenant and app-only tokens (`oid` == `sub`: a service principal, not a user) get nothing.
- `ESTSAUTH` / `ESTSAUTHPERSISTENT` cookies and opaque refresh/access tokens name nobody: the user named by the
  other tokens of the same artifact (same tenant, one user only); otherwise `needs_subject`.

Every Graph call goes through providers/_entra_graph.py (one chokepoint); the app token comes from
providers/_entra_auth.py. No retries or sleeps here: the engine retries. No secret ever appears in an Outcome,
a CheckResult, a log line or an exception text."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from providers._entra_auth import AppToken, ClientCertificate, ClientSecret, Credential, TokenUnavailable, token_roles
from providers._entra_graph import (
    EVENTUAL,
    NOT_FOUND,
    PAGE_SIZE,
    Graph,
    Stop,
    answer,
    error_code,
    failure,
    odata_string,
    request_id,
)
from providers._settings import PluginSettings, service_url, validate_settings
from responder.errors import ConfigError, DirectoryError
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
from responder.secret import read_secret

PUBLIC_LOGIN = "https://login.microsoftonline.com"
PUBLIC_GRAPH = "https://graph.microsoft.com"
SESSION_COOKIES = frozenset({"ESTSAUTH", "ESTSAUTHPERSISTENT"})

# Application permissions (learn.microsoft.com/graph/api/user-revokesigninsessions, user-get, user-list,
# group-list-transitivemembers). Each tuple: the least privileged first, then those that also grant it.
REVOKE_SESSIONS = "User.RevokeSessions.All"
READ_USERS = "User.Read.All"
READ_GROUPS = "GroupMember.Read.All"
_GRANTS_READ_USERS = frozenset({READ_USERS, "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"})
_GRANTS_READ_GROUPS = frozenset(
    {READ_GROUPS, "GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
     "Directory.ReadWrite.All"}
)  # fmt: skip

USER_FIELDS = "id,userPrincipalName,accountEnabled"  # accountEnabled is returned only when selected
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BY_EVIDENCE = frozenset({Kind.SESSION_COOKIE, Kind.REFRESH_TOKEN, Kind.ACCESS_TOKEN})
_TOKENS = frozenset({Kind.ACCESS_TOKEN, Kind.ID_TOKEN, Kind.REFRESH_TOKEN, Kind.JWT})


class EntraSettings(PluginSettings):
    plugin: Literal["entra"]
    tenant_id: str = Field(description="the directory (tenant) GUID, not a domain name")
    client_id: str = Field(description="application (client) GUID of responder's app registration")
    client_secret: SecretStr | None = Field(
        default=None, description="a client secret of the app (or a certificate instead); keep it out of this file"
    )
    client_secret_file: Path | None = Field(default=None, description="file holding the app's client secret")
    client_secret_env: str | None = Field(
        default=None, description="environment variable holding the app's client secret"
    )
    certificate_file: Path | None = Field(
        default=None,
        description="PEM with the app certificate and its unencrypted private key (preferred over a secret)",
    )
    certificate_env: str | None = Field(default=None, description="environment variable holding that PEM")
    login_url: str = Field(default=PUBLIC_LOGIN, description="token host; change only for a national cloud")
    graph_url: str = Field(default=PUBLIC_GRAPH, description="Microsoft Graph root; change only for a national cloud")

    @field_validator("tenant_id", "client_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        if not _GUID.fullmatch(value.strip()):
            raise ValueError("must be a GUID (the directory (tenant) id / application (client) id of the app)")
        return value.strip().lower()

    @field_validator("login_url", "graph_url")
    @classmethod
    def _root_url(cls, value: str) -> str:
        problem = "must be an https root URL, e.g. https://graph.microsoft.com (no path)"
        if service_url(value, problem, schemes=("https",)).path.strip("/"):
            raise ValueError(problem)
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> EntraSettings:
        if self.base_url is not None:
            raise ValueError("entra takes graph_url and login_url (national clouds), not base_url")
        if not self.hosts and self.issuer is None:
            # The core attributes findings by `hosts` / `issuer` only (graph_url and login_url are not read
            # there): without either, this instance would silently never act.
            raise ValueError(
                'set hosts (e.g. ["login.microsoftonline.com", "graph.microsoft.com"]) and/or issuer '
                "(https://login.microsoftonline.com/<tenant_id>): without them no finding is attributed to this "
                "instance"
            )
        if self.issuer is not None:
            segments = urlsplit(self.issuer).path.strip("/").split("/")
            if segments[0].lower() != self.tenant_id:
                raise ValueError(
                    "issuer must be this tenant's, e.g. https://login.microsoftonline.com/<tenant_id>/v2.0"
                )
        return self


class EntraProvider:
    plugin: ClassVar[str] = "entra"
    settings_model: ClassVar[type[PluginSettings]] = EntraSettings
    panic_verbs: ClassVar[tuple[str, ...]] = (Verb.END_ALL_SESSIONS.value,)

    def __init__(self, settings: EntraSettings, client: httpx.Client) -> None:
        self.name = settings.name
        self._tenant = settings.tenant_id
        self._client_id = settings.client_id
        token_url = f"{settings.login_url}/{settings.tenant_id}/oauth2/v2.0/token"
        credential = _credential(f"providers.{settings.name}", settings)
        self._token = AppToken(client, token_url, settings.client_id, f"{settings.graph_url}/.default", credential)
        self._graph = Graph(client, settings.graph_url, self._token)
        self._http = client

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> EntraProvider:
        return cls(validate_settings(EntraSettings, dict(table)), client)

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        if finding.kind is Kind.SESSION_COOKIE:
            if not any(location.name in SESSION_COOKIES for location in finding.locations):
                return ()
            return (self._by_evidence(related),)
        if finding.kind not in _TOKENS:
            return ()
        if "oid" in finding.claims or "tid" in finding.claims:
            # A JWT that says whose it is: act only for a user of this tenant, never for another tenant's.
            subject = self._user_of(finding.claims)
            return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),) if subject else ()
        if finding.kind in _BY_EVIDENCE and not finding.claims:
            return (self._by_evidence(related),)  # opaque: its user can only come from other evidence
        return ()

    def _user_of(self, claims: Mapping[str, str]) -> Subject | None:
        """The user a token of this tenant names by `oid`. App-only tokens carry the service principal's
        object id in both `oid` and `sub`: no user, and revokeSignInSessions would not apply."""
        if claims.get("tid", "").lower() != self._tenant:
            return None
        subject = subject_from_claims(self.name, claims, "oid")
        if subject is None or not _GUID.fullmatch(subject.user_id) or claims.get("sub") == subject.user_id:
            return None
        return Subject(self.name, subject.user_id.lower())

    def _by_evidence(self, related: Sequence[Finding]) -> Target:
        """A cookie or opaque token: the one user of this tenant that the artifact's other tokens name, or
        no subject at all (recorded as needs_subject): several users or none is never a guess."""
        # subject_from_related's rule, on the tokens of this tenant only and with object ids compared
        # case-insensitively (one user written twice is still one user).
        users = {subject for finding in related if (subject := self._user_of(finding.claims)) is not None}
        subject = users.pop() if len(users) == 1 else None
        return Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject)

    # ---- execute, verify, resolve ------------------------------------------------------------------

    def execute(self, request: ActionRequest) -> Outcome:
        if request.verb != Verb.END_ALL_SESSIONS:
            detail = f"the entra plugin cannot {request.verb}: Graph only revokes all sign-in sessions of a user"
            return Outcome(OutcomeStatus.UNSUPPORTED, detail)
        if request.subject is None:
            return Outcome(OutcomeStatus.FAILED_PERMANENT, "end_all_sessions needs the user's object id; none given")
        try:
            outcome = self._revoke(request.subject.user_id)
        except Stop as stop:
            outcome = stop.outcome
        return replace(outcome, subject=request.subject)

    def _revoke(self, user_id: str) -> Outcome:
        step = "revokeSignInSessions"
        response = self._graph.send("POST", f"{_user_path(user_id)}/revokeSignInSessions")
        if response.status_code == 404 and error_code(response) == NOT_FOUND:
            detail = f"{step}: HTTP 404: tenant {self._tenant} has no user {user_id} (deleted?)"
            return Outcome(OutcomeStatus.ALREADY_INVALID, detail, request_id(response))
        if not response.is_success:
            return failure(response, step, REVOKE_SESSIONS)
        if response.content.strip():  # the action returns Edm.Boolean: {"value": true}
            value = answer(response, step).get("value")
            if value is not True:
                detail = f"{step}: HTTP {response.status_code} but Graph answered value={value!r}, not true"
                return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, request_id(response))
        detail = (
            f"{step}: HTTP {response.status_code}: the user's refresh tokens and session cookies are revoked "
            "(takes effect within minutes); access tokens already issued stay valid until they expire"
        )
        return Outcome(OutcomeStatus.REVOKED, detail, request_id(response))

    def verify(self, request: ActionRequest) -> bool | None:
        """Cannot tell. Graph lists no sign-in sessions. The user's `signInSessionsValidFromDateTime` (which the
        revocation resets) would only prove something compared with the time of this action's own call,
        which an ActionRequest does not carry; an older reset looks the same. And even a fresh reset leaves
        access tokens valid until they expire and takes minutes to reach every service."""
        return None

    def resolve(self, request: ActionRequest) -> Subject | None:
        """The user's login (userPrincipalName), by a read: runs in dry runs too."""
        if request.subject is None:
            return None
        try:
            found = self._user(request.subject.user_id, "resolve user")
        except (Stop, httpx.HTTPError):
            return request.subject
        return found or request.subject

    def _user(self, key: str, step: str) -> Subject | None:
        """GET /users/{id | userPrincipalName}; None when Graph knows no such user."""
        response = self._graph.send("GET", _user_path(key), params={"$select": USER_FIELDS})
        if response.status_code == 404 and error_code(response) == NOT_FOUND:
            return None
        if response.status_code != 200:
            raise Stop(failure(response, step, READ_USERS))
        return self._subject(answer(response, step))

    def _subject(self, item: Mapping[str, Any]) -> Subject | None:
        user_id, login = item.get("id"), item.get("userPrincipalName")
        if not isinstance(user_id, str) or not user_id:
            return None
        return Subject(self.name, user_id, login if isinstance(login, str) else "")

    # ---- directory (panic) -------------------------------------------------------------------------

    def find_user(self, query: str) -> Subject | None:
        wanted = query.strip()
        if not _GUID.fullmatch(wanted) and "@" not in wanted:
            raise DirectoryError(
                f"{self.name}: Entra users are found by object id, userPrincipalName or email; {wanted!r} is none"
            )
        with self._directory("find user"):
            found = self._user(wanted.lower() if _GUID.fullmatch(wanted) else wanted, "find user")
            if found is None and "@" in wanted:
                found = self._user_by_mail(wanted)
        return found

    def _user_by_mail(self, address: str) -> Subject | None:
        literal = odata_string(address)
        params = {
            "$filter": f"mail eq {literal} or otherMails/any(m:m eq {literal})",
            "$select": USER_FIELDS,
            "$count": "true",
            "$top": "2",
        }
        pages = self._graph.pages("/users", params, "find user by email", READ_USERS, EVENTUAL)
        items = list(itertools.islice(pages, 2))
        users = [subject for item in items if (subject := self._subject(item)) is not None]
        if len(users) > 1:
            logins = ", ".join(user.login or user.user_id for user in users)
            raise DirectoryError(f"{self.name}: several users have the email {address!r} ({logins}, ...): give one")
        return users[0] if users else None

    def group_members(self, group: str) -> Iterator[Subject]:
        wanted = group.strip()
        with self._directory(f"members of group {wanted!r}"):
            group_id = wanted.lower() if _GUID.fullmatch(wanted) else self._group_id(wanted)
            # The OData cast keeps users only (nested groups are expanded, devices and contacts dropped).
            path = f"/groups/{group_id}/transitiveMembers/microsoft.graph.user"
            params = {"$select": USER_FIELDS, "$top": str(PAGE_SIZE), "$count": "true"}
            missing = f"list group members: no group has the object id {group_id}"
            items = self._graph.pages(path, params, "list group members", READ_GROUPS, EVENTUAL, missing=missing)
            for item in items:
                subject = self._subject(item)
                if subject is not None and item.get("accountEnabled") is not False:
                    yield subject

    def _group_id(self, name: str) -> str:
        """The one group whose displayName is exactly `name` (Graph compares case-insensitively, so the case
        is checked here). Several: refused, with their ids, rather than picking one."""
        params = {"$filter": f"displayName eq {odata_string(name)}", "$select": "id,displayName", "$top": "999"}
        found = [
            (str(item["id"]), str(item.get("displayName", "")))
            for item in self._graph.pages("/groups", params, "find group", READ_GROUPS)
            if isinstance(item.get("id"), str)
        ]
        exact = [group_id for group_id, shown in found if shown == name]
        if len(exact) == 1:
            return exact[0]
        if exact:
            raise DirectoryError(
                f"{self.name}: {len(exact)} groups are named {name!r} (ids {', '.join(exact)}): give the object id"
            )
        others = ", ".join(f"{shown!r}" for _, shown in found)
        hint = f" (only differently written: {others})" if others else ""
        raise DirectoryError(f"{self.name}: no group is named {name!r}{hint}")

    def all_users(self) -> Iterator[Subject]:
        params = {"$select": USER_FIELDS, "$filter": "accountEnabled eq true", "$top": str(PAGE_SIZE)}
        with self._directory("list users"):
            for item in self._graph.pages("/users", params, "list users", READ_USERS):
                subject = self._subject(item)
                if subject is not None and item.get("accountEnabled") is not False:
                    yield subject

    @contextmanager
    def _directory(self, step: str) -> Iterator[None]:
        try:
            yield
        except Stop as stop:
            raise DirectoryError(f"{self.name}: {stop.outcome.detail}") from None
        except httpx.HTTPError as exc:
            raise DirectoryError(f"{self.name}: {step}: cannot reach Microsoft Entra ({type(exc).__name__})") from None

    # ---- check -------------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Proves login_url, tenant_id and the credential (an app token), graph_url (one user read), and names
        each application permission the token lacks (its `roles`)."""
        try:
            token = self._token.get()
        except TokenUnavailable as exc:
            return CheckResult(False, exc.outcome.detail)
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {self._token.token_url}: {type(exc).__name__} (wrong login_url?)")
        users = self._graph.url("/users")
        try:
            response = self._graph.send("GET", "/users", params={"$select": "id", "$top": "1"})
            if response.status_code == 200 and not isinstance(answer(response, "list users").get("value"), list):
                raise Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, "no value list"))
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {users}: {type(exc).__name__} (wrong graph_url?)")
        except Stop as stop:
            if stop.outcome.status is OutcomeStatus.FAILED_TRANSIENT:
                return CheckResult(False, stop.outcome.detail)
            return CheckResult(False, f"GET {users} did not answer as Microsoft Graph does: wrong graph_url?")
        if response.status_code == 429 or response.status_code >= 500:
            return CheckResult(False, failure(response, "list users", READ_USERS).detail)
        if response.status_code == 401:
            return CheckResult(False, "Graph refused responder's app token (HTTP 401): are graph_url and login_url "
                                      "the same cloud?")  # fmt: skip
        if response.status_code not in (200, 403):
            return CheckResult(False, f"GET {users} answered HTTP {response.status_code}: wrong graph_url?")
        me = f"app {self._client_id} authenticated in tenant {self._tenant}"
        missing = self._missing_permissions(token_roles(token), users_refused=response.status_code == 403)
        if missing:
            return CheckResult(False, f"{me}, but missing application permission {'; '.join(missing)} "
                                      "(add it and grant admin consent)")  # fmt: skip
        return CheckResult(True, f"{me}; Graph answered; may revoke sessions, read users and group members")

    @staticmethod
    def _missing_permissions(roles: frozenset[str] | None, *, users_refused: bool) -> list[str]:
        """What the token lacks, least privileged names first. A token whose roles cannot be read is judged
        by the user read alone (Graph's tokens are JWTs, but Microsoft does not promise it)."""
        missing = []
        if roles is not None and REVOKE_SESSIONS not in roles:
            missing.append(f"{REVOKE_SESSIONS} (to revoke sessions)")
        if users_refused or (roles is not None and not roles & _GRANTS_READ_USERS):
            missing.append(f"{READ_USERS} (to name users, and for panic)")
        if roles is not None and not roles & _GRANTS_READ_GROUPS:
            missing.append(f"{READ_GROUPS} (for panic by group)")
        return missing

    def close(self) -> None:
        self._http.close()


# ---- helpers -----------------------------------------------------------------------------------------


def _credential(where: str, settings: EntraSettings) -> Credential:
    """Exactly one of a client secret or a certificate (PEM: private key + certificate)."""
    secret = read_secret(
        f"{where}.client_secret", settings.client_secret, settings.client_secret_file, settings.client_secret_env
    )
    pem = read_secret(f"{where}.certificate", None, settings.certificate_file, settings.certificate_env)
    if secret is not None and pem is not None:
        raise ConfigError(f"{where}: give a client secret or a certificate, not both")
    if pem is not None:
        return ClientCertificate.from_pem(f"{where}.certificate", pem)
    if secret is None:
        raise ConfigError(
            f"{where}: set client_secret_file or client_secret_env (or certificate_file / certificate_env)"
        )
    return ClientSecret(secret)


def _user_path(key: str) -> str:
    """`/users/{id | userPrincipalName}`. A UPN may hold `#` (guests: `..#EXT#@..`), encoded here; one that
    starts with `$` must be written `/users('{upn}')` (per the user-get reference)."""
    if key.startswith("$"):
        return "/users(" + quote(odata_string(key), safe="@$'") + ")"
    return "/users/" + quote(key, safe="@")
