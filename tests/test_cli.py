"""The command line as a user runs it: real processes, exit codes, formats, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import harbuild
from tests.conftest import EXAMPLES, ROOT
from tests.readers.test_readers import TOKEN


def run(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
    environment.update({"RESPONDER_DATA_DIR": str(data_dir), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "responder", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    return harbuild.write(
        tmp_path / "capture.har", harbuild.har(harbuild.entry(request_headers=[("Authorization", f"Bearer {TOKEN}")]))
    )


def test_help_explains_every_command(data_dir: Path) -> None:
    top = run("--help", data_dir=data_dir)
    assert top.returncode == 0
    assert "scan" in top.stdout
    sub = run("scan", "--help", data_dir=data_dir)
    assert sub.returncode == 0
    for words in ("--format", "--out-dir", "--config", "Exit status", "sarif"):
        assert words in sub.stdout


def test_exit_codes(tmp_path: Path, capture: Path, data_dir: Path) -> None:
    clean = harbuild.write(tmp_path / "clean.har", harbuild.har(harbuild.entry()))
    assert run("scan", str(clean), data_dir=data_dir).returncode == 0
    assert run("scan", str(capture), data_dir=data_dir).returncode == 1
    assert run("scan", "--format", "xml", str(capture), data_dir=data_dir).returncode == 2
    empty = tmp_path / "empty.har"
    empty.write_bytes(b"")
    assert run("scan", str(empty), data_dir=data_dir).returncode == 3


def test_json_output_follows_the_documented_schema(capture: Path, data_dir: Path) -> None:
    result = run("scan", "--format", "json", str(capture), data_dir=data_dir)
    document = json.loads(result.stdout)
    assert document["schema"] == "responder.scan/1"
    [artifact] = document["artifacts"]
    assert set(artifact) == {
        "path",
        "sha256",
        "size",
        "reader",
        "error",
        "incomplete",
        "warnings",
        "sanitized_path",
        "findings",
    }
    [finding] = artifact["findings"]
    assert set(finding) == {
        "fingerprint",
        "kind",
        "revocable",
        "detector",
        "label",
        "provider",
        "claims",
        "expires_at",
        "locations",
    }
    assert finding["kind"] == "access_token"
    assert len(finding["fingerprint"]) == 64
    assert finding["locations"][0] == {
        "entry": 0,
        "side": "request",
        "field": "header",
        "name": "Authorization",
        "host": "app.example.com",
        "line": None,
        "member": None,
    }
    assert document["summary"] == {"artifacts": 1, "unreadable": 0, "incomplete": 0, "findings": 1, "revocable": 0}


def test_sarif_output(capture: Path, data_dir: Path) -> None:
    document = json.loads(run("scan", "--format", "sarif", str(capture), data_dir=data_dir).stdout)
    assert document["version"] == "2.1.0"
    [sarif_run] = document["runs"]
    assert {rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]} >= {"access_token", "session_cookie"}
    [result] = sarif_run["results"]
    assert result["ruleId"] == "access_token"
    assert result["level"] == "warning"
    assert len(result["partialFingerprints"]["responderFingerprint/v1"]) == 64
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("capture.har")


def test_fingerprint_key_from_environment_and_data_dir(capture: Path, data_dir: Path) -> None:
    first = json.loads(run("scan", "-f", "json", str(capture), data_dir=data_dir).stdout)
    key_file = data_dir / "fingerprint.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = json.loads(run("scan", "-f", "json", str(capture), data_dir=data_dir).stdout)
    keyed = json.loads(
        run("scan", "-f", "json", str(capture), data_dir=data_dir, env={"RESPONDER_FINGERPRINT_KEY": "k" * 32}).stdout
    )
    fp = [d["artifacts"][0]["findings"][0]["fingerprint"] for d in (first, again, keyed)]
    assert fp[0] == fp[1] != fp[2]


def test_out_dir_writes_the_sanitized_copy(tmp_path: Path, capture: Path, data_dir: Path) -> None:
    out = tmp_path / "clean"
    result = run("scan", "--out-dir", str(out), str(capture), data_dir=data_dir)
    assert result.returncode == 1
    assert "sanitized copy" in result.stdout
    assert TOKEN not in (out / "capture.har").read_text()
    assert run("scan", str(out / "capture.har"), data_dir=data_dir).returncode == 0


def test_config_attributes_findings_to_an_instance(tmp_path: Path, data_dir: Path) -> None:
    config = tmp_path / "r.toml"
    config.write_text('[[providers]]\nname = "corp"\nplugin = "oidc"\nissuer = "https://app.example.com"\n')
    capture = harbuild.write(
        tmp_path / "c.har", harbuild.har(harbuild.entry(request_headers=[("Authorization", f"Bearer {TOKEN}")]))
    )
    document = json.loads(run("scan", "-f", "json", "-c", str(config), str(capture), data_dir=data_dir).stdout)
    finding = document["artifacts"][0]["findings"][0]
    assert finding["provider"] == {"family": "oidc", "instance": "corp"}
    assert finding["revocable"] is True


def _deep_json(depth: int) -> bytes:
    return b'{"log": {"entries": [' + b"[" * depth + b"]" * depth + b"]}}"


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.har", b"\0" * (64 << 20))


BAD_INPUT = {
    "empty file": (lambda p: p.write_bytes(b""), "empty file"),
    "binary junk": (lambda p: p.write_bytes(bytes(range(256)) * 64), "binary data"),
    "deep nesting": (lambda p: p.write_bytes(_deep_json(100_000)), None),
    "zip bomb": (_zip_bomb, "decompression bomb"),
    "corrupt gzip": (lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 10), "corrupt"),
    "not a HAR": (lambda p: p.write_text('{"hello": "world"}'), None),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_gets_a_clear_message_never_a_traceback(case: str, tmp_path: Path, data_dir: Path) -> None:
    make, message = BAD_INPUT[case]
    path = tmp_path / "input.har"
    make(path)
    result = run("scan", str(path), data_dir=data_dir)
    assert "Traceback" not in result.stdout + result.stderr
    if message is not None:
        assert result.returncode == 3, result.stdout + result.stderr
        assert message in result.stdout
    else:
        assert result.returncode in (0, 3)


def test_missing_file_and_directory_are_usage_errors(tmp_path: Path, data_dir: Path) -> None:
    missing = run("scan", str(tmp_path / "nope.har"), data_dir=data_dir)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    directory = run("scan", str(tmp_path), data_dir=data_dir)
    assert directory.returncode == 2
    assert "directory" in directory.stderr


def test_bad_config_names_the_key(tmp_path: Path, capture: Path, data_dir: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[scan]\nmax_ratio = 'lots'\n")
    result = run("scan", "-c", str(config), str(capture), data_dir=data_dir)
    assert result.returncode == 2
    assert "scan.max_ratio" in result.stderr
    assert "Traceback" not in result.stderr


def test_gzip_capture_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "c.har.gz"
    path.write_bytes(
        gzip.compress(json.dumps(harbuild.har(harbuild.entry(request_cookies=[("PHPSESSID", TOKEN)]))).encode())
    )
    out = tmp_path / "clean"
    assert run("scan", "-o", str(out), str(path), data_dir=data_dir).returncode == 1
    assert TOKEN not in gzip.decompress((out / "c.har.gz").read_bytes()).decode()


def test_make_run_example_is_attributed_to_the_demo_instance(data_dir: Path) -> None:
    config = ROOT / "config" / "responder.example.toml"
    result = run("scan", "-f", "json", "-c", str(config), str(EXAMPLES / "oidc-login.har"), data_dir=data_dir)
    assert result.returncode == 1
    findings = json.loads(result.stdout)["artifacts"][0]["findings"]
    kinds = {f["kind"] for f in findings}
    assert {"session_cookie", "access_token", "refresh_token", "id_token", "authorization_code", "password"} <= kinds
    for finding in findings:
        if finding["kind"] in ("session_cookie", "access_token", "refresh_token", "id_token"):
            assert finding["provider"] == {"family": "oidc", "instance": "demo"}, finding
            assert finding["revocable"]
