"""Microsoft Entra ID: responder's own app-only token for Microsoft Graph (OAuth 2.0 client credentials at
`{login_url}/{tenant}/oauth2/v2.0/token`, scope `{graph_url}/.default`), with a client secret or a certificate
(a PS256 client assertion, as learn.microsoft.com/entra/identity-platform/certificate-credentials describes).

The token is cached until shortly before it expires and shared by every thread of the provider instance; a
401 from Graph drops it once (`invalidate`). No retries or sleeps here: the engine retries. No secret ever
appears in an exception text."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from responder.errors import ConfigError
from responder.http import READ_ONLY, outcome_for_status
from responder.model import Outcome, OutcomeStatus
from responder.secret import Secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 600  # seconds; the docs ask for 5-10 minutes after nbf
EARLY_RENEWAL = 300.0  # renew this many seconds before expiry (at most half the lifetime)

# AADSTS codes of the token endpoint that say what the operator must fix (learn.microsoft.com troubleshooting
# pages for ClientSecretCredential / ClientCertificateCredential and the AADSTS error-code reference).
_AADSTS = {
    "7000215": "invalid client secret",
    "7000222": "the client secret has expired",
    "7000112": "the application is disabled",
    "700016": "no application with this client_id in the tenant",
    "700027": "the certificate assertion's signature is invalid (is this certificate uploaded to the app?)",
    "700024": "the client assertion is not within its valid time range (check this host's clock)",
    "700023": "the client assertion's audience does not match the token endpoint",
    "90002": "no such tenant (check tenant_id and login_url)",
    "900023": "tenant_id is not a valid tenant identifier",
    "70011": "the scope is invalid (check graph_url)",
    "1002012": "the scope is invalid (check graph_url)",
    "53003": "blocked by a Conditional Access policy for workload identities",
}
_AADSTS_IN_TEXT = re.compile(r"AADSTS(\d+)")


class TokenUnavailable(Exception):
    """No app token could be had. `outcome` says why (secret-free, operator-readable)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class ClientSecret:
    secret: Secret

    def form(self, token_url: str, client_id: str) -> dict[str, str]:
        return {"client_secret": self.secret.reveal()}


class ClientCertificate:
    """A certificate credential: the PEM holds the RSA private key and its certificate. Each token request
    carries a fresh assertion signed with PS256 and naming the certificate by `x5t#S256`."""

    __slots__ = ("_key", "_thumbprint")

    def __init__(self, key: RSAPrivateKey, thumbprint: str) -> None:
        self._key = key
        self._thumbprint = thumbprint

    def __repr__(self) -> str:
        return f"ClientCertificate(x5t#S256={self._thumbprint})"

    @classmethod
    def from_pem(cls, where: str, pem: Secret) -> ClientCertificate:
        data = pem.reveal().encode()
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ConfigError(
                f"{where}: no unencrypted PEM private key found (the file holds the key and its certificate)"
            ) from None
        if not isinstance(key, RSAPrivateKey):
            raise ConfigError(f"{where}: the private key must be RSA (Entra signs assertions with PS256)")
        try:
            certificate = x509.load_pem_x509_certificate(_certificate_block(data))
        except ValueError:
            raise ConfigError(f"{where}: no PEM certificate found next to the private key") from None
        if certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise ConfigError(f"{where}: the certificate does not belong to the private key")
        digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
        return cls(key, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())

    def form(self, token_url: str, client_id: str) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"typ": "JWT", "x5t#S256": self._thumbprint}
        assertion = jwt.encode(claims, self._key, algorithm="PS256", headers=headers)
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


def _certificate_block(pem: bytes) -> bytes:
    start = pem.find(b"-----BEGIN CERTIFICATE-----")
    end = pem.find(b"-----END CERTIFICATE-----", start)
    if start < 0 or end < 0:
        raise ValueError("no certificate")
    return pem[start : end + len(b"-----END CERTIFICATE-----")]


Credential = ClientSecret | ClientCertificate


