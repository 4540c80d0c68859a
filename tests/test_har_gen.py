"""Tests for bench/har_gen.py, the synthetic HAR generator used by the scan benchmark."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TARGET = 1_000_000
PLANT_EVERY = 4
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def _load_har_gen() -> ModuleType:
    # bench/ is a script directory, not a package.
    path = Path(__file__).resolve().parents[1] / "bench" / "har_gen.py"
    spec = importlib.util.spec_from_file_location("har_gen", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["har_gen"] = module  # dataclasses resolve annotations via sys.modules
    spec.loader.exec_module(module)
    return module


har_gen = _load_har_gen()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("har") / "small.har"
    return har_gen.write_har(path, TARGET, seed=7, plant_every=PLANT_EVERY)


@pytest.fixture(scope="module")
def doc(generated: Any) -> dict[str, Any]:
    with generated.path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _values(pairs: list[dict[str, Any]], name: str) -> list[str]:
    return [p["value"] for p in pairs if p["name"] == name]


def _jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _assert_at_location(entry: dict[str, Any], secret: Any) -> None:
    req, resp = entry["request"], entry["response"]
    name, value = secret.name, secret.value
    match secret.location:
        case "request.cookie":
            assert value in _values(req["cookies"], name)
            assert f"{name}={value}" in _values(req["headers"], "cookie")[0]
        case "request.header":
            assert any(value in v for v in _values(req["headers"], name))
        case "request.query":
            assert value in _values(req["queryString"], name)
            assert f"{name}={value}" in req["url"]
        case "request.form":
            assert value in _values(req["postData"]["params"], name)
            assert f"{name}={value}" in req["postData"]["text"]
        case "response.set_cookie":
            assert value in _values(resp["cookies"], name)
            assert f"{name}={value};" in _values(resp["headers"], "set-cookie")[0]
        case "response.json_body":
            assert json.loads(resp["content"]["text"])[name] == value
        case "response.base64_body":
            assert resp["content"]["encoding"] == "base64"
            assert json.loads(base64.b64decode(resp["content"]["text"]))[name] == value
        case other:
            pytest.fail(f"unknown location {other}")


def test_output_is_valid_har_of_requested_size(generated: Any, doc: dict[str, Any]) -> None:
    log = doc["log"]
    assert log["version"] == "1.2"
    assert log["creator"]["name"] == "WebInspector"
    assert log["pages"]
    assert generated.bytes_written == generated.path.stat().st_size
    assert abs(generated.bytes_written - TARGET) <= TARGET * 0.10
    assert len(log["entries"]) == generated.entries > 20


def test_entries_look_like_chrome_exports(doc: dict[str, Any]) -> None:
    entries = doc["log"]["entries"]
    for entry in entries:
        assert {"_initiator", "_priority", "_resourceType", "timings", "startedDateTime"} <= entry.keys()
        assert 10 <= len(entry["request"]["headers"]) <= 25
        assert "mimeType" in entry["response"]["content"]
    mimes = {e["response"]["content"]["mimeType"] for e in entries}
    assert {"application/json", "image/png"} & mimes
    assert any(e["response"]["content"].get("encoding") == "base64" for e in entries)
    assert any(_values(e["request"]["cookies"], "_ga") for e in entries)


def test_plants_every_nth_entry_covering_all_kinds(generated: Any) -> None:
    planted_entries = {p.entry_index for p in generated.planted}
    expected = set(range(PLANT_EVERY - 1, generated.entries, PLANT_EVERY))
    assert planted_entries == expected
    assert {p.kind for p in generated.planted} == set(har_gen.KINDS)
    values = [p.value for p in generated.planted]
    assert len(values) == len(set(values))


def test_every_planted_value_is_at_its_declared_location(generated: Any, doc: dict[str, Any]) -> None:
    raw = generated.path.read_text(encoding="ascii")
    for secret in generated.planted:
        _assert_at_location(doc["log"]["entries"][secret.entry_index], secret)
        if secret.location != "response.base64_body":
            assert secret.value in raw


def test_jwts_carry_realistic_claims(generated: Any) -> None:
    by_name = {p.name: p.value for p in generated.planted}
    authentik = _jwt_claims(by_name["authentik_session"])
    assert authentik["iss"] == "authentik"
    assert authentik["authenticated"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", authentik["sub"])
    assert len(authentik["sid"]) == 32
    access = _jwt_claims(by_name["authorization"])
    assert access["iss"] == "https://idp.example.com/application/o/app/"
    assert {"sub", "sid", "exp", "aud", "azp"} <= access.keys()
    assert _jwt_claims(by_name["KEYCLOAK_IDENTITY"])["typ"] == "Serialized-ID"
    assert re.fullmatch(r"[A-Za-z0-9]{128}", by_name["refresh_token"])


def test_unplanted_entries_carry_no_credentials(generated: Any, doc: dict[str, Any]) -> None:
    planted_entries = {p.entry_index for p in generated.planted}
    for index, entry in enumerate(doc["log"]["entries"]):
        if index in planted_entries:
            continue
        headers = {h["name"].lower() for h in entry["request"]["headers"]}
        assert not headers & {"authorization", "x-api-key"}
        assert not JWT.search(json.dumps(entry))
        assert "password" not in entry["request"].get("postData", {}).get("text", "")


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, generated: Any) -> None:
    again = har_gen.write_har(tmp_path / "again.har", TARGET, seed=7, plant_every=PLANT_EVERY)
    other = har_gen.write_har(tmp_path / "other.har", TARGET, seed=8, plant_every=PLANT_EVERY)
    digest = hashlib.sha256(generated.path.read_bytes()).hexdigest()
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == digest
    assert again.planted == generated.planted
    assert hashlib.sha256(other.path.read_bytes()).hexdigest() != digest


def test_indented_output_is_valid_and_keeps_plants(tmp_path: Path) -> None:
    har = har_gen.write_har(tmp_path / "pretty.har", 300_000, seed=1, plant_every=3, indent=2)
    entries = json.loads(har.path.read_text(encoding="ascii"))["log"]["entries"]
    assert len(entries) == har.entries
    for secret in har.planted:
        _assert_at_location(entries[secret.entry_index], secret)


def test_cli_prints_one_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, manifest = tmp_path / "cli.har", tmp_path / "planted.json"
    assert har_gen.main([str(out), "--size", "200KB", "--seed", "3", "--manifest", str(manifest)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["bytes_written"] == out.stat().st_size
    assert summary["planted"] == len(json.loads(manifest.read_text()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100MB", 100_000_000), ("1GB", 10**9), ("512KiB", 524_288), ("1.5mb", 1_500_000), ("42", 42)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert har_gen.parse_size(text) == expected
