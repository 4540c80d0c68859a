"""Credentials recognised by the name they travel under: parameters, JSON keys, headers, auth schemes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from responder.model import Family, Kind

# Every parameter name in PARAMS contains one of these (lower case; a test holds this true).
PARAM_NAME_ANCHORS = (
    "token", "pass", "pwd", "secret", "code", "assertion", "samlresponse", "key", "bearer", "jwt", "session_id",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NamedRule:
    kind: Kind
    label: str
    min_length: int = 1
    needs_random_value: bool = False  # the name alone is weak evidence
    family: Family | None = None


@lru_cache(maxsize=8192)
def normalise(name: str) -> str:
    """`clientSecret`, `client-secret`, `CLIENT_SECRET`, `user[client_secret]` → `client_secret`."""
    name = name.strip()
    if (bracketed := _LAST_BRACKET.search(name)) is not None:  # Rails/PHP `user[password]`
        name = bracketed.group(1)
    return _NOT_ALNUM.sub("_", _CAMEL.sub("_", name).lower())


_LAST_BRACKET = re.compile(r"\[([^\[\]]+)\]$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


_PASSWORD = NamedRule(Kind.PASSWORD, "password")
PARAMS: dict[str, NamedRule] = {
    "access_token": NamedRule(Kind.ACCESS_TOKEN, "OAuth access token", 8),
    "accesstoken": NamedRule(Kind.ACCESS_TOKEN, "OAuth access token", 8),
    "refresh_token": NamedRule(Kind.REFRESH_TOKEN, "OAuth refresh token", 8),
    "refreshtoken": NamedRule(Kind.REFRESH_TOKEN, "OAuth refresh token", 8),
    "id_token": NamedRule(Kind.ID_TOKEN, "OIDC ID token", 8),
    "idtoken": NamedRule(Kind.ID_TOKEN, "OIDC ID token", 8),
    "id_token_hint": NamedRule(Kind.ID_TOKEN, "OIDC ID token (logout hint)", 8),
    "subject_token": NamedRule(Kind.ACCESS_TOKEN, "token-exchange subject token", 8),
    "actor_token": NamedRule(Kind.ACCESS_TOKEN, "token-exchange actor token", 8),
    "code": NamedRule(Kind.AUTHORIZATION_CODE, "OAuth authorization code", 8),
    "device_code": NamedRule(Kind.OTHER_SECRET, "OAuth device code", 8),
    "code_verifier": NamedRule(Kind.OTHER_SECRET, "PKCE code verifier", 16),
    "client_secret": NamedRule(Kind.CLIENT_SECRET, "OAuth client secret", 4),
    "client_assertion": NamedRule(Kind.CLIENT_SECRET, "OAuth client assertion", 16),
    "samlresponse": NamedRule(Kind.SAML_ASSERTION, "SAML response", 16),
    "assertion": NamedRule(Kind.SAML_ASSERTION, "assertion grant", 16),
    "password": _PASSWORD,
    "passwd": _PASSWORD,
    "pwd": _PASSWORD,
    "pass": _PASSWORD,
    "passphrase": _PASSWORD,
    "passcode": _PASSWORD,
    "new_password": _PASSWORD,
    "old_password": _PASSWORD,
    "current_password": _PASSWORD,
    "confirm_password": _PASSWORD,
    "user_password": _PASSWORD,
    "api_key": NamedRule(Kind.API_KEY, "API key", 8),
    "apikey": NamedRule(Kind.API_KEY, "API key", 8),
    "x_api_key": NamedRule(Kind.API_KEY, "API key", 8),
    "api_token": NamedRule(Kind.API_KEY, "API token", 8),
    "secret_access_key": NamedRule(Kind.OTHER_SECRET, "cloud secret access key", 16),
    "session_id": NamedRule(Kind.SESSION_COOKIE, "session id", needs_random_value=True),
    "sessiontoken": NamedRule(Kind.OTHER_SECRET, "Okta session token (one-time, creates a session)", 8),
    "session_token": NamedRule(Kind.OTHER_SECRET, "session token", 8),
    "statetoken": NamedRule(Kind.OTHER_SECRET, "Okta authentication state token", 8),
    "token": NamedRule(Kind.ACCESS_TOKEN, "token (generic name)", needs_random_value=True),
    "auth_token": NamedRule(Kind.ACCESS_TOKEN, "auth token", needs_random_value=True),
    "authtoken": NamedRule(Kind.ACCESS_TOKEN, "auth token", needs_random_value=True),
    "bearer": NamedRule(Kind.ACCESS_TOKEN, "bearer token", needs_random_value=True),
    "jwt": NamedRule(Kind.JWT, "JWT", needs_random_value=True),
    "secret": NamedRule(Kind.OTHER_SECRET, "secret", needs_random_value=True),
    "private_key": NamedRule(Kind.OTHER_SECRET, "private key", needs_random_value=True),
    "secret_key": NamedRule(Kind.OTHER_SECRET, "secret key", needs_random_value=True),
}
# Protocol values that are not credentials even when they are signed JWTs.
NON_CREDENTIAL_PARAMS = frozenset(
    {
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "session_state",
        "relaystate",
        "relay_state",
        "csrf_token",
        "csrfmiddlewaretoken",
        "authenticity_token",
        "xsrf",
        "_csrf",
        "csrf",
    }
)
# `code` is an OAuth authorization code only where OAuth puts it (URLs, forms), not in any JSON body.
URL_ONLY_PARAMS = frozenset({"code"})

API_KEY_HEADERS: dict[str, NamedRule] = {
    "x_api_key": NamedRule(Kind.API_KEY, "API key header", 4),
    "api_key": NamedRule(Kind.API_KEY, "API key header", 4),
    "apikey": NamedRule(Kind.API_KEY, "API key header", 4),
    "x_goog_api_key": NamedRule(Kind.API_KEY, "Google API key header", 8),
    "x_auth_token": NamedRule(Kind.ACCESS_TOKEN, "auth token header", 8),
    "x_access_token": NamedRule(Kind.ACCESS_TOKEN, "access token header", 8),
    "x_session_token": NamedRule(Kind.SESSION_COOKIE, "session token header", 8),
    "x_session_id": NamedRule(Kind.SESSION_COOKIE, "session id header", 16),
    "x_amz_security_token": NamedRule(Kind.OTHER_SECRET, "AWS session token header", 16),
    "ocp_apim_subscription_key": NamedRule(Kind.API_KEY, "Azure API Management key", 8),
    "private_token": NamedRule(Kind.API_KEY, "GitLab private token header", 8),
    "x_okta_session_id": NamedRule(Kind.SESSION_COOKIE, "Okta session id header", 8, family=Family.OKTA),
}
# Header names that mention a credential but never carry one of the sender's.
NON_CREDENTIAL_HEADER = re.compile(r"(?i)csrf|xsrf|request.?id|trace|correlation|nonce|www-authenticate")
SUSPICIOUS_HEADER = re.compile(r"(?i)api.?key|auth|token|secret|session|password")

# Authorization schemes → (kind, label, family). Challenge-response schemes cannot be replayed: skipped.
AUTH_SCHEMES: dict[str, tuple[Kind, str, Family | None]] = {
    "bearer": (Kind.ACCESS_TOKEN, "bearer token", None),
    "dpop": (Kind.ACCESS_TOKEN, "DPoP-bound access token", None),
    "pop": (Kind.ACCESS_TOKEN, "PoP access token", None),
    "basic": (Kind.BASIC_CREDENTIALS, "HTTP Basic credentials", None),
    "ssws": (Kind.API_KEY, "Okta API token (SSWS)", Family.OKTA),
    "token": (Kind.API_KEY, "API token", None),
    "api_key": (Kind.API_KEY, "API key", None),
    "apikey": (Kind.API_KEY, "API key", None),
    "api-key": (Kind.API_KEY, "API key", None),
    "key": (Kind.API_KEY, "API key", None),
    "sharedaccesssignature": (Kind.API_KEY, "shared access signature", None),
    "geniekey": (Kind.API_KEY, "API key", None),
    "splunk": (Kind.API_KEY, "API token", None),
}
NON_REPLAYABLE_SCHEMES = frozenset(
    {"digest", "negotiate", "ntlm", "aws4-hmac-sha256", "hawk", "oauth", "hoba", "mutual", "vapid", "scram-sha-256"}
)
AUTHORIZATION_HEADERS = frozenset({"authorization", "proxy_authorization", "x_authorization"})
