"""Running `responder config check` in-process, with a clean environment and a private data directory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from responder.cli import app


@dataclass(frozen=True)
class Checked:
    code: int
    output: str  # stdout and stderr together: everything an operator would see
    stdout: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)  # type: ignore[no-any-return]

    def results(self, key: str, status: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.json()["results"] if r["key"] == key and status in (None, r["status"])]

    def result(self, key: str, status: str | None = None) -> dict[str, Any]:
        """The last result for `key` (with `status`): for a provider, its live check comes after its validation."""
        matches = self.results(key, status)
        assert matches, f"no {status or ''} result for {key}:\n{self.output}"
        return matches[-1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RESPONDER_* from the developer's shell; a data directory of the test's own."""
    for name in list(os.environ):
        if name.startswith("RESPONDER_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("RESPONDER_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture
def check(tmp_path: Path) -> Callable[..., Checked]:
    def run(config: str | None, *args: str) -> Checked:
        argv = ["config", "check", *args]
        if config is not None:
            path = tmp_path / "responder.toml"
            path.write_text(config)
            argv += ["--config", str(path)]
        result = CliRunner().invoke(app, argv)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Checked(result.exit_code, result.output, result.stdout)

    return run


@pytest.fixture
def source_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install tests/config/fake_source.py as the `tickets` source plugin, through a real entry point."""
    site = tmp_path / "site"
    dist = site / "responder_test_tickets-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: responder-test-tickets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[responder.sources]\n"
        "tickets = tests.config.fake_source:TicketSource\n"
        "careless = tests.config.fake_source:CarelessSource\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return "tickets"
