"""Google service-account credentials with domain-wide delegation: the key file, the RFC 7523 JWT-bearer grant
(an RS256 assertion signed with PyJWT) and the admin access token it buys, cached until shortly before expiry.

The private key lives in a `Secret` and is revealed only to sign an assertion. Google's error texts are read to
tell causes apart but never repeated: every message here is our own wording."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from responder.errors import ConfigError
from responder.http import READ_ONLY, retry_after_seconds
from responder.model import Outcome, OutcomeStatus
from responder.secret import Secret

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint, not a credential
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # Google refuses assertions valid for more than one hour
REFRESH_MARGIN = 300.0  # a cached token with less than this many seconds left is replaced
DWD_CONSOLE = "Admin console → Security → Access and data control → API controls → Domain-wide delegation"
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


def is_google_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "googleapis.com" or host.endswith(".googleapis.com")


def checked_url(where: str, url: str, *, allow_any_host: bool) -> str:
    """An https URL without query or fragment, on a googleapis.com host unless the operator allowed others."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{where}: must be an https URL without query or fragment")
    if not allow_any_host and not is_google_host(url):
        raise ConfigError(f"{where}: must be a googleapis.com host (allow_non_google_hosts is for tests only)")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    """The fields of a service-account key file that responder uses."""

    client_email: str
    client_id: str  # the numeric OAuth client id that domain-wide delegation is granted to
    private_key_id: str
    token_uri: str | None
    private_key: Secret = field(repr=False)

    @classmethod
    def parse(cls, where: str, text: Secret) -> ServiceAccountKey:
        try:
            data = json.loads(text.reveal())
        except ValueError:
            raise ConfigError(f"{where}: not JSON (expected a service-account key file)") from None
        if not isinstance(data, dict) or data.get("type") != "service_account":
            raise ConfigError(f'{where}: not a service-account key (its "type" must be "service_account")')
        email, pem = data.get("client_email"), data.get("private_key")
        if not isinstance(email, str) or "@" not in email or not isinstance(pem, str):
            raise ConfigError(f"{where}: the key lacks client_email or private_key")
        try:
            RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pem)
        except Exception:  # any parse failure; its text could quote the key, so it is not kept
            raise ConfigError(f"{where}: private_key is not a PEM RSA private key") from None
        token_uri = data.get("token_uri")
        return cls(
            client_email=email,
            client_id=str(data.get("client_id") or ""),
            private_key_id=str(data.get("private_key_id") or ""),
            token_uri=token_uri if isinstance(token_uri, str) and token_uri else None,
            private_key=Secret(pem),
        )


class TokenRefused(Exception):
    """The token endpoint did not grant an admin token; `outcome` says why (transient or permanent)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class DelegatedCredentials:
    """Admin access tokens for `subject` (the admin the service account acts as), shared by every thread of one
    provider instance. One fetch at a time; a token refused by an API is dropped and fetched again once."""

    def __init__(
        self,
        key: ServiceAccountKey,
        subject: str,
        scopes: Sequence[str],
        token_uri: str,
        client: httpx.Client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.subject = subject
        self.scopes = tuple(scopes)
        self.token_uri = token_uri
        self._http = client
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._expires_at = 0.0

    def token(self) -> Secret:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self, token: Secret) -> None:
        """Forget `token` (an API answered 401 to it), unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def assertion(self, now: float) -> str:
        """The RFC 7523 JWT: the service account asks, on behalf of `subject`, for `scopes` at `token_uri`."""
        issued = int(now)
        claims = {
            "iss": self.key.client_email,
            "sub": self.subject,
            "scope": " ".join(self.scopes),
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        headers = {"kid": self.key.private_key_id} if self.key.private_key_id else None
        return jwt.encode(claims, self.key.private_key.reveal(), algorithm="RS256", headers=headers)

    def _fetch(self) -> tuple[Secret, float]:
        now = self._clock()
        form = {"grant_type": JWT_BEARER, "assertion": self.assertion(now)}
        # Read-only for the dry-run guard: buying a token changes nothing at Google, and rehearsals must resolve.
        response = self._http.post(self.token_uri, data=form, extensions=READ_ONLY)
        if response.status_code != 200:
            raise TokenRefused(self._refusal(response))
        body = _json_object(response)
        value, lifetime = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(value, str) or not value or not isinstance(lifetime, int | float):
            raise TokenRefused(Outcome(OutcomeStatus.FAILED_PERMANENT, "the token endpoint's answer has no token"))
        return Secret(value), now + float(lifetime)

    def _refusal(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        if code in (408, 429) or code >= 500:
            wait = retry_after_seconds(response)
            return Outcome(OutcomeStatus.FAILED_TRANSIENT, f"token endpoint: HTTP {code}", retry_after=wait)
        body = _json_object(response)
        error = str(body.get("error", ""))
        error = error if _ERROR_CODE.match(error) else ""
        description = str(body.get("error_description", "")).lower()
        return Outcome(
            OutcomeStatus.FAILED_PERMANENT, f"token endpoint: HTTP {code}: {self._cause(error, description)}"
        )

    def _cause(self, error: str, description: str) -> str:
        scopes = ", ".join(s.rsplit("/", 1)[-1] for s in self.scopes)
        if error == "unauthorized_client":
            return (
                f"the service account's client ID {self.key.client_id or '(see the key file)'} is not authorized "
                f"for the scopes {scopes} ({DWD_CONSOLE})"
            )
        if error == "invalid_grant" and ("email" in description or "user id" in description):
            return f"the subject {self.subject} is not a user of this Google Workspace"
        if error == "invalid_grant" and "signature" in description:
            return "the service-account key was refused (deleted, disabled or not this account's key)"
        if error == "invalid_grant" and ("time" in description or "iat" in description or "exp" in description):
            return "the assertion's time was refused: check this host's clock"
        if error == "invalid_grant":
            return "the grant was refused (a deleted or disabled key, an unknown subject, or a wrong clock)"
        if error == "invalid_client":
            return "the service account or its key is unknown or disabled"
        return f"refused ({error})" if error else "refused"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
