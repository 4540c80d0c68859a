"""Core value types shared by readers, detectors, the sanitizer and (later) providers. No I/O here.

Enum values are persisted (JSON output, ledger): renaming one is a migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from responder.secret import Secret


class Kind(StrEnum):
    SESSION_COOKIE = "session_cookie"
    ACCESS_TOKEN = "access_token"
    REFRESH_TOKEN = "refresh_token"
    ID_TOKEN = "id_token"
    JWT = "jwt"
    AUTHORIZATION_CODE = "authorization_code"
    API_KEY = "api_key"
    BASIC_CREDENTIALS = "basic_credentials"
    PASSWORD = "password"
    SAML_ASSERTION = "saml_assertion"
    CLIENT_SECRET = "client_secret"
    OTHER_SECRET = "other_secret"


class Side(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    NONE = "none"


class Field(StrEnum):
    HEADER = "header"
    COOKIE = "cookie"
    SET_COOKIE = "set_cookie"
    QUERY = "query"
    URL_FRAGMENT = "url_fragment"
    URL = "url"
    FORM = "form"
    JSON_BODY = "json_body"
    BODY = "body"
    WS_MESSAGE = "ws_message"
    EXTENSION = "extension"
    TEXT_LINE = "text_line"


class Family(StrEnum):
    """Identity-provider families responder can (or will) act on."""

    AUTHENTIK = "authentik"
    OKTA = "okta"
    KEYCLOAK = "keycloak"
    AUTH0 = "auth0"
    ENTRA = "entra"
    GOOGLE = "google"
    OIDC = "oidc"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value was seen. `entry` is the HAR entry index (or message number); `line` is for text."""

    field: Field
    name: str
    side: Side = Side.NONE
    entry: int | None = None
    host: str = ""
    line: int | None = None
    member: str = ""  # archive member path, when the artifact is a container


@dataclass(frozen=True, slots=True)
class Observation:
    """A candidate credential with its context. Readers yield these and judge nothing."""

    location: Location
    value: Secret
    path: str = ""  # URL path of the entry, never its query
    seen_at: datetime | None = None
    expires_at: datetime | None = None  # from Set-Cookie Expires/Max-Age
    context: str = ""  # e.g. the header a query came from ("location", "referer") or the auth scheme


@dataclass(frozen=True, slots=True)
class Candidate:
    """A detector's verdict on (part of) an observation, before fingerprinting and merging."""

    value: Secret
    kind: Kind
    detector: str
    label: str
    family: Family | None = None
    revocable: bool = False
    claims: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    location: Location | None = None  # where exactly, when found inside free text (a JSON key, a header line)


@dataclass(frozen=True, slots=True)
class ProviderRef:
    family: Family | None
    instance: str | None  # configured provider name, when one claims the finding


@dataclass(frozen=True, slots=True)
class Finding:
    """One credential, however many places it was seen in."""

    fingerprint: str
    kind: Kind
    detector: str
    label: str
    revocable: bool
    provider: ProviderRef
    claims: Mapping[str, str]
    expires_at: datetime | None
    locations: tuple[Location, ...]
    value: Secret = field(repr=False, compare=False)
