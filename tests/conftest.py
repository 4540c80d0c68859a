"""Shared fixtures. Peers that are missing make a test skip on a laptop and fail in CI (CI=true)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

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
