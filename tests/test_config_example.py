"""The example configuration documents every key the settings models accept, and loads as it stands."""

from __future__ import annotations

import re

from pydantic import BaseModel

from responder.settings import (
    ApiKeyConfig,
    EngineSettings,
    LedgerSettings,
    ProviderConfig,
    ScanSettings,
    ServeSettings,
    Settings,
    SourceConfig,
    load_settings,
)
from tests.conftest import ROOT

EXAMPLE = ROOT / "config" / "responder.example.toml"


def _documented(model: type[BaseModel]) -> set[str]:
    text = EXAMPLE.read_text()
    return {name for name in model.model_fields if re.search(rf"^#?\s*{name}\s*=", text, re.MULTILINE)}


def test_every_key_is_in_the_example() -> None:
    models = (
        Settings,
        ScanSettings,
        LedgerSettings,
        EngineSettings,
        ServeSettings,
        ProviderConfig,
        SourceConfig,
        ApiKeyConfig,
    )
    for model in models:
        nested = (
            {"scan", "ledger", "engine", "serve", "providers", "sources", "api_keys"} if model is Settings else set()
        )
        missing = set(model.model_fields) - nested - _documented(model)
        assert not missing, f"{model.__name__} keys missing from {EXAMPLE.name}: {sorted(missing)}"


def test_the_example_loads() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.engine.threads == 4
    assert [p.name for p in settings.providers] == ["demo"]
