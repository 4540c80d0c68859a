"""SIGTERM to `responder serve` while its engine holds actions at a slow IdP: the calls in flight finish and
are recorded, nothing is left held, and the rest is done by the next process, each credential revoked once."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from responder.ledger import open_ledger
from responder.ledger.schema import actions
from responder.settings import load_settings
from responder.testing import FakeIdP
from tests.api.conftest import wait_until_serving
from tests.integration.oidc_peer import free_port
from tests.ledger import flows
from tests.ledger.conftest import random_token

API_KEY = secrets.token_urlsafe(32)
TOKENS = 24


def states(config: Path) -> dict[str, int]:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.reader() as connection:
        rows = connection.execute(select(actions.c.state)).scalars().all()
    ledger.close()
    return {state: rows.count(state) for state in set(rows)}


def test_sigterm_finishes_the_calls_in_flight_and_leaves_nothing_held(tmp_path: Path) -> None:
    with FakeIdP() as idp:
        idp.latency = 0.4
        tokens = [random_token() for _ in range(TOKENS)]
        for token in tokens:
            idp.issue(token, subject="max")
        config = tmp_path / "responder.toml"
        config.write_text(
            f"""data_dir = "{tmp_path / "data"}"
[engine]
threads = 4
[[api_keys]]
name = "oncall"
key_sha256 = "{hashlib.sha256(API_KEY.encode()).hexdigest()}"
roles = ["uploader"]
[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp.url}"
hosts = ["{flows.HOST}"]
"""
        )
        port = free_port()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "responder", "serve", "--config", str(config), "--port", str(port)],
            stdout=log,
            stderr=log,
            env=environment,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(base)
            har = flows.capture(tmp_path / "leak.har", tokens).read_bytes()
            accepted = httpx.post(
                f"{base}/v1/artifacts", content=har, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
            )
            assert accepted.status_code == 202, accepted.text
            deadline = time.monotonic() + 60
            while sum(idp.state(t).revoke_calls for t in tokens) < 2:  # the engine is busy at the IdP
                assert time.monotonic() < deadline
                time.sleep(0.05)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        finally:
            if server.poll() is None:
                server.kill()
            log.close()
        output = (tmp_path / "serve.log").read_text()
        assert "Traceback" not in output, output

        after_stop = states(config)
        assert set(after_stop) <= {"planned", "done"}, after_stop  # nothing left running or verifying
        called = sum(1 for t in tokens if idp.state(t).revoke_calls)
        assert after_stop.get("done", 0) >= called  # every call that went out has its outcome recorded
        assert after_stop.get("done", 0) < TOKENS, "the stop came too late to leave work for the next process"

        idp.latency = 0.0
        finished = subprocess.run(
            [sys.executable, "-m", "responder", "work", "--until-idle", "--config", str(config)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
        )
        assert finished.returncode == 0, finished.stderr
        assert states(config) == {"done": TOKENS}
        assert [idp.state(t).revocations for t in tokens] == [1] * TOKENS  # every one revoked, none twice
        assert [idp.state(t).revoke_calls for t in tokens] == [1] * TOKENS  # and none called twice
