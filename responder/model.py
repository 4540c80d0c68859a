"""Core value types shared by readers, detectors, the sanitizer and (later) providers. No I/O here.

Enum values are persisted (JSON output, ledger): renaming one is a migration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    # Cookies that only work together with this one, seen beside it in the same request: e.g. the
    # `<name>.sig` signature of a signed session cookie (cookie name → value).
    companions: Mapping[str, Secret] = field(default_factory=dict, repr=False, compare=False)


class Trigger(StrEnum):
    """What started the work. Persisted in the ledger."""

    UPLOAD = "upload"
    PANIC = "panic"
    SWEEP = "sweep"


class Verb(StrEnum):
    """What an action does. Providers may add their own verbs; these are the ones the core plans."""

    REVOKE_TOKEN = "revoke_token"
    END_SESSION = "end_session"
    END_ALL_SESSIONS = "end_all_sessions"
    REVOKE_REFRESH_TOKENS = "revoke_refresh_tokens"
    DELETE_API_TOKEN = "delete_api_token"


class OutcomeStatus(StrEnum):
    REVOKED = "revoked"
    ALREADY_INVALID = "already_invalid"
    DRY_RUN = "dry_run"
    UNSUPPORTED = "unsupported"
    FAILED_TRANSIENT = "failed_transient"
    FAILED_PERMANENT = "failed_permanent"

    @property
    def final(self) -> bool:
        return self is not OutcomeStatus.FAILED_TRANSIENT

    @property
    def credential_dead(self) -> bool:
        """The IdP says the credential no longer works (worth verifying)."""
        return self in (OutcomeStatus.REVOKED, OutcomeStatus.ALREADY_INVALID)


@dataclass(frozen=True, slots=True)
class Subject:
    """The affected user at one provider instance. `login` is the human name (login or email)."""

    provider: str
    user_id: str
    login: str = ""


def subject_from_claims(provider: str, claims: Mapping[str, str], claim: str = "sub") -> Subject | None:
    """The user a JWT names by `claim` (`sub`, or Entra's `oid`), unless the claim was masked because it
    equals a credential."""
    value = claims.get(claim, "")
    return Subject(provider, value) if value and not value.startswith(("fingerprint:", "sha256:")) else None


def subject_from_related(
    provider: str, related: Iterable[Finding], claim: str = "sub", *, kinds: frozenset[Kind] | None = None
) -> Subject | None:
    """The one user the other tokens of an artifact name (an id_token, a JWT access token), for a cookie that
    names nobody itself. None when they name nobody or several different users: never a guess."""
    users = {
        subject
        for finding in related
        if kinds is None or finding.kind in kinds
        if (subject := subject_from_claims(provider, finding.claims, claim)) is not None
    }
    return users.pop() if len(users) == 1 else None


@dataclass(frozen=True, slots=True)
class Target:
    """One thing a provider can do about a finding, decided without I/O (the plan)."""

    verb: str  # a Verb, or a provider's own
    uses_credential: bool  # the action needs the raw value (sealed until the action ends)
    subject: Subject | None = None
    # What to seal instead of the finding's value, when the action needs more than the value alone (a
    # session cookie together with its signature cookie, as one Cookie header).
    credential: Secret | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """What a provider receives to execute or verify one action."""

    action_id: str
    provider: str
    verb: str
    fingerprint: str | None
    kind: Kind | None
    subject: Subject | None
    credential: Secret | None = field(default=None, repr=False)
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """A provider's answer to one attempt. `detail` is operator-readable and never holds a secret."""

    status: OutcomeStatus
    detail: str = ""
    provider_request_id: str = ""
    retry_after: float | None = None  # seconds, from Retry-After / X-Rate-Limit-Reset
    subject: Subject | None = None  # the affected user, when the provider learned it while acting


# ---- ticketing sources ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """One file on one ticket, named by the source's own ids. Never a URL taken from a webhook payload: the
    source's connector finds the file through its own API from these ids."""

    ticket_id: str
    attachment_id: str
    name: str
    comment_id: str | None = None
    content_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class SweepPage:
    """One page of a sweep: how many tickets it covered, every attachment on them (the core picks the
    captures), and the cursor that resumes after this page. `done`: nothing more changed, for now."""

    tickets: int
    attachments: tuple[AttachmentRef, ...]
    cursor: str
    done: bool
    reached: datetime | None = None  # the newest change time on the page, when known (progress and ETA)


@dataclass(frozen=True, slots=True)
class WebhookNotice:
    """What an authentic webhook delivery announced: a ticket, maybe attachment ids, the vendor's delivery id."""

    event: str | None
    ticket_id: str | None
    delivery_id: str | None
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Replaced:
    """What `replace_with_sanitized` did: the sanitized copy now on the ticket (so a later sweep skips it) and
    how the original went (e.g. "redacted", "comment redaction", "deleted")."""

    copy: AttachmentRef | None
    how: str
