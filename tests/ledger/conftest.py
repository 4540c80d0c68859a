"""Ledger fixtures: every test here runs on SQLite and on PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import os
import secrets
import string
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from responder.ledger import Ledger, open_ledger
from responder.settings import Settings, load_settings
from tests.conftest import require_peer

PG_ADMIN_URL = os.environ.get("RESPONDER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_ALPHABET = string.ascii_letters + string.digits


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _pg_database(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    require_peer(pg_available(), f"PostgreSQL not reachable at {PG_ADMIN_URL} (set RESPONDER_TEST_PG_URL)")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue("postgres_admin")
    name = f"responder_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _pg_database(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_settings(ledger_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("ledger", {"url": ledger_url})
        return load_settings(None, **overrides)

    return build


@pytest.fixture
def ledger(make_settings: Callable[..., Settings]) -> Iterator[Ledger]:
    opened = open_ledger(make_settings())
    yield opened
    opened.close()


def random_token(length: int = 40) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
