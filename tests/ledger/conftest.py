"""Ledger fixtures: every test here runs on SQLite and on PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from responder.ledger import Ledger, open_ledger
from responder.settings import Settings, load_settings

_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_settings(ledger_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def build(ledger_extra: dict[str, Any] | None = None, **overrides: Any) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("ledger", {"url": ledger_url, **(ledger_extra or {})})
        return load_settings(None, **overrides)

    return build


@pytest.fixture
def ledger(make_settings: Callable[..., Settings]) -> Iterator[Ledger]:
    opened = open_ledger(make_settings())
    yield opened
    opened.close()


def random_token(length: int = 40) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
