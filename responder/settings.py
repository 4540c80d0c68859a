"""Settings: a TOML file plus RESPONDER_* environment variables (env wins). Validated once at startup."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from responder.errors import ConfigError
from responder.notify.settings import Notifiers
from responder.schedule import parse_schedule

_MiB = 1024 * 1024


_SECRET_KEY = re.compile(r"(secret|token|password|private_key|api_key|key)$")


def _hold_secrets(data: Any) -> Any:
    """Plugin-specific keys that look secret are held as SecretStr from the moment they are read."""
    if isinstance(data, dict):
        return {
            key: SecretStr(value) if isinstance(value, str) and _SECRET_KEY.search(key) else value
            for key, value in data.items()
        }
    return data


class ProviderConfig(BaseModel):
    """The stable keys every `[[providers]]` table has. Any other key belongs to the plugin, which validates
    the whole table with its own settings model; secret-looking extra keys are held as SecretStr here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _hold_secrets(cls, data: Any) -> Any:
        return _hold_secrets(data)

    name: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="instance name, recorded with every finding and action"
    )
    plugin: str = Field(min_length=1, description="the IdP family: an installed provider plugin")
    hosts: tuple[str, ...] = Field(
        default=(), description="hosts whose findings belong to this instance; default: the host of base_url / issuer"
    )
    base_url: str | None = Field(default=None, description="root URL of the IdP's API: every call goes there")
    issuer: str | None = Field(
        default=None, description="JWT issuer prefix that attributes tokens to this instance (compared, never called)"
    )
    requests_per_second: float | None = Field(
        default=None, gt=0, description="ceiling for calls to this instance, shared by all worker threads"
    )

    def claimed_hosts(self) -> frozenset[str]:
        """Hosts this instance owns: explicit `hosts`, else the host of base_url / issuer."""
        if self.hosts:
            return frozenset(h.lower() for h in self.hosts)
        urls = [u for u in (self.base_url, self.issuer) if u]
        return frozenset((urlsplit(u).netloc or "").lower() for u in urls) - {""}

    def issuer_prefixes(self) -> tuple[str, ...]:
        return tuple(u.rstrip("/") for u in (self.issuer, self.base_url) if u)


class ScanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_decompressed_bytes: int = Field(
        default=4096 * _MiB, gt=0, description="largest total a .gz or .zip may expand to, in bytes"
    )
    max_ratio: int = Field(default=200, gt=1, description="largest decompressed:compressed ratio accepted")
    max_members: int = Field(default=1000, gt=0, description="most files accepted in one zip")


class LedgerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite in data_dir. postgresql://user@host/db uses psycopg 3.",
    )
    seal_key: SecretStr | None = Field(
        default=None, description="key sealing pending credentials (32 bytes as 64 hex); default data_dir/seal.key"
    )
    seal_key_file: Path | None = Field(default=None, description="file holding the seal key (64 hex); must exist")


class EngineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(default=4, ge=1, le=64, description="actions executed at once by one worker process")
    lease_seconds: float = Field(default=300, gt=0, description="how long a claimed action stays claimed")
    max_attempts: int = Field(default=10, ge=1, description="calls to the IdP before an action is given up")
    quick_retries: int = Field(default=3, ge=1, description="tries in one claim before rescheduling")
    retry_wait_max_seconds: float = Field(default=30, gt=0, description="longest in-process wait between tries")
    reschedule_max_seconds: float = Field(default=3600, gt=0, description="longest durable backoff")
    poll_seconds: float = Field(default=2, gt=0, description="idle wait between claims in `responder work`")
    http_timeout_seconds: float = Field(default=20, gt=0, description="timeout of each HTTP call to an IdP")


Role = Literal["uploader", "responder", "auditor"]


