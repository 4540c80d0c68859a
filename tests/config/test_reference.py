"""docs/configuration.md is the settings models rendered: it must match them byte for byte, say every key's type,
default, environment variable and secret alternatives, and cover every installed plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from responder.cli import app
from responder.config_reference import (
    REGENERATE,
    InstalledPlugin,
    description_of,
    installed_plugins,
    render_reference,
)
from responder.settings import ApiKeyConfig, ProviderConfig, Settings, SourceConfig
from tests.config.fake_source import TicketSettings, TicketSource
from tests.conftest import ROOT

DOC = ROOT / "docs" / "configuration.md"


def test_committed_reference_matches_the_models() -> None:
    committed = DOC.read_text() if DOC.exists() else ""
    assert committed == render_reference(), f"docs/configuration.md is out of date; regenerate it: {REGENERATE}"


def test_the_command_prints_the_reference_exactly() -> None:
    result = CliRunner().invoke(app, ["config", "reference"])
    assert result.exit_code == 0
    assert result.stdout == render_reference()
    assert render_reference() == render_reference()  # deterministic


def _models() -> list[type[BaseModel]]:
    nested = [type(Settings.model_fields[name].default) for name in ("serve", "scan", "ledger", "engine")]
    plugins = [p.settings_model for p in (*installed_plugins("provider"), *installed_plugins("source"))]
    return [Settings, ApiKeyConfig, ProviderConfig, SourceConfig, *nested, *[m for m in plugins if m is not None]]


@pytest.mark.parametrize("model", _models(), ids=lambda model: model.__name__)
def test_every_key_is_described(model: type[BaseModel]) -> None:
    undescribed = [name for name in model.model_fields if not description_of(model, name)]
    assert not undescribed, f"{model.__name__}: add Field(description=...) to {undescribed}"


def test_every_built_in_provider_plugin_has_its_settings_model() -> None:
    plugins = {p.name: p for p in installed_plugins("provider")}
    for name in ("oidc", "authentik", "keycloak", "google", "auth0", "okta", "entra"):
        plugin = plugins[name]
        assert plugin.settings_model is not None, name
        assert plugin.settings_model.model_fields["plugin"].annotation.__args__ == (name,)  # type: ignore[union-attr]
    assert plugins["fake"].settings_model is None


def test_rows_say_type_default_required_env_and_secret_alternatives() -> None:
    text = render_reference()
    assert "| `serve.port` | integer, ≥ 1, ≤ 65535 | `8080` |  | port `responder serve` listens on | " in text
    assert "`RESPONDER_SERVE__PORT`" in text
    assert "`RESPONDER_LEDGER__URL` or `RESPONDER_LEDGER_URL`" in text
    assert "| `scan.max_decompressed_bytes` | integer, > 0 | `4294967296` (4 GiB) |" in text
    assert "**Secret**: prefer `token_file` or `token_env`" in text  # okta, authentik
    assert "| `fingerprint_key` | secret | unset |" in text
    assert "| `realm` | string |  | yes |" in text  # keycloak: required, no default
    assert "| `roles` | list of (one of `uploader`, `responder`, `auditor`), at least 1 long |" in text
    # data_dir's default depends on the machine: never rendered.
    assert "| `data_dir` | path | see description |" in text
    assert str(Path.home()) not in text


def test_plugins_without_a_model_or_that_fail_to_load_are_listed() -> None:
    sources = (
        InstalledPlugin("source", "broken", "nowhere:Missing", load_error="ModuleNotFoundError"),
        InstalledPlugin("source", "bare", "somewhere:Bare", object()),
        InstalledPlugin("source", "tickets", "tests.config.fake_source:TicketSource", TicketSource, TicketSettings),
    )
    text = render_reference(providers=(), sources=sources)
    assert "### `broken`\n\nPlugin `nowhere:Missing`: failed to load (ModuleNotFoundError)." in text
    assert "### `bare`\n\nPlugin `somewhere:Bare`: no settings model" in text
    assert "settings model `TicketSettings`. Settings of the test ticketing system." in text
    assert "| `token` | secret | unset |  | responder's API token there. **Secret**: prefer `token_file` or" in text
    assert "No provider plugin is installed." in text


def test_source_plugins_are_found_through_their_entry_point(source_plugin: str) -> None:
    found = {p.name: p for p in installed_plugins("source")}
    assert found[source_plugin].settings_model is TicketSettings
    assert f"### `{source_plugin}`" in render_reference()
