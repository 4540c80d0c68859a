"""The service under TestClient, with its engine running, a FakeIdP behind the `fake` plugin, and three keys."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from responder.api import create_app
from responder.settings import Settings, load_settings
from responder.testing import FakeIdP
from tests.ledger.flows import lab_provider

KEYS = {"uploader": "key-uploader-0123456789", "responder": "key-responder-0123456789", "auditor": "key-auditor-0123"}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with FakeIdP() as running:
        yield running


@pytest.fixture
def service_settings(tmp_path: Path, idp: FakeIdP) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("providers", [lab_provider(idp.url)])
        overrides.setdefault("engine", {"threads": 2, "poll_seconds": 0.2})
        overrides.setdefault(
            "api_keys",
            [
                {"name": role, "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "roles": [role]}
                for role, key in KEYS.items()
            ],
        )
        return load_settings(None, **overrides)

    return build


@pytest.fixture
def client(service_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(service_settings()), raise_server_exceptions=False) as running:
        yield running


def wait_until_serving(base: str, seconds: float = 60) -> None:
    """Until a `responder serve` started as a process answers at `base`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.2)
