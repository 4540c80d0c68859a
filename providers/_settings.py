"""What every plugin's settings model shares: the stable `[[providers]]` keys, and turning validation errors
into one ConfigError that names each key."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from responder.errors import ConfigError

SettingsT = TypeVar("SettingsT", bound="PluginSettings")


class PluginSettings(BaseModel):
    """Base of each plugin's own model. Unknown keys are errors, so a typo never silently disables a feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="instance name, recorded with every finding and action; letters, digits, _ . -")
    plugin: str = Field(description="the identity-provider plugin that handles this instance")
    hosts: tuple[str, ...] = Field(
        default=(),
        description="hosts whose cookies and tokens belong to this instance; default: the host of base_url / issuer",
    )
    base_url: str | None = Field(default=None, description="root URL of the IdP's API: every call goes there")
    issuer: str | None = Field(
        default=None, description="JWT issuer that attributes tokens to this instance (compared, never called)"
    )
    requests_per_second: float | None = Field(
        default=None, gt=0, description="ceiling for calls to this instance, shared by all worker threads"
    )


def service_url(value: str, problem: str, *, schemes: tuple[str, ...] = ("http", "https")) -> SplitResult:
    """A configured service URL, split: one of `schemes`, a host, no query or fragment. Otherwise ValueError
    with `problem` (the plugin's own words: what the URL should be, with an example)."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(problem)
    return parts


def validate_settings(model: type[SettingsT], table: dict[str, Any]) -> SettingsT:
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        name = table.get("name", "?")
        problems = "; ".join(
            f"providers.{name}.{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(problems) from None
