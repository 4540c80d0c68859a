"""Shared fixtures. Peers that are missing make a test skip on a laptop and fail in CI (CI=true)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from responder.plugins import load_readers
from responder.scan import Scanner, ScanReport
from responder.secret import Fingerprinter
from responder.settings import ProviderConfig, ScanSettings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "public-har"
EXAMPLES = ROOT / "examples"
TEST_KEY = b"responder-tests-fingerprint-key!"


def require_peer(available: bool, reason: str) -> None:
    """Skip on a developer machine; in CI a missing peer is a failure, not a pass."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"required test peer missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus() -> Path:
    require_peer(CORPUS.is_dir(), f"public HAR corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def registry():  # type: ignore[no-untyped-def]
    return load_readers()


@pytest.fixture(scope="session")
def fingerprint() -> Fingerprinter:
    return Fingerprinter(TEST_KEY)


@pytest.fixture
def make_scanner(registry, fingerprint) -> Callable[..., Scanner]:  # type: ignore[no-untyped-def]
    def build(providers: tuple[ProviderConfig, ...] = (), **limits: int) -> Scanner:
        return Scanner(registry, fingerprint, ScanSettings(**limits), providers)

    return build


@pytest.fixture
def scan(make_scanner) -> Callable[[Path], ScanReport]:  # type: ignore[no-untyped-def]
    scanner = make_scanner()
    return scanner.scan  # type: ignore[no-any-return]


# PostgreSQL: a fresh database per test, dropped afterwards.
# Tests connect to this database (created on first use if the server lets us) and create one more per test.
PG_ADMIN_URL = os.environ.get("RESPONDER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/responder_test")


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            return False
    try:
        with psycopg.connect(_pg_database("postgres"), autocommit=True, connect_timeout=3) as maintenance:
            maintenance.execute(f'CREATE DATABASE "{PG_ADMIN_URL.rsplit("/", 1)[1]}"')
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
