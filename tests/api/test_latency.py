"""Upload → first revocation request: the time from sending an upload to the IdP receiving the revoke, with the
service's engine running against the FakeIdP. Printed (run with -s to see it); the bound is generous on
purpose (a loaded 2-core CI machine must not flake): the figures are measured by bench/upload.py."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from responder.testing import FakeIdP, token_key
from tests.api.conftest import bearer
from tests.ledger.conftest import random_token
from tests.ledger.flows import capture

UPLOADS = 5
BOUND_SECONDS = 5.0


class TimedIdP(FakeIdP):
    """A FakeIdP that notes when each token's first revoke request arrives (by digest, like its state)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_revoke: dict[str, float] = {}
        self.arrived = threading.Condition()

    def _respond(
        self, method: str, path: str, form: dict[str, str], query: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if method == "POST" and path == "/revoke":
            with self.arrived:
                self.first_revoke.setdefault(token_key(form.get("token", "")), time.perf_counter())
                self.arrived.notify_all()
        return super()._respond(method, path, form, query)

    def wait_for(self, token: str, timeout: float) -> float | None:
        with self.arrived:
            self.arrived.wait_for(lambda: token_key(token) in self.first_revoke, timeout)
            return self.first_revoke.get(token_key(token))


@pytest.fixture
def idp() -> Iterator[TimedIdP]:  # replaces the conftest's: the service's provider points at this one
    running = TimedIdP()
    with running:
        yield running


def test_upload_to_first_revocation_request(client: TestClient, idp: TimedIdP, tmp_path: Path) -> None:
    answered, revoked = [], []
    for n in range(UPLOADS):
        token = random_token()
        idp.issue(token, subject=f"user-{n}")
        body = capture(tmp_path / f"t{n}.har", [token]).read_bytes()
        started = time.perf_counter()
        answer = client.post("/v1/artifacts", content=body, headers=bearer("uploader"))
        answered.append(time.perf_counter() - started)
        assert answer.status_code == 202
        arrived = idp.wait_for(token, timeout=30)
        assert arrived is not None, "the revoke never reached the IdP"
        revoked.append(arrived - started)
    print(
        f"\nupload → first revoke request over {UPLOADS} uploads: median {statistics.median(revoked) * 1000:.1f} ms, "
        f"max {max(revoked) * 1000:.1f} ms (202 answered after a median {statistics.median(answered) * 1000:.1f} ms)"
    )
    assert max(revoked) < BOUND_SECONDS
