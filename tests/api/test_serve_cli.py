"""`responder serve` as an operator starts it: a run-only key on loopback, refusal elsewhere without keys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import wait_until_serving
from tests.integration.oidc_peer import free_port
from tests.test_cli import run


def test_serving_beyond_loopback_without_api_keys_is_refused(tmp_path: Path) -> None:
    refused = run("serve", "--host", "0.0.0.0", data_dir=tmp_path / "data")  # noqa: S104 - the refused case
    assert refused.returncode == 2
    assert "[[api_keys]]" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_on_loopback_a_run_only_key_is_printed_once_and_works(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
    environment["RESPONDER_DATA_DIR"] = str(tmp_path / "data")
    server = subprocess.Popen(
        [sys.executable, "-m", "responder", "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert server.stderr is not None
        lines = []
        while not any("Bearer" in line for line in lines):
            line = server.stderr.readline()
            assert line, "serve exited: " + "".join(lines)
            lines.append(line)
        key = next(line for line in lines if "Authorization: Bearer" in line).split("Bearer ", 1)[1].strip()
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        assert httpx.get(f"{base}/v1/ledger").status_code == 401
        listed = httpx.get(f"{base}/v1/ledger", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200
        assert listed.json()["returned"] == 0
        printed = "".join(lines)  # where the upload endpoint, the panic page and the API docs are, and they answer
        for where in (f"POST {base}/v1/artifacts", f"{base}/panic ", f"{base}/docs"):
            assert where in printed, where
        assert "Log in" in httpx.get(f"{base}/panic", follow_redirects=True).text
        assert httpx.get(f"{base}/docs").status_code == 200
        with socket.create_connection(("127.0.0.1", port)) as cut_off:  # an upload that stops half-way
            cut_off.sendall(
                b"POST /v1/artifacts?filename=a.har HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                + f"Authorization: Bearer {key}\r\n\r\n".encode()
                + b'{"log": {"entries": ['
            )
        spools = tmp_path / "data" / "spool" / "uploads"
        deadline = time.monotonic() + 30
        while any(p.is_file() for p in spools.rglob("*")):
            assert time.monotonic() < deadline, "the cut-off upload's spool file stayed"
            time.sleep(0.1)
    finally:
        server.terminate()
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: the status is -15 (or 0 on older ones)
        assert server.wait(timeout=60) in (0, -15)
        assert server.stderr is not None
        assert "Traceback" not in server.stderr.read()
