"""The `[[notifiers]]` tables: where responder tells people about finished intakes and panics.

Only pydantic here: responder.settings imports this module, so it must not import responder.settings back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Kind = Literal["slack", "webhook", "email"]
Event = Literal["intake", "panic"]
Security = Literal["starttls", "tls", "plain"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "plain": 25}
_URL_KEYS = ("url", "url_file", "url_env")
_SIGNING_KEYS = ("secret", "secret_file", "secret_env")
_EMAIL_KEYS = (
    "smtp_host",
    "smtp_port",
    "ca_file",
    "username",
    "password",
    "password_file",
    "password_env",
    "mail_from",
    "mail_to",
)
_ADDRESS = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


class NotifierConfig(BaseModel):
    """One `[[notifiers]]` table. `kind` decides which of the per-kind keys apply; the others must be unset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="names the notifier in the outbox and the logs",
    )
    kind: Kind = Field(description="slack (incoming webhook) | webhook (signed JSON POST) | email (SMTP)")
    on: tuple[Event, ...] = Field(
        default=("intake", "panic"), min_length=1, description="which finished work to tell about: intake, panic"
    )
    # slack and webhook
    url: SecretStr | None = Field(default=None, description="slack/webhook: where to POST (the URL is a secret)")
    url_file: Path | None = Field(default=None, description="slack/webhook: file holding the URL")
    url_env: str | None = Field(default=None, description="slack/webhook: environment variable holding the URL")
    # webhook
    secret: SecretStr | None = Field(
        default=None, description="webhook: HMAC-SHA256 signing key shared with the receiver (16+ characters)"
    )
    secret_file: Path | None = Field(default=None, description="webhook: file holding the signing key")
    secret_env: str | None = Field(default=None, description="webhook: environment variable holding the signing key")
    # email
    smtp_host: str | None = Field(default=None, description="email: the SMTP relay")
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, description="email: default 587 (starttls), 465 (tls), 25 (plain)"
    )
    security: Security = Field(
        default="starttls", description="email: starttls | tls (implicit) | plain (only to localhost)"
    )
    ca_file: Path | None = Field(
        default=None, description="email: PEM CA bundle to verify the relay with; default: the system's"
    )
    username: str | None = Field(default=None, description="email: log in as this user (needs starttls or tls)")
    password: SecretStr | None = Field(default=None, description="email: the login's password")
    password_file: Path | None = Field(default=None, description="email: file holding the password")
    password_env: str | None = Field(default=None, description="email: environment variable holding the password")
    mail_from: str | None = Field(default=None, pattern=_ADDRESS, description="email: the From address")
    mail_to: tuple[str, ...] = Field(default=(), description="email: the recipients")
    subject_prefix: str = Field(default="[responder]", max_length=60, description="email: start of every subject")
    # all kinds
    timeout_seconds: float = Field(default=10, gt=0, le=120, description="timeout of one delivery")
    max_attempts: int = Field(
        default=8, ge=1, le=50, description="deliveries tried (backing off up to 1 h) before the notice is failed"
    )
    max_listed: int = Field(
        default=20, ge=1, le=200, description="users and failures named in a message; the rest are counted"
    )

    @field_validator("mail_to")
    @classmethod
    def _addresses(cls, recipients: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [r for r in recipients if not re.fullmatch(_ADDRESS, r)]
        if wrong:
            raise ValueError(f"not an email address: {', '.join(repr(w) for w in wrong)}")
        return recipients

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> NotifierConfig:
        where = f"notifier {self.name}"
        given = self.model_fields_set
        foreign = {
            "slack": (*_SIGNING_KEYS, *_EMAIL_KEYS),
            "webhook": _EMAIL_KEYS,
            "email": (*_URL_KEYS, *_SIGNING_KEYS),
        }[self.kind]
        stray = sorted(key for key in foreign if key in given)
        if stray:
            raise ValueError(f"{where}: {', '.join(stray)} do not apply to kind {self.kind!r}")
        if self.kind in ("slack", "webhook"):
            _exactly_one(where, "url", given)
        if self.kind == "webhook":
            _exactly_one(where, "secret", given)
        if self.kind == "email":
            if not self.smtp_host or not self.mail_from or not self.mail_to:
                raise ValueError(f"{where}: email needs smtp_host, mail_from and mail_to")
            if self.security == "plain" and self.smtp_host.lower() not in LOOPBACK_HOSTS:
                raise ValueError(f"{where}: security = 'plain' is for a relay on localhost only; use starttls or tls")
            has_password = any(key in given for key in ("password", "password_file", "password_env"))
            if self.username is not None:
                if self.security == "plain":
                    raise ValueError(f"{where}: a login needs security = 'starttls' or 'tls'")
                _exactly_one(where, "password", given)
            elif has_password:
                raise ValueError(f"{where}: a password needs a username")
        return self

    @property
    def port(self) -> int:
        return self.smtp_port or _DEFAULT_PORTS[self.security]


def _exactly_one(where: str, key: str, given: set[str]) -> None:
    forms = [f"{key}{suffix}" for suffix in ("", "_file", "_env")]
    count = sum(1 for form in forms if form in given)
    if count != 1:
        raise ValueError(f"{where}: give exactly one of {', '.join(forms)}")


def _unique_names(notifiers: tuple[NotifierConfig, ...]) -> tuple[NotifierConfig, ...]:
    names = [n.name for n in notifiers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names must be unique; repeated: {', '.join(repeated)}")
    return notifiers


# The type of `Settings.notifiers`: the tables, with unique names.
Notifiers = Annotated[tuple[NotifierConfig, ...], AfterValidator(_unique_names)]
