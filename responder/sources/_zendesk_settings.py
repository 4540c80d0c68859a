"""The keys of a Zendesk `[[sources]]` table, and which hosts an attachment may be fetched from."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from responder.errors import ConfigError

ZENDESK_DOMAIN = ".zendesk.com"
CDN_HOSTS = ("*.zdusercontent.com",)  # where an account host's attachment links redirect to
_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ZendeskSettings(BaseModel):
    """A Zendesk Support account. responder signs in with an API token of one agent or admin (Basic
    `{email}/token:{api_token}`), and sends it to the account's own host only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="source name, recorded with every ticket and attachment in the ledger")
    base_url: str = Field(
        description="the account's URL, https://<subdomain>.zendesk.com (without /api/v2); every API call goes there"
    )
    email: str = Field(description="email address of the Zendesk user whose API token responder uses")
    api_token: SecretStr | None = Field(
        default=None, description="that user's API token (exactly one of api_token, _file, _env); keep it out of here"
    )
    api_token_file: Path | None = Field(default=None, description="file holding the API token")
    api_token_env: str | None = Field(default=None, description="environment variable holding the API token")
    attachment_hosts: tuple[str, ...] = Field(
        default=(),
        description="hosts an attachment's content_url (or its one redirect) may point at, as `host`, `host:port` "
        "or `*.domain`; default: the account's host and *.zdusercontent.com. Anything else is never fetched",
    )
    export_requests_per_minute: int = Field(
        default=10,
        ge=1,
        le=600,
        description="pace of the incremental ticket export (Zendesk allows 10 a minute, 30 with High Volume API)",
    )
    export_page_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="tickets per incremental export page (Zendesk's maximum, 1000, keeps the export's own "
        "10-a-minute limit from governing the sweep; one checkpoint per page)",
    )
    max_rate_limit_wait_seconds: float = Field(
        default=65.0,
        ge=0,
        description="longest wait for Zendesk's per-minute window to reset before a call; longer: the call fails "
        "as transient and the core retries it later",
    )

    @field_validator("base_url")
    @classmethod
    def _account_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        host = (parts.hostname or "").lower()
        if parts.query or parts.fragment or parts.path.strip("/") or parts.username or parts.password:
            raise ValueError("base_url is the account's root URL, e.g. https://acme.zendesk.com (no path or query)")
        if is_loopback(host) and parts.scheme in ("http", "https"):
            return f"{parts.scheme}://{parts.netloc.lower()}"  # a local fake, for tests and demos
        if parts.scheme != "https" or not host.endswith(ZENDESK_DOMAIN) or host == ZENDESK_DOMAIN[1:]:
            raise ValueError("base_url must be https://<subdomain>.zendesk.com")
        return f"https://{parts.netloc.lower()}"

    @field_validator("email")
    @classmethod
    def _login(cls, value: str) -> str:
        value = value.strip()
        # A colon would end the user part of the Basic credentials early.
        if "@" not in value or ":" in value or any(c.isspace() for c in value):
            raise ValueError("email must be the Zendesk user's email address, e.g. responder@acme.com")
        return value

    @field_validator("attachment_hosts")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            HostPattern.parse(pattern)  # raises ValueError naming the bad entry
        return tuple(p.strip().lower() for p in value)


@dataclass(frozen=True, slots=True)
class HostPattern:
    """`host` (any port), `host:port` (that port only) or `*.domain` (any subdomain of domain, not domain)."""

    host: str
    port: int | None = None
    wildcard: bool = False

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        text = text.strip().lower()
        wildcard = text.startswith("*.")
        body = text[2:] if wildcard else text
        host, _, port = body.rpartition(":") if body.count(":") == 1 else (body, "", "")
        if not host or "/" in host or "*" in host or (port and not port.isdigit()):
            raise ValueError(f"attachment_hosts: {text!r} is not a host, host:port or *.domain")
        return cls(host, int(port) if port else None, wildcard)

    def matches(self, host: str, port: int | None) -> bool:
        host = host.lower()
        if self.port is not None and port != self.port:
            return False
        return host.endswith("." + self.host) if self.wildcard else host == self.host


@dataclass(frozen=True, slots=True)
class AttachmentHosts:
    """The only places an attachment's bytes are fetched from. https only, except on a loopback host."""

    patterns: tuple[HostPattern, ...]

    @classmethod
    def for_account(cls, base_url: str, configured: Iterable[str]) -> AttachmentHosts:
        chosen = tuple(configured) or (urlsplit(base_url).netloc, *CDN_HOSTS)
        return cls(tuple(HostPattern.parse(p) for p in chosen))

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        host = parts.hostname or ""
        if not host or parts.username or parts.password:
            return False
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
            return False
        port = port or (443 if parts.scheme == "https" else 80)
        return any(p.matches(host, port) for p in self.patterns)


def validate(table: Mapping[str, Any]) -> ZendeskSettings:
    """The plugin's own keys as ZendeskSettings, or one ConfigError naming every bad key (never its value)."""
    try:
        return ZendeskSettings.model_validate(dict(table))
    except ValidationError as exc:
        name = table.get("name", "?")
        problems = "; ".join(
            f"sources.{name}.{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(problems) from None
