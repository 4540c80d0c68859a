"""What every plugin's settings model shares: the stable `[[providers]]` keys, and turning validation errors
into one ConfigError that names each key."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from responder.errors import ConfigError

SettingsT = TypeVar("SettingsT", bound="PluginSettings")


class PluginSettings(BaseModel):
    """Base of each plugin's own model. Unknown keys are errors, so a typo never silently disables a feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    plugin: str
    hosts: tuple[str, ...] = ()
    base_url: str | None = None
    issuer: str | None = None
    requests_per_second: float | None = Field(default=None, gt=0)


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
