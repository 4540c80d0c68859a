"""A ticketing-source plugin for the config tests, registered through a real entry point (a dist-info directory
put on sys.path by the `source_plugin` fixture). It checks its credential against a FakeIdP's /whoami."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from responder.errors import ConfigError
from responder.interfaces import CheckResult
from responder.secret import Secret, read_secret


class TicketSettings(BaseModel):
    """Settings of the test ticketing system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the source's name")
    base_url: str = Field(description="where the ticketing system answers")
    token: SecretStr | None = Field(default=None, description="responder's API token there")
    token_file: Path | None = Field(default=None, description="file holding the token")
    token_env: str | None = Field(default=None, description="environment variable holding the token")


class TicketSource:
    plugin: ClassVar[str] = "tickets"
    settings_model: ClassVar[type[BaseModel]] = TicketSettings

    def __init__(self, name: str, token: Secret, client: httpx.Client) -> None:
        self.name = name
        self._token = token
        self._client = client

    @classmethod
    def from_config(
        cls, name: str, table: Mapping[str, Any], client: httpx.Client, webhook_secret: Secret | None
    ) -> TicketSource:
        settings = TicketSettings.model_validate(dict(table))
        token = read_secret(f"sources.{name}.token", settings.token, settings.token_file, settings.token_env)
        if token is None:
            raise ConfigError(f"sources.{name}.token: set token_file or token_env")
        return cls(name, token, client)

    def check(self) -> CheckResult:
        try:
            response = self._client.get("/whoami", headers={"Authorization": f"Bearer {self._token.reveal()}"})
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {self._client.base_url}: {type(exc).__name__}")
        if response.status_code != 200:
            return CheckResult(False, f"GET /whoami answered HTTP {response.status_code}: token refused?")
        return CheckResult(True, "token accepted")

    def close(self) -> None:
        self._client.close()


class CarelessSource(TicketSource):
    """A badly written plugin that quotes its own credential in a check's detail: config check must hide it."""

    plugin: ClassVar[str] = "careless"

    def check(self) -> CheckResult:
        return CheckResult(False, f"the token {self._token.reveal()} was refused")
