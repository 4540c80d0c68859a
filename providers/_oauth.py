"""OAuth 2.0 building blocks shared by plugins: RFC 8414 / OIDC discovery from a configured issuer, RFC 7662
introspection and RFC 7009 revocation with client authentication. No retries here (the engine retries)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from responder.errors import ConfigError
from responder.http import READ_ONLY
from responder.secret import Secret

_DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    issuer: str
    revocation_endpoint: str | None
    introspection_endpoint: str | None
    end_session_endpoint: str | None


class DiscoveryFailed(Exception):
    """The configured issuer did not serve usable metadata (wrong URL, down, not an OAuth server)."""


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: Secret | None = None  # None: a public client, identified by client_id alone

    def apply(self, form: dict[str, str]) -> tuple[dict[str, str], httpx.Auth | None]:
        """client_secret_basic for confidential clients (RFC 6749 §2.3.1: each part form-encoded, then
        Basic); client_id in the form for public ones. Returns (form, auth)."""
        if self.secret is None:
            return {**form, "client_id": self.client_id}, None
        return form, httpx.BasicAuth(quote(self.client_id, safe=""), quote(self.secret.reveal(), safe=""))


class OAuthServer:
    """One configured authorization server. Metadata is fetched once, from the configured issuer only."""

    def __init__(self, client: httpx.Client, issuer: str) -> None:
        self._client = client
        self._issuer = issuer.rstrip("/")
        self._metadata: ServerMetadata | None = None
        self._lock = threading.Lock()

    @property
    def issuer(self) -> str:
        return self._issuer

    def metadata(self) -> ServerMetadata:
        with self._lock:
            if self._metadata is None:
                self._metadata = self._discover()
            return self._metadata

    def _discover(self) -> ServerMetadata:
        problems = []
        for path in _DISCOVERY_PATHS:
            url = self._issuer + path
            try:
                response = self._client.get(url)
            except httpx.HTTPError as exc:
                raise DiscoveryFailed(f"cannot reach {url}: {type(exc).__name__}") from None
            if response.status_code != 200:
                problems.append(f"{url} answered HTTP {response.status_code}")
                continue
            try:
                document: dict[str, Any] = response.json()
            except ValueError:
                problems.append(f"{url} is not JSON")
                continue
            if str(document.get("issuer", "")).rstrip("/") != self._issuer:
                # RFC 8414 §3.3: a mismatch means the document is not this issuer's; do not use it.
                raise DiscoveryFailed(f"{url} names issuer {document.get('issuer')!r}, not {self._issuer!r}")
            return ServerMetadata(
                issuer=self._issuer,
                revocation_endpoint=document.get("revocation_endpoint"),
                introspection_endpoint=document.get("introspection_endpoint"),
                end_session_endpoint=document.get("end_session_endpoint"),
            )
        raise DiscoveryFailed("; ".join(problems))

    def introspect(self, token: Secret, client: ClientCredentials, hint: str | None = None) -> httpx.Response:
        endpoint = self.metadata().introspection_endpoint
        if endpoint is None:
            raise ConfigError(f"{self._issuer} offers no introspection endpoint")
        form, auth = client.apply(_token_form(token, hint))
        return self._client.post(endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT, extensions=READ_ONLY)

    def revoke(self, token: Secret, client: ClientCredentials, hint: str | None = None) -> httpx.Response:
        endpoint = self.metadata().revocation_endpoint
        if endpoint is None:
            raise ConfigError(f"{self._issuer} offers no revocation endpoint")
        form, auth = client.apply(_token_form(token, hint))
        return self._client.post(endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)


def _token_form(token: Secret, hint: str | None) -> dict[str, str]:
    form = {"token": token.reveal()}
    if hint:
        form["token_type_hint"] = hint
    return form