class ApiKeyConfig(BaseModel):
    """One `[[api_keys]]` table: who may call the API, by the SHA-256 of their key (the key is never stored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, description="recorded as the actor of what the key does")
    key_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the key (sha256sum)")
    roles: tuple[Role, ...] = Field(min_length=1, description="uploader | responder (panic) | auditor (read)")


class SourceConfig(BaseModel):
    """The stable keys of a `[[sources]]` table (a ticketing system); the plugin validates the rest."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _hold_secrets(cls, data: Any) -> Any:
        return _hold_secrets(data)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="recorded in the ledger")
    plugin: str = Field(min_length=1, description="zendesk | jira | folder, or an installed source plugin")
    webhook_secret: SecretStr | None = Field(default=None, description="the vendor's webhook signing secret")
    webhook_secret_file: Path | None = Field(default=None, description="file holding the webhook secret")
    webhook_secret_env: str | None = Field(default=None, description="environment variable holding it")
    schedule: str | None = Field(
        default=None,
        description='sweeps run by `serve`: "every 30m" / "every 1h" / "every 1d", or a 5-field cron expression (UTC)',
    )
    capture_names: tuple[str, ...] = Field(
        default=("*.har", "*.har.gz", "*.har.zip", "*.zip", "*.saz", "*.txt", "*.log"),
        min_length=1,
        description="attachment names worth fetching (globs, case-insensitive); the first bytes are checked too",
    )
    max_attachment_bytes: int = Field(
        default=256 * _MiB, gt=0, description="larger attachments are not fetched and are reported for a person"
    )

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)  # ValueError → a settings error naming this key
        return value

    CORE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {
            "name",
            "plugin",
            "webhook_secret",
            "webhook_secret_file",
            "webhook_secret_env",
            "schedule",
            "capture_names",
            "max_attachment_bytes",
        }
    )

    def plugin_table(self) -> dict[str, Any]:
        """The keys the plugin validates itself (everything but the core's), plus `name`."""
        return {"name": self.name, **(self.model_extra or {})}


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="address `responder serve` listens on")
    port: int = Field(default=8080, ge=1, le=65535, description="port `responder serve` listens on")
    max_upload_bytes: int = Field(default=512 * _MiB, gt=0, description="larger uploads are refused with 413")
    engine: bool = Field(default=True, description="run the execution engine inside the service")
    ready_cache_seconds: float = Field(default=30, ge=0, description="how long /readyz reuses a provider check")
    sanitized_keep_hours: float = Field(
        default=24, gt=0, description="an upload's sanitized copy not downloaded within this time is deleted"
    )
    page_session_key_file: Path | None = Field(
        default=None,
        description="key signing panic-page sessions (64 hex); must exist. Default: generated once into "
        "data_dir/page-session.key. Replicas behind one address need the same one",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESPONDER_", env_nested_delimiter="__", extra="forbid", frozen=True)

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("responder")),
        description="responder's own state (generated keys, the default SQLite ledger); default: the platform's "
        "user data directory, e.g. ~/.local/share/responder",
    )
    fingerprint_key: SecretStr | None = Field(
        default=None,
        description="HMAC key for finding fingerprints, at least 16 bytes; default: generated once into "
        "data_dir/fingerprint.key. Give every host sharing a ledger the same one",
    )
    fingerprint_key_file: Path | None = Field(
        default=None,
        description="file holding the fingerprint key (a mounted secret; the whole file, trimmed, is the key)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="warning", description="log events at this level and above go to stderr"
    )
    log_json: bool = Field(default=False, description="log JSON lines (always so with --format json/sarif)")
    providers: tuple[ProviderConfig, ...] = Field(default=(), description="identity-provider instances")
    sources: tuple[SourceConfig, ...] = Field(default=(), description="ticketing systems (webhooks and sweeps)")
    api_keys: tuple[ApiKeyConfig, ...] = Field(default=(), description="who may call the service, and in what role")
    notifiers: Notifiers = Field(
        default=(), description="where to tell people about finished intakes and panics: slack, webhook, email"
    )
    serve: ServeSettings = Field(default=ServeSettings(), description="the HTTP service")
    scan: ScanSettings = Field(default=ScanSettings(), description="limits for reading artifacts")
    ledger: LedgerSettings = Field(default=LedgerSettings(), description="the system of record and work queue")
    engine: EngineSettings = Field(default=EngineSettings(), description="the execution engine (workers)")

    @field_validator("providers", "sources", "api_keys")
    @classmethod
    def _unique_names(cls, tables: tuple[Any, ...]) -> tuple[Any, ...]:
        names = [t.name for t in tables]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"names must be unique; repeated: {', '.join(duplicates)}")
        return tables

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = init_settings.init_kwargs.pop("_toml_file", None)  # type: ignore[attr-defined]
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def load_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """Load and validate settings; every problem becomes one ConfigError naming the key and the fix."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}")
    # RESPONDER_LEDGER_URL is the documented short form of RESPONDER_LEDGER__URL.
    if (url := os.environ.get("RESPONDER_LEDGER_URL")) and "RESPONDER_LEDGER__URL" not in os.environ:
        overrides.setdefault("ledger", {})["url"] = url
    try:
        return Settings(_toml_file=config_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration{f' in {config_file}' if config_file else ''}:\n{problems}") from None
    except (OSError, ValueError) as exc:  # unreadable file, TOML syntax error
        raise ConfigError(f"cannot read configuration {config_file}: {exc}") from None
