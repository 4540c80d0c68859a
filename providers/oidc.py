"""Generic OAuth 2.0 / OpenID Connect provider: discovery from the configured issuer (RFC 8414 / OIDC), the
user and liveness by introspection (RFC 7662), revocation (RFC 7009) with responder's own client, or as a
configured public client.

A leaked OP session cookie has no standard server-side API. Where the instance opts in
(`end_session_with_cookie`), responder ends the session by RP-initiated logout, presenting the cookie (and its
signature cookie, when the OP signs them) to the OP's own end_session_endpoint as the browser would, and records
it as such; otherwise the finding is recorded as unhandled. ID tokens and authorization codes are not bearer
credentials to revoke. A JWT access token is revoked when the OP supports
it, but its verification says "cannot tell": resource servers that do not introspect accept it until exp."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from providers._logout import end_session
from providers._oauth import ClientCredentials, DiscoveryFailed, OAuthServer
from providers._settings import PluginSettings, validate_settings
from responder.errors import ConfigError
from responder.http import outcome_for_status
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

_HINTS = {Kind.ACCESS_TOKEN: "access_token", Kind.REFRESH_TOKEN: "refresh_token"}
_REVOCABLE = frozenset({Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.JWT})
_CHECK_TOKEN = Secret("responder-provider-check")  # introspecting a made-up token proves client auth only


class OidcSettings(PluginSettings):
    plugin: Literal["oidc"]
    issuer: str = Field(description="the OP's exact issuer URL; discovery is fetched from there only")
    client_id: str | None = Field(default=None, description="responder's own client at the OP (or public_client_ids)")
    client_secret: SecretStr | None = Field(
        default=None,
        description="client_id's secret (exactly one of client_secret, _file, _env); keep it out of this file",
    )
    client_secret_file: Path | None = Field(default=None, description="file holding client_id's secret")
    client_secret_env: str | None = Field(default=None, description="environment variable holding client_id's secret")
    public_client_ids: tuple[str, ...] = Field(
        default=(), description="without client_id: exactly one public client to act as"
    )
    # Opt-in: end a leaked OP session by RP-initiated logout with the session cookie itself.
    end_session_with_cookie: bool = Field(
        default=False, description="opt-in: end a leaked OP session by RP-initiated logout with the cookie itself"
    )
    session_cookies: tuple[str, ...] = Field(default=("_session",), description="the OP's session cookie names")
    logout_confirm: dict[str, str] = Field(
        default_factory=lambda: {"logout": "yes"},
        description='the field that answers "yes, sign me out" on the OP\'s logout page; default { logout = "yes" }',
    )

    @model_validator(mode="after")
    def _has_a_client(self) -> OidcSettings:
        if self.client_id is None and len(self.public_client_ids) != 1:
            raise ValueError(
                "set client_id (+ client_secret) for responder's own client, or exactly one public_client_ids"
            )
        return self


class OidcProvider:
    plugin: ClassVar[str] = "oidc"
    settings_model: ClassVar[type[PluginSettings]] = OidcSettings

    def __init__(self, settings: OidcSettings, client: httpx.Client) -> None:
        self.name = settings.name
        self._settings = settings
        self._server = OAuthServer(client, settings.issuer)
        secret = read_secret(
            f"providers.{settings.name}.client_secret",
            settings.client_secret,
            settings.client_secret_file,
            settings.client_secret_env,
        )
        if settings.client_id is not None:
            self._client = ClientCredentials(settings.client_id, secret)
        else:
            self._client = ClientCredentials(settings.public_client_ids[0])
        self._http = client

    @classmethod
    def from_config(cls, table: Mapping[str, Any], client: httpx.Client) -> OidcProvider:
        return cls(validate_settings(OidcSettings, dict(table)), client)

    # ---- no I/O ------------------------------------------------------------------------------------

    def claims(self, finding: Finding) -> bool:
        return finding.provider.instance == self.name

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        if finding.kind is Kind.SESSION_COOKIE:
            return self._plan_session(finding, related)
        if finding.kind not in _REVOCABLE:
            return ()
        subject = subject_from_claims(self.name, finding.claims)
        return (Target(Verb.REVOKE_TOKEN, uses_credential=True, subject=subject),)

    def _plan_session(self, finding: Finding, related: Sequence[Finding]) -> tuple[Target, ...]:
        """The OP's own session cookie, when the instance opted in: RP-initiated logout with it. The sealed
        credential is the Cookie header the OP needs (the cookie and its signature cookie, if any); the user is
        named by another token of the same artifact when exactly one user is named there."""
        if not self._settings.end_session_with_cookie:
            return ()
        name = next((loc.name for loc in finding.locations if loc.name in self._settings.session_cookies), None)
        if name is None:
            return ()
        pairs = [(name, finding.value), *finding.companions.items()]
        header = Secret("; ".join(f"{cookie}={value.reveal()}" for cookie, value in pairs))
        subject = subject_from_related(self.name, related)
        return (Target(Verb.END_SESSION, uses_credential=True, subject=subject, credential=header),)

    # ---- I/O ---------------------------------------------------------------------------------------

    def resolve(self, request: ActionRequest) -> Subject | None:
        if request.credential is None or request.verb == Verb.END_SESSION:
            return request.subject  # a session cookie is never sent anywhere but to end the session
        claims = self._introspect(request)
        return self._subject(claims) if claims and claims.get("active") else request.subject

    def execute(self, request: ActionRequest) -> Outcome:
        if request.verb == Verb.END_SESSION and request.credential is not None:
            return self._end_session(request)
        if request.verb != Verb.REVOKE_TOKEN or request.credential is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, f"a generic OIDC provider cannot {request.verb}")
        try:
            metadata = self._server.metadata()
        except DiscoveryFailed as exc:
            return Outcome(OutcomeStatus.FAILED_TRANSIENT, f"discovery: {exc}")
        subject = request.subject
        hint = _HINTS.get(request.kind or Kind.JWT)
        self_contained = request.credential.reveal().count(".") == 2
        if metadata.introspection_endpoint is not None:
            # Ask first: an inactive token is recorded as already invalid (RFC 7009 answers 200 either way).
            response = self._server.introspect(request.credential, self._client, hint)
            if response.status_code == 200:
                claims = response.json()
                if not claims.get("active"):
                    return Outcome(OutcomeStatus.ALREADY_INVALID, "introspection: inactive", subject=subject)
                subject = self._subject(claims) or subject
            elif not (response.status_code == 400 and self_contained):
                return self._answer(response, "introspection")
        if metadata.revocation_endpoint is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, "the provider offers no revocation endpoint", subject=subject)
        response = self._server.revoke(request.credential, self._client, hint)
        if response.status_code == 400 and (self_contained or _error(response) == "unsupported_token_type"):
            detail = "the provider cannot revoke this token type"
            if self_contained:
                detail = "self-contained JWT the provider can neither introspect nor revoke: valid until it expires"
            return Outcome(OutcomeStatus.UNSUPPORTED, detail, subject=subject)
        return replace(self._answer(response, "revocation"), subject=subject)

    def _end_session(self, request: ActionRequest) -> Outcome:
        if request.credential is None or not self._settings.end_session_with_cookie:
            return Outcome(OutcomeStatus.UNSUPPORTED, "end_session_with_cookie is not enabled for this instance")
        try:
            metadata = self._server.metadata()
        except DiscoveryFailed as exc:
            return Outcome(OutcomeStatus.FAILED_TRANSIENT, f"discovery: {exc}")
        if metadata.end_session_endpoint is None:
            return Outcome(OutcomeStatus.UNSUPPORTED, "the OP offers no end_session_endpoint (RP-initiated logout)")
        outcome = end_session(
            self._http, metadata.end_session_endpoint, self._server.issuer, request.credential,
            self._settings.logout_confirm,
        )  # fmt: skip
        return replace(outcome, subject=request.subject)

    def verify(self, request: ActionRequest) -> bool | None:
        if request.verb == Verb.END_SESSION:
            return None  # no standard read tells whether an OP session is over
        if request.credential is None:
            return None
        if request.credential.reveal().count(".") == 2 and request.kind in (Kind.ACCESS_TOKEN, Kind.JWT):
            return None  # self-contained: inactive at introspection says nothing about resource servers
        claims = self._introspect(request)
        return None if claims is None else not claims.get("active", True)

    def check(self) -> CheckResult:
        try:
            metadata = self._server.metadata()
        except DiscoveryFailed as exc:
            return CheckResult(False, f"discovery failed ({exc}): is issuer the OP's exact issuer URL?")
        if metadata.introspection_endpoint is None:
            return CheckResult(True, f"discovered {metadata.issuer}; no introspection endpoint to prove the client")
        try:
            response = self._server.introspect(_CHECK_TOKEN, self._client)
        except httpx.HTTPError as exc:
            return CheckResult(False, f"introspection endpoint unreachable: {type(exc).__name__}")
        if response.status_code == 401:
            return CheckResult(False, f"client {self._client.client_id!r} was refused: wrong client_id or secret")
        if response.status_code == 403:
            return CheckResult(False, f"client {self._client.client_id!r} may not introspect: grant it the permission")
        if response.status_code != 200:
            return CheckResult(False, f"introspection answered HTTP {response.status_code}")
        return CheckResult(True, f"discovered {metadata.issuer}; client {self._client.client_id!r} authenticated")

    def close(self) -> None:
        self._http.close()

    # ---- helpers -----------------------------------------------------------------------------------

    def _introspect(self, request: ActionRequest) -> dict[str, Any] | None:
        if request.credential is None:
            return None
        try:
            response = self._server.introspect(request.credential, self._client, _HINTS.get(request.kind or Kind.JWT))
        except (DiscoveryFailed, ConfigError):
            return None
        if response.status_code != 200:
            return None
        body = response.json()
        return body if isinstance(body, dict) else None

    def _subject(self, claims: Mapping[str, Any]) -> Subject | None:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            return None
        login = claims.get("username") or claims.get("email") or ""
        return Subject(self.name, sub, str(login))

    def _answer(self, response: httpx.Response, step: str) -> Outcome:
        """The shared status meaning, with the step named. No 404 reading: RFC 7009/7662 never mean "gone"."""
        outcome = outcome_for_status(response, target_gone=frozenset())
        if outcome.status is OutcomeStatus.REVOKED:
            return outcome
        detail = f"{step}: {outcome.detail}"
        if response.status_code == 401:
            detail = f"{step}: client {self._client.client_id!r} was refused (check client_id and secret)"
        return replace(outcome, detail=detail)


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