class AppToken:
    """Client-credentials token source for one provider instance. Thread-safe: one fetch at a time, and a
    401 seen by several threads at once drops the token only once (`invalidate` compares)."""

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        client_id: str,
        scope: str,
        credential: Credential,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self._client_id = client_id
        self._scope = scope
        self._credential = credential
        self.clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._renew_at = 0.0

    def get(self) -> Secret:
        """The cached token, or a fresh one. Raises TokenUnavailable, or httpx.HTTPError when unreachable."""
        with self._lock:
            if self._token is None or self.clock() >= self._renew_at:
                self._token, lifetime = self._fetch()
                self._renew_at = self.clock() + lifetime - min(EARLY_RENEWAL, lifetime / 2)
            return self._token

    def invalidate(self, stale: Secret) -> None:
        """Graph refused `stale`: forget it, unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token == stale:
                self._token = None

    def _fetch(self) -> tuple[Secret, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "scope": self._scope,
            **self._credential.form(self.token_url, self._client_id),
        }
        # A token request changes nothing at the IdP: dry runs may fetch one to resolve users.
        response = self._http.post(self.token_url, data=form, extensions=READ_ONLY)
        if response.status_code != 200:
            raise TokenUnavailable(self._refusal(response))
        body = _json_object(response)
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)  # the v1 endpoint sent strings; be lenient
        if not isinstance(token, str) or not token or not isinstance(lifetime, int) or lifetime <= 0:
            detail = f"app token: {self.token_url} did not answer with a token (wrong login_url?)"
            raise TokenUnavailable(Outcome(OutcomeStatus.FAILED_PERMANENT, detail))
        if str(body.get("token_type", "Bearer")).lower() != "bearer":
            detail = f"app token: unexpected token_type {str(body.get('token_type'))[:20]!r}"
            raise TokenUnavailable(Outcome(OutcomeStatus.FAILED_PERMANENT, detail))
        return Secret(token), float(lifetime)

    def _refusal(self, response: httpx.Response) -> Outcome:
        outcome = outcome_for_status(response, target_gone=frozenset())
        request_id = response.headers.get("x-ms-request-id", "")
        code = response.status_code
        if outcome.status is OutcomeStatus.FAILED_TRANSIENT:
            return Outcome(outcome.status, f"app token: HTTP {code}", request_id, outcome.retry_after)
        body = _json_object(response)
        error = body.get("error")
        if not isinstance(error, str):
            detail = f"app token: {self.token_url} answered HTTP {code} (wrong login_url or tenant_id?)"
            return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, request_id)
        aadsts = _aadsts(body)
        meaning = _AADSTS.get(aadsts, "")
        cause = f"AADSTS{aadsts}" + (f": {meaning}" if meaning else "") if aadsts else ""
        if error in ("invalid_client", "unauthorized_client"):
            what = "the token endpoint refused responder's client credentials"
        else:
            what = f"the token endpoint answered {error[:40]!r}"
        detail = f"app token: HTTP {code}: {what}" + (f" ({cause})" if cause else "")
        return Outcome(OutcomeStatus.FAILED_PERMANENT, detail, request_id)


def _aadsts(body: dict[str, Any]) -> str:
    """The first AADSTS number of an error answer (its `error_codes`, else its description). Only the number
    is repeated: descriptions carry trace ids and may change wording."""
    codes = body.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return str(codes[0])
    match = _AADSTS_IN_TEXT.search(str(body.get("error_description", "")))
    return match[1] if match else ""


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def token_roles(token: Secret) -> frozenset[str] | None:
    """The application permissions (`roles`) in responder's OWN app token, read without verification: it
    came straight from the configured token endpoint over TLS, and is only used to name missing consent.
    None when the token is not a readable JWT."""
    parts = token.reveal().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    roles = claims.get("roles", []) if isinstance(claims, dict) else None
    if not isinstance(roles, list):
        return None
    return frozenset(role for role in roles if isinstance(role, str))
