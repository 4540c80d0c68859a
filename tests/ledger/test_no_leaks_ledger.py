"""Canary credentials go through `responder respond` (revoked, refused, rescheduled with the value still
sealed) and must appear nowhere: the database files or dump, every ledger command's output, the logs."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from responder.testing import FakeIdP
from tests import harbuild
from tests.ledger import flows
from tests.test_cli import run


def _canary(label: str) -> str:
    return f"Cn{label}{secrets.token_hex(14)}Zq9"


def _encodings(value: str) -> list[bytes]:
    raw = value.encode()
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode(), hashlib.sha256(raw).hexdigest().encode()]
    for shift in range(3):  # base64 of the value at every alignment inside a longer blob
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw)
            forms.append(encoded[(shift * 4 + 2) // 3 + 1 : -4])
    return forms


def _leaks(blob: bytes, canaries: dict[str, str]) -> list[str]:
    return [name for name, value in canaries.items() if any(form in blob for form in _encodings(value))]


@pytest.fixture
def idp() -> FakeIdP:
    with FakeIdP() as running:
        yield running  # type: ignore[misc]


def test_no_canary_reaches_the_ledger_or_any_ledger_output(ledger_url: str, tmp_path: Path, idp: FakeIdP) -> None:
    canaries = {name: _canary(name) for name in ("revoked", "refused", "pending", "unknown", "cookie")}
    for name in ("revoked", "pending", "cookie"):
        idp.issue(canaries[name], subject=f"user-{name}")
    entries = [
        harbuild.entry(
            f"https://{flows.HOST}/v1/{name}", request_headers=[("Authorization", f"Bearer {canaries[name]}")]
        )
        for name in ("refused", "revoked", "unknown")
    ]
    entries.append(harbuild.entry(f"https://{flows.HOST}/app", request_cookies=[("session", canaries["cookie"])]))
    entries.append(
        harbuild.entry(
            f"https://{flows.HOST}/v1/p", request_headers=[("Authorization", f"Bearer {canaries['pending']}")]
        )
    )
    capture = harbuild.write(tmp_path / "capture.har", harbuild.har(*entries))
    config = tmp_path / "responder.toml"
    config.write_text(
        f"""log_level = "debug"
[ledger]
url = "{ledger_url}"
[engine]
threads = 1
retry_wait_max_seconds = 1
[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp.url}"
hosts = ["{flows.HOST}"]
"""
    )
    data_dir = tmp_path / "data"
    # "refused" is refused for good; "pending" keeps failing, so it is rescheduled and stays sealed.
    original = idp._respond

    def respond(method: str, path: str, form: dict[str, str], query: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        if form.get("token") == canaries["refused"]:
            return 403, {}, {"error": "forbidden"}
        if form.get("token") == canaries["pending"] and path == "/revoke":
            return 503, {}, {"error": "unavailable"}
        return original(method, path, form, query)

    idp._respond = respond  # type: ignore[method-assign]

    outputs = [run("respond", str(capture), "--config", str(config), data_dir=data_dir)]
    assert outputs[0].returncode == 4, outputs[0].stderr  # a refusal and a pending retry need attention
    assert idp.state(canaries["revoked"]).revocations == 1
    outputs.append(run("respond", str(capture), "--config", str(config), "--format", "json", data_dir=data_dir))
    for args in (
        ("ledger", "list", "--format", "json"),
        ("ledger", "list", "--format", "csv"),
        ("ledger", "list"),
        ("ledger", "report", "--format", "json"),
        ("ledger", "report"),
        ("ledger", "export"),
        ("ledger", "export", "--format", "csv"),
        ("ledger", "verify"),
    ):
        outputs.append(run(*args, "--config", str(config), data_dir=data_dir))
        assert outputs[-1].returncode == 0, (args, outputs[-1].stderr)
    listed = json.loads(outputs[2].stdout)
    assert {row["outcome"] for row in listed} >= {"revoked", "failed_permanent", None}
    for row in listed:
        shown = run("ledger", "show", row["action_id"], "--format", "json", "--config", str(config), data_dir=data_dir)
        assert shown.returncode == 0
        outputs.append(shown)

    for output in outputs:
        assert _leaks((output.stdout + output.stderr).encode(), canaries) == [], output.args
    stored = b""
    if ledger_url.startswith("sqlite"):
        database = Path(ledger_url.removeprefix("sqlite:///"))
        for part in database.parent.glob(database.name + "*"):  # the main file, -wal and -shm
            stored += part.read_bytes()
    else:
        pg_dump = shutil.which("pg_dump")
        assert pg_dump, "pg_dump is part of the PostgreSQL client this suite runs against"
        stored = subprocess.run([pg_dump, "--data-only", ledger_url], capture_output=True, check=True).stdout
        assert b"COPY public.actions" in stored
    assert len(stored) > 1000
    for key_file in data_dir.glob("*"):
        stored += key_file.read_bytes()
    assert _leaks(stored, canaries) == []
