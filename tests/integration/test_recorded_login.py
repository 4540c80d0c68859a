"""End to end against real peers: Chromium logs in at a real OpenID Provider (npm oidc-provider), the
capture is scanned, every credential of the login is found and attributed, and the sanitized copy is clean.
This is how examples/oidc-login.har was made; here it is recorded afresh each run."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from responder.plugins import load_readers
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner
from responder.secret import Fingerprinter
from responder.settings import ProviderConfig, ScanSettings
from tests.conftest import ROOT, TEST_KEY, require_peer

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "wonderland-test-password"  # the recorder types this into the OP's dev login page


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    require_peer(CHROMIUM.exists(), "Debian chromium is not installed (apt-get install chromium)")
    require_peer(shutil.which("node") is not None and shutil.which("npm") is not None, "node/npm not installed")
    require_peer(importlib.util.find_spec("playwright") is not None, "playwright (pip) is not installed")
    op_port, rp_port = _free_port(), _free_port()
    out = tmp_path_factory.mktemp("recording") / "login.har"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "record_login.py"),
            "--op-port",
            str(op_port),
            "--rp-port",
            str(rp_port),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return out, op_port


def test_a_real_login_capture_is_fully_found_and_attributed(recorded: tuple[Path, int], tmp_path: Path) -> None:
    capture, op_port = recorded
    issuer = f"http://127.0.0.1:{op_port}"
    demo = ProviderConfig(name="demo", plugin="oidc", issuer=issuer, hosts=(f"127.0.0.1:{op_port}",))
    registry = load_readers()
    scanner = Scanner(registry, Fingerprinter(TEST_KEY), ScanSettings(), (demo,))
    report = scanner.scan(capture)
    assert report.reader == "har"
    assert report.error is None

    by_kind: dict[str, list[object]] = {}
    for finding in report.findings:
        by_kind.setdefault(finding.kind.value, []).append(finding)
    # one login: a pre-login and a post-login session, the code, two token responses (refresh rotates)
    assert len(by_kind["session_cookie"]) == 2
    assert len(by_kind["authorization_code"]) == 1
    assert len(by_kind["access_token"]) == 2
    assert len(by_kind["refresh_token"]) == 2
    assert len(by_kind["id_token"]) == 2
    assert [f.value.reveal() for f in by_kind["password"]] == [PASSWORD]  # type: ignore[attr-defined]
    for finding in report.findings:
        if finding.kind.value in ("session_cookie", "access_token", "refresh_token", "id_token"):
            assert finding.provider.instance == "demo", finding
            assert finding.revocable
    jwt_access = [f for f in by_kind["access_token"] if f.claims.get("typ") == "at+jwt"]  # type: ignore[attr-defined]
    assert jwt_access
    assert jwt_access[0].claims["iss"] == issuer

    clean = tmp_path / "login.har"
    Sanitizer(registry, ScanSettings()).write(capture, report.findings, clean)
    text = clean.read_text()
    assert len(json.loads(text)["log"]["entries"]) == len(json.loads(capture.read_text())["log"]["entries"])
    for finding in report.findings:
        assert finding.value.reveal() not in text
    assert scanner.scan(clean).findings == ()
